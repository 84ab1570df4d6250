"""A coordinateur's import is seen on their platform only; an operator's everywhere."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from integration.parcours.catalog import (
    EVERY_PLATFORM,
    import_referentiels,
    load_catalog,
)
from referentiels import ReferentielError
from referentiels.importers import import_file
from tests.support import parcours as support
from tests.support.parcours import committed, login

api_app = support.api_app
cast = support.cast

RECYCLERIE = Path(__file__).parent / "fixtures" / "referentiels" / "moodle_recyclerie.csv"


def _ids(client) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["id"] for r in client.get("/api/v1/referentiels").get_json()["referentiels"]}


def test_a_coordinateur_import_stays_on_their_platform(api_app, cast, database_url) -> None:
    ref = import_file(RECYCLERIE, "moodle-csv")[0]
    platform_b = cast.platforms["B"].id
    with committed(database_url) as session:
        assert import_referentiels(session, [ref], "moodle-csv", platform_b) == (1, 0)
    # Stored in platform B's namespace (issue 12): « p<platform>~<id> ».
    scoped = f"p{platform_b}~{ref.id}"
    with committed(database_url) as session:
        assert load_catalog(session, platform_id=platform_b).find(scoped, ref.version)
        assert load_catalog(session, platform_id=EVERY_PLATFORM).find(scoped, ref.version)
        assert load_catalog(session, platform_id=cast.platforms["A"].id).find(scoped) is None
        # Another platform takes the same id in its own namespace, without a clash …
        other = dataclasses.replace(ref, intitule="Autre texte")
        assert import_referentiels(session, [other], "moodle-csv", cast.platforms["A"].id) == (
            1, 0)
        # … but within one namespace an id and version keep one content.
        with pytest.raises(ReferentielError, match="existe déjà"):
            import_referentiels(session, [other], "moodle-csv", platform_b)

    gina = api_app.test_client()  # platform B
    login(gina, cast.actor("gina"))
    alice = api_app.test_client()  # platform A
    login(alice, cast.actor("alice"))
    assert scoped in _ids(gina)
    assert scoped not in _ids(alice)


def test_an_operator_import_is_seen_everywhere(api_app, cast, database_url) -> None:
    ref = import_file(RECYCLERIE, "moodle-csv")[0]
    with committed(database_url) as session:
        import_referentiels(session, [ref], "moodle-csv")
    for name in ("alice", "gina"):
        client = api_app.test_client()
        login(client, cast.actor(name))
        assert ref.id in _ids(client), name


def test_huge_ids_in_urls_are_not_found_not_errors(api_app, cast) -> None:
    client = api_app.test_client()
    login(client, cast.actor("alice"))
    for url in ("/api/v1/parcours/99999999999999999999999", "/api/v1/tasks/9999999999999",
                "/cours/candidats/99999999999999999999", "/preuve/99999999999999999"):
        assert client.get(url).status_code == 404, url
    # Werkzeug answers 405 here (the POST rule of the same path); never a 500.
    assert client.get("/dossier/99999999999999999999").status_code in (404, 405)
    assert client.get("/dossier/1?version=99999999999999999999").status_code == 404
    assert client.get("/api/v1/parcours?course_id=99999999999999999999").status_code in (400, 422)
