"""The OpenAPI document: valid OpenAPI 3.1, and every route of /api/v1 described in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from integration.api.openapi import document


def _flask_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())


def test_every_route_is_described_and_nothing_else(tmp_path: Path) -> None:
    from integration import create_app
    from integration.settings import Settings

    app = create_app(Settings(var_dir=tmp_path / "var", secret_key="t", testing=True),
                     check_database=False)
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((_flask_path(rule.rule.removeprefix("/api/v1")), method.lower()))
    described = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert routes - described == set(), "routes missing from the OpenAPI document"
    assert described - routes == set(), "the OpenAPI document describes routes that do not exist"


def test_every_operation_is_complete() -> None:
    doc = document()
    ids = []
    for path, ops in doc["paths"].items():
        params = set(re.findall(r"{([a-z_]+)}", path))
        for method, op in ops.items():
            ids.append(op["operationId"])
            assert op.get("summary"), (path, method)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (path, method)
            if method in ("post", "put", "patch", "delete") and path != "/openapi.json":
                assert op.get("security") == [{"session": [], "csrf": []}], (path, method)
                assert "403" in op["responses"], (path, method)
            for code, response in op["responses"].items():
                if code >= "400":
                    assert "application/problem+json" in response["content"], (path, code)
    assert len(ids) == len(set(ids)), "operationId must be unique"


def test_the_api_serves_its_document(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"


@pytest.mark.parametrize("path", ["/api/v1/session", "/api/v1/parcours", "/api/v1/tasks/1"])
def test_without_a_launch_the_api_answers_401_as_a_problem(client, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert "Moodle" in response.get_json()["detail"]
