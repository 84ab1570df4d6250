"""« Ne pas mettre dans le dossier » (the candidat's), the annex « ce qui reste à montrer »
(the accompagnateur's) and « Télécharger en PDF », through real launches (issue 16)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from integration.db import transaction
from integration.dossier import pdf
from integration.models import Parcours, Task
from integration.runtime import Runtime
from tests.support.lti import launch_as
from tests.test_dossier import _demo_parcours, _token
from tests.test_dossier_support import docx_text


def _task_id(client: FlaskClient, parcours_id: int) -> int:
    runtime: Runtime = client.application.extensions["reperes"]
    with transaction(runtime.sessions) as session:
        found = session.scalar(select(Task.id).where(Task.parcours_id == parcours_id))
    assert found is not None
    return found


def test_the_candidat_leaves_an_activity_out_of_her_dossier_and_puts_it_back(
    demo_client: FlaskClient,
) -> None:
    parcours_id = _demo_parcours(demo_client)
    task_id = _task_id(demo_client, parcours_id)
    page = demo_client.get(f"/moi/activites/{task_id}")
    assert "Ne pas mettre dans le dossier" in page.get_data(as_text=True)
    out = demo_client.post(f"/dossier/activite/{task_id}",
                           data={"csrf_token": _token(demo_client), "dans_le_dossier": "0"})
    assert out.status_code == 303
    assert "Remettre dans le dossier" in demo_client.get(out.headers["Location"]).get_data(
        as_text=True)
    made = demo_client.post(f"/dossier/{parcours_id}", data={"csrf_token": _token(demo_client)})
    assert "Je trie les dons" not in docx_text(demo_client.get(made.headers["Location"]).data)
    api = demo_client.get(f"/api/v1/tasks/{task_id}").get_json()
    assert api["out_of_dossier"] is True
    back = demo_client.patch(f"/api/v1/tasks/{task_id}", json={"out_of_dossier": False,
                             "version": api["version"]},
                             headers={"X-CSRF-Token": _token(demo_client)})
    assert back.status_code == 200 and back.get_json()["out_of_dossier"] is False


def test_only_the_candidat_switches_her_activity_and_only_with_the_token(
    demo_client: FlaskClient,
) -> None:
    parcours_id = _demo_parcours(demo_client)
    task_id = _task_id(demo_client, parcours_id)
    assert demo_client.post(f"/dossier/activite/{task_id}",
                            data={"dans_le_dossier": "0"}).status_code == 403
    accompagnatrice = demo_client.application.test_client()
    launch_as(accompagnatrice, "accompagnatrice")
    refused = accompagnatrice.post(f"/dossier/activite/{task_id}", data={
        "csrf_token": _token(accompagnatrice), "dans_le_dossier": "0"})
    assert refused.status_code == 403  # she sees the activity, it is not hers to change
    other = demo_client.application.test_client()
    launch_as(other, "candidat2")
    hidden = other.post(f"/dossier/activite/{task_id}",
                        data={"csrf_token": _token(other), "dans_le_dossier": "0"})
    assert hidden.status_code == 404  # never says the activity exists
    runtime: Runtime = demo_client.application.extensions["reperes"]
    with transaction(runtime.sessions) as session:
        assert session.get(Task, task_id).out_of_dossier is False


def test_the_accompagnateur_adds_the_annex_a_candidat_cannot(demo_client: FlaskClient) -> None:
    parcours_id = _demo_parcours(demo_client)
    assert demo_client.post(f"/dossier/{parcours_id}/annexe", data={
        "csrf_token": _token(demo_client), "annexe": "1"}).status_code == 403
    accompagnatrice = demo_client.application.test_client()
    launch_as(accompagnatrice, "accompagnatrice")
    done = accompagnatrice.post(f"/dossier/{parcours_id}/annexe", data={
        "csrf_token": _token(accompagnatrice), "annexe": "1"})
    assert done.status_code == 303
    runtime: Runtime = demo_client.application.extensions["reperes"]
    with transaction(runtime.sessions) as session:
        assert session.get(Parcours, parcours_id).dossier_remaining_annex is True
    made = accompagnatrice.post(f"/dossier/{parcours_id}",
                                data={"csrf_token": _token(accompagnatrice)})
    text = docx_text(accompagnatrice.get(made.headers["Location"]).data)
    assert "Annexe : ce qui reste à montrer" in text


@pytest.mark.libreoffice
def test_the_dossier_downloads_as_pdf_for_those_who_may_read_it(demo_client: FlaskClient) -> None:
    if not pdf.available():
        pytest.skip("LibreOffice absent: the button is not offered")
    parcours_id = _demo_parcours(demo_client)
    demo_client.post(f"/dossier/{parcours_id}", data={"csrf_token": _token(demo_client)})
    got = demo_client.get(f"/dossier/{parcours_id}/pdf")
    assert got.status_code == 200 and got.data.startswith(b"%PDF")
    assert got.headers["Content-Disposition"].endswith(".pdf")
    again = demo_client.get(f"/dossier/{parcours_id}/pdf?version=1")
    assert again.data == got.data  # cached per version
    other = demo_client.application.test_client()
    launch_as(other, "candidat2")
    assert other.get(f"/dossier/{parcours_id}/pdf").status_code == 404
