"""The dossier de preuves: a parcours told through the real services becomes a Word file.

Context (what each field holds), versions and their records, the reduced photos, hostile
content, the structure's own template (checked in a separate process, with a time limit),
the `reperes dossier` command, and the download through real launches.
(LibreOffice opens the result: tests/test_dossier_libreoffice.py.)
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document
from flask import render_template_string
from flask.testing import FlaskClient
from sqlalchemy import select

from docx_templates import DEFAULT_TEMPLATE
from integration import parcours as services
from integration.cli import main
from integration.db import transaction
from integration.dossier.build import context_for, find_dossier, generate_dossier
from integration.dossier.publication import WRITTEN
from integration.dossier.templates import check_template_isolated, set_platform_template
from integration.models import Dossier, DossierTemplate, Evidence, Parcours, PendingWrite, Task
from integration.parcours.catalog import load_catalog
from integration.parcours.files import MEDIUM_SIDE
from integration.runtime import Runtime
from tests.support.lti import launch_as
from tests.test_dossier_support import (  # noqa: F401  (fixtures)
    PHOTO_SIZE,
    Story,
    add_hostile_tasks,
    docx_media,
    docx_text,
    image_size,
    runtime_fixture,
    story_fixture,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# --- the context ----------------------------------------------------------------------------


def test_the_context_holds_the_parcours_in_the_candidats_words(story: Story) -> None:
    ctx = context_for(story.runtime, story.actor("alice"), story.parcours_id)
    t = story.texts
    assert ctx["candidat"] == {"nom": "Martin", "prenom": "Alice", "nom_complet": "Alice Martin",
                               "structure": "Plateforme A"}
    assert ctx["accompagnateurs"] == [{"nom_complet": "Carla Durand", "fonction": ""}]
    assert ctx["referentiels"][0]["id"] == "TP-APH"
    assert ctx["referentiels"][0]["version"] == "2008-08-13"
    assert ctx["referentiels"][0]["statut"] == "historique"
    assert ctx["modalite"]["code"] == "concret"
    assert ctx["projet"] == t["projet"]

    grid = {c["code"]: c for b in ctx["blocs"] for c in b["competences"]}
    assert [b["code"] for b in ctx["blocs"]] == ["CCP1", "CCP2"]
    assert list(grid) == ["C1", "C2", "C3", "C4"]  # only where she positions herself
    c1 = grid["C1"]
    assert c1["nb_taches"] == 1 and c1["nb_preuves"] == 2
    assert c1["taches"][0]["titre"] == t["bureaux"]
    assert c1["taches"][0]["comment"] == t["bureaux_how"]
    assert c1["taches"][0]["source_libelle"] == "Au travail"
    assert c1["taches"][0]["commentaire"] == t["tag_comment"]  # what she says of it for C1
    assert grid["C2"]["taches"][0]["commentaire"] == ""
    assert c1["revue"]["verdict"] == "oui" and c1["revue"]["commentaire"] == t["review_oui"]
    assert c1["revue"]["auteur"] == "Carla Durand"
    assert grid["C2"]["revue"]["verdict_libelle"] == "Partiellement"
    # A synced Moodle module is a module, not a task in her words.
    assert grid["C3"]["taches"] == []
    assert grid["C3"]["modules"] == [{"nom": t["module"], "date": "12 février 2025"}]

    # What remains is not in the candidat's dossier unless the accompagnateur adds the annex.
    assert ctx["reste_a_montrer"] == []
    with transaction(story.runtime.sessions) as session:
        session.get(Parcours, story.parcours_id).dossier_remaining_annex = True
    ctx = context_for(story.runtime, story.actor("alice"), story.parcours_id)
    remaining = {r["code"]: r["note"] for r in ctx["reste_a_montrer"]}
    assert "C1" not in remaining  # a photo and « oui »: shown
    assert "Partiellement" in remaining["C2"] and t["review_partiel"] in remaining["C2"]
    assert remaining["C4"] == ("Pas encore de preuve (photo ou fichier). "
                               "Pas encore vu par l’accompagnateur.")
    assert remaining["C5"] == "Pas encore d’activité."


def test_a_task_under_two_competences_carries_the_comment_of_each_tag(story: Story) -> None:
    alice = story.actor("alice")
    with transaction(story.runtime.sessions) as session:
        bureaux = session.scalars(
            select(Task).where(Task.title == story.texts["bureaux"])
        ).one()
        services.add_tag(session, alice, bureaux.id, referentiel_id="TP-APH",
                         competence_code="C4", comment="Le sol du hall aussi",
                         catalog=load_catalog(session, platform_id=None))

    ctx = context_for(story.runtime, alice, story.parcours_id)

    said = {
        (c["code"], task["titre"]): task["commentaire"]
        for b in ctx["blocs"] for c in b["competences"] for task in c["taches"]
    }
    assert said[("C1", story.texts["bureaux"])] == story.texts["tag_comment"]
    assert said[("C4", story.texts["bureaux"])] == "Le sol du hall aussi"
    assert said[("C4", story.texts["machine"])] == ""


def test_photos_are_the_stored_reduced_copies_never_the_originals(story: Story) -> None:
    ctx = context_for(story.runtime, story.actor("alice"), story.parcours_id)
    photos = ctx["blocs"][0]["competences"][0]["taches"][0]["photos"]
    assert [p["legende"] for p in photos] == ["Le couloir, photo 1", "Le couloir, photo 2"]
    with transaction(story.runtime.sessions) as session:
        rows = session.scalars(select(Evidence).order_by(Evidence.id)).all()
        mediums = [story.runtime.store.get(e.medium_path) for e in rows]
    assert [p["data"] for p in photos] == mediums
    assert max(image_size(photos[0]["data"])) == MEDIUM_SIDE < max(PHOTO_SIZE)


def test_someone_who_cannot_read_the_parcours_cannot_make_its_dossier(story: Story) -> None:
    for intruder in ("bob", "eve", "gina", "dan"):
        with pytest.raises(services.NotFound):
            generate_dossier(story.runtime, story.actor(intruder), story.parcours_id)
    with transaction(story.runtime.sessions) as session:
        assert session.scalars(select(Dossier)).all() == []


# --- generating and recording -----------------------------------------------------------------


def test_each_dossier_is_a_recorded_version_with_template_checksum_and_time(
    story: Story,
) -> None:
    first = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    second = generate_dossier(story.runtime, story.actor("carla"), story.parcours_id,
                              now=datetime(2027, 3, 12, 9, 30, tzinfo=UTC))
    assert (first.version, second.version) == (1, 2)
    assert second.download_name == "Dossier de preuves - Martin Alice.docx"
    with transaction(story.runtime.sessions) as session:
        rows = session.scalars(select(Dossier).order_by(Dossier.version)).all()
        assert [r.state for r in rows] == [WRITTEN, WRITTEN]
        assert rows[1].checksum == hashlib.sha256(second.data).hexdigest()
        assert rows[1].size == len(second.data)
        assert rows[1].template.startswith("modèle Repères : dossier-de-preuves.docx")
        assert rows[1].created_at == datetime(2027, 3, 12, 9, 30, tzinfo=UTC)
        assert rows[1].created_by_id == story.cast.people["carla"].id
        assert rows[1].storage_path == (
            "RAE/Cours X/Martin Alice/Dossier de preuves - Martin Alice.docx"
        )
        assert rows[1].etag
        # The latest stays downloadable from Repères; the older one's bytes are in the store.
        assert rows[1].content == second.data and rows[0].content is None
        assert session.scalars(select(PendingWrite)).all() == []
    text = docx_text(second.data)
    assert "Version 2 du dossier, créée le 12 mars 2027 à 10 h 30." in text  # Paris time
    assert story.runtime.store.get(rows[1].storage_path) == second.data


def test_the_document_holds_the_words_the_reviews_and_the_photos(story: Story) -> None:
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    text = docx_text(made.data)
    for key in ("bureaux", "bureaux_how", "toilettes", "machine", "review_oui",
                "review_partiel", "projet", "module"):
        assert story.texts[key] in text, key
    assert "Alice Martin" in text
    assert f"Ce que j'en dis : {story.texts['tag_comment']}" in text
    media = docx_media(made.data)
    assert len(media) == 2
    assert all(max(image_size(m)) == MEDIUM_SIDE for m in media)


def test_hostile_content_still_gives_a_valid_document(story: Story) -> None:
    add_hostile_tasks(story.runtime, story.actor("alice"), story.parcours_id)
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    document = Document(io.BytesIO(made.data))  # python-docx reads it back
    text = docx_text(made.data)
    assert "[photo illisible]" in text
    assert "مرحبا" in text and "👩‍🌾" in text
    assert 'A & B <x> "guillemets"' in text
    assert "x" * 10_000 in text
    assert "\x0b" not in text and "\x00" not in text
    assert document.paragraphs


def _small_jpeg() -> bytes:
    from tests.support.parcours import jpeg_bytes

    return jpeg_bytes((320, 240))


def test_a_parcours_with_nothing_yet_still_makes_a_dossier(runtime: Runtime, tmp_path: Path,
                                                           story: Story) -> None:
    made = generate_dossier(runtime, story.actor("bob"), story.cast.parcours["bob"].id)
    text = docx_text(made.data)
    assert "Bob" in text
    ctx = context_for(runtime, story.actor("bob"), story.cast.parcours["bob"].id)
    assert ctx["blocs"] == [] and ctx["reste_a_montrer"] == []
    assert ctx["modalite"]["phrase"] == "Pas encore choisie"


def test_a_removed_task_and_a_removed_photo_are_not_in_the_dossier(story: Story) -> None:
    with transaction(story.runtime.sessions) as session:
        task = session.scalars(select(Task).where(Task.title == story.texts["toilettes"])).one()
        services.delete_task(session, story.actor("alice"), task.id)
        services.delete_evidence(session, story.actor("alice"), story.photo_evidence[0])
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    assert story.texts["toilettes"] not in docx_text(made.data)
    assert len(docx_media(made.data)) == 1


# --- the structure's own template -------------------------------------------------------------


def _template_with(*paragraphs: str) -> bytes:
    document = Document(str(DEFAULT_TEMPLATE))
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_template_with_an_unknown_field_or_a_syntax_error_is_refused_at_upload(
    story: Story,
) -> None:
    platform_id = story.cast.platforms["A"].id
    with transaction(story.runtime.sessions) as session:
        unknown = set_platform_template(session, platform_id,
                                        _template_with("{{ candidat.prenon }}"), "fde.docx")
        broken = set_platform_template(session, platform_id,
                                       _template_with("{% if candidat.nom %}sans fin"), "x.docx")
        not_word = set_platform_template(session, platform_id, b"%PDF-1.4 nope", "x.pdf")
    assert len(unknown) == 1 and "prenon" in unknown[0] and "prenom" in unknown[0]
    assert len(broken) == 1 and "n'est pas fermée" in broken[0]
    assert not_word == ["Ce fichier n'est pas un document Word (.docx)."]
    with transaction(story.runtime.sessions) as session:
        assert session.scalars(select(DossierTemplate)).all() == []


def test_a_template_that_loops_without_end_is_stopped_and_refused() -> None:
    looping = _template_with(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}"
        "{{ candidat.nom }}{% endfor %}{% endfor %}{% endfor %}"
    )
    problems = check_template_isolated(looping, timeout=2)
    assert len(problems) == 1 and "plus de 2 secondes" in problems[0]


def test_the_platforms_template_is_used_and_recorded(story: Story) -> None:
    platform_id = story.cast.platforms["A"].id
    own = _template_with("Fait à la Fabrique pour {{ candidat.nom_complet }}.")
    with transaction(story.runtime.sessions) as session:
        assert set_platform_template(session, platform_id, own, "Modèle FDE.docx") == []
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    assert "Fait à la Fabrique pour Alice Martin." in docx_text(made.data)
    assert made.template.startswith("modèle de la structure : Modèle FDE.docx · ")
    # Another platform keeps the default one.
    gina = story.cast.parcours["gina"].id
    other = generate_dossier(story.runtime, story.actor("gina"), gina)
    assert other.template.startswith("modèle Repères")


def test_the_server_template_from_the_environment_is_used(story: Story, tmp_path: Path) -> None:
    path = tmp_path / "serveur.docx"
    path.write_bytes(_template_with("Modèle du serveur pour {{ candidat.prenom }}."))
    runtime = Runtime(settings=story.runtime.settings.with_changes(dossier_template=path),
                      engine=story.runtime.engine, sessions=story.runtime.sessions)
    made = generate_dossier(runtime, story.actor("alice"), story.parcours_id)
    assert "Modèle du serveur pour Alice." in docx_text(made.data)
    assert made.template.startswith("modèle du serveur : serveur.docx")


# --- the command line ----------------------------------------------------------------------------


def _env(story: Story, tmp_path: Path) -> dict[str, str]:
    return {
        "REPERES_DATABASE_URL": story.database_url,
        "REPERES_VAR_DIR": str(story.runtime.settings.var_dir),
        "REPERES_SECRET_KEY": "t",
    }


def test_reperes_dossier_build_writes_the_file_and_records_it(
    story: Story, tmp_path: Path
) -> None:
    out = tmp_path / "sortie.docx"
    result = CliRunner().invoke(
        main, ["dossier", "build", "--parcours", str(story.parcours_id), "--out", str(out)],
        env=_env(story, tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "dossier version 1" in result.output and "store: written" in result.output
    assert story.texts["bureaux"] in docx_text(out.read_bytes())
    with transaction(story.runtime.sessions) as session:
        row = find_dossier(session, story.actor("alice"), story.parcours_id)
        assert row.created_by_id is None and row.content == out.read_bytes()
    missing = CliRunner().invoke(main, ["dossier", "build", "--parcours", "99999"],
                                 env=_env(story, tmp_path))
    assert missing.exit_code != 0 and "n’existe pas" in missing.output


def test_reperes_dossier_template_checks_and_keeps_a_template(
    story: Story, tmp_path: Path
) -> None:
    platform_id = str(story.cast.platforms["A"].id)
    bad = tmp_path / "mauvais.docx"
    bad.write_bytes(_template_with("{{ candidat.prenon }}"))
    good = tmp_path / "bon.docx"
    good.write_bytes(_template_with("Structure : {{ candidat.structure }}"))
    env = _env(story, tmp_path)
    refused = CliRunner().invoke(main, ["dossier", "template", "--platform", platform_id,
                                        str(bad)], env=env)
    assert refused.exit_code == 1 and "prenon" in refused.output
    kept = CliRunner().invoke(main, ["dossier", "template", "--platform", platform_id,
                                     str(good)], env=env)
    assert kept.exit_code == 0, kept.output
    with transaction(story.runtime.sessions) as session:
        row = session.scalars(select(DossierTemplate)).one()
        assert row.name == "bon.docx" and row.content == good.read_bytes()
    back = CliRunner().invoke(main, ["dossier", "template", "--platform", platform_id,
                                     "--default"], env=env)
    assert back.exit_code == 0 and "default template in use" in back.output
    with transaction(story.runtime.sessions) as session:
        assert session.scalars(select(DossierTemplate)).all() == []


# --- download from the pages, through real launches ----------------------------------------------


def _demo_parcours(client: FlaskClient) -> int:
    """Samira's parcours in the demo course, with one task tagged and a photo."""
    actor = launch_as(client, "candidat1").actor
    assert actor is not None
    runtime: Runtime = client.application.extensions["reperes"]
    with transaction(runtime.sessions) as session:
        catalog = load_catalog(session, platform_id=None)
        parcours = services.get_or_create_parcours(session, actor, catalog=catalog)
        services.set_referentiels(session, actor, parcours.id,
                                  [services.ReferentielChoice("TP-APH", "2008-08-13")],
                                  catalog=catalog)
        task = services.create_task(session, actor, parcours.id,
                                    {"title": "Je trie les dons à la recyclerie"})
        services.attach_evidence(session, actor, runtime.store, task.id, _small_jpeg())
        services.add_tag(session, actor, task.id, referentiel_id="TP-APH",
                         competence_code="C1", catalog=catalog)
        return parcours.id


