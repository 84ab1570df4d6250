"""The service starts, answers its probes, and refuses an unmigrated database."""

from __future__ import annotations

import pytest

from integration import create_app
from integration.db import DatabaseNotReady


def test_healthz_answers_ok(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_database_and_storage(client) -> None:
    response = client.get("/readyz")
    assert response.get_json()["checks"]["database"] == "ok"


def test_service_refuses_an_unmigrated_database(settings) -> None:
    with pytest.raises(DatabaseNotReady, match="reperes db upgrade"):
        create_app(settings)


def test_unknown_page_gets_a_french_page_not_a_trace(client) -> None:
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert "Cette page n’existe pas" in response.get_data(as_text=True)


def test_unknown_api_path_gets_a_problem_document(client) -> None:
    response = client.get("/api/v1/nulle-part")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