def _token(client: FlaskClient) -> str:
    response = client.get("/api/v1/session")
    assert response.status_code == 200
    token: str = response.get_json()["csrf_token"]
    return token


def test_candidat_and_accompagnateur_download_the_dossier_another_candidat_cannot(
    demo_client: FlaskClient,
) -> None:
    parcours_id = _demo_parcours(demo_client)
    made = demo_client.post(f"/dossier/{parcours_id}", data={"csrf_token": _token(demo_client)})
    assert made.status_code == 303
    assert made.headers["Location"].endswith(f"/dossier/{parcours_id}?version=1")
    got = demo_client.get(made.headers["Location"])
    assert got.status_code == 200 and got.mimetype == DOCX
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"Dossier de preuves - B. Samira.docx\"; "
        "filename*=UTF-8''Dossier%20de%20preuves%20-%20B.%20Samira.docx"
    )
    assert "Je trie les dons à la recyclerie" in docx_text(got.data)

    accompagnatrice = demo_client.application.test_client()
    launch_as(accompagnatrice, "accompagnatrice")
    latest = accompagnatrice.get(f"/dossier/{parcours_id}")
    assert latest.status_code == 200 and latest.data == got.data

    other = demo_client.application.test_client()
    launch_as(other, "candidat2")
    assert other.get(f"/dossier/{parcours_id}").status_code == 404
    refused = other.post(f"/dossier/{parcours_id}", data={"csrf_token": _token(other)})
    assert refused.status_code == 404
    nobody = demo_client.application.test_client()
    assert nobody.get(f"/dossier/{parcours_id}").status_code == 401


def test_making_a_dossier_needs_the_pages_token(demo_client: FlaskClient) -> None:
    parcours_id = _demo_parcours(demo_client)
    assert demo_client.post(f"/dossier/{parcours_id}").status_code == 403
    assert demo_client.post(f"/dossier/{parcours_id}", data={"csrf_token": "x" * 43}
                            ).status_code == 403
    foreign = demo_client.post(f"/dossier/{parcours_id}", data={"csrf_token": _token(demo_client)},
                               headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert demo_client.get(f"/dossier/{parcours_id}").status_code == 404  # none made yet
    assert demo_client.get(f"/dossier/{parcours_id}?version=7").status_code == 404


def test_the_links_template_shows_the_button_the_latest_version_and_its_state(
    demo_client: FlaskClient,
) -> None:
    parcours_id = _demo_parcours(demo_client)
    app = demo_client.application
    runtime: Runtime = app.extensions["reperes"]
    launched = launch_as(demo_client, "candidat1")
    demo_client.post(f"/dossier/{parcours_id}", data={"csrf_token": _token(demo_client)})
    from integration.dossier.later import wait_for_background_writes

    assert wait_for_background_writes()  # written after the answer (issue 18)
    with app.test_request_context("/moi"):
        html = render_template_string('{% include "dossier/_links.html" %}',
                                      parcours=parcours_id, actor=launched.actor)
    assert "Télécharger mon dossier" in html and "(Word)" not in html  # plain words (issue 15)
    assert f'action="/dossier/{parcours_id}"' in html and 'name="csrf_token"' in html
    assert "Dernier dossier : version 1" in html
    assert f'href="/dossier/{parcours_id}?version=1"' in html
    with transaction(runtime.sessions) as session:
        session.execute(
            Dossier.__table__.update().values(state="queued", message="")
        )
    with app.test_request_context("/moi"):
        html = render_template_string('{% include "dossier/_links.html" %}',
                                      parcours=parcours_id, actor=launched.actor)
    assert "Le dossier est prêt. Il sera copié dans le dossier partagé dès que possible." in html


def test_reperes_dossier_check_tells_an_operator_whether_a_template_is_usable(
    tmp_path: Path,
) -> None:
    good = tmp_path / "serveur.docx"
    good.write_bytes(_template_with("Pour {{ candidat.nom_complet }}"))
    bad = tmp_path / "faux.docx"
    bad.write_bytes(_template_with("{{ candidat.age }}"))
    env = {"REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t"}
    assert CliRunner().invoke(main, ["dossier", "check", str(good)], env=env).exit_code == 0
    refused = CliRunner().invoke(main, ["dossier", "check", str(bad)], env=env)
    assert refused.exit_code == 1 and "age" in refused.output
