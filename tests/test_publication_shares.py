"""Shares of a parcours' folder with its accompagnateurs (Nextcloud's OCS API, replayed),
and the settings that rule them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import responses
from click.testing import CliRunner
from sqlalchemy import delete, select

from integration.cli import main
from integration.db import transaction
from integration.dossier.build import generate_dossier
from integration.dossier.publication import WRITTEN
from integration.models import (
    DossierFolder,
    Membership,
    ParcoursAccompagnateur,
    Person,
    Platform,
    Role,
)
from tests.support.parcours import make_membership, make_person
from tests.test_dossier_support import Story
from tests.test_publication import (  # noqa: F401  (dav, story: fixtures)
    FOLDER,
    ROOT,
    USUAL,
    dav_fixture,
    on_server,
    rows,
    story_fixture,
)
from tests.webdav_server import WebDavServer, recording

# --- shares (Nextcloud's OCS API, replayed) -------------------------------------------------------


def _ocs_body(number: str, data: Any) -> dict[str, Any]:
    """A recorded OCS answer with its `data` replaced."""
    body = recording(number).json()
    body["ocs"]["data"] = data
    return body


def _recorded_share(share_id: str, path: str, user: str) -> dict[str, Any]:
    share = dict(recording("86").json()["ocs"]["data"])
    share.update(id=share_id, path=path, share_with=user, share_with_displayname=user,
                 item_type="folder", permissions=15)
    return share


def test_the_folder_is_shared_with_the_accompagnateurs_once(
    story: Story, dav: WebDavServer
) -> None:
    runtime = story.runtime
    with transaction(runtime.sessions) as session:
        session.get(Platform, story.cast.platforms["A"].id).settings = {  # type: ignore[union-attr]
            "nextcloud_user": "username"}
        ghost = make_person(session, story.cast.platforms["A"])
        ghost.username = "fantome"
        make_membership(session, story.cast.courses["X"], ghost, Role.ACCOMPAGNATEUR)
    shares_url = f"{dav.url}/ocs/v2.php/apps/files_sharing/api/v1/shares"
    in_nextcloud = f"/{ROOT}/{FOLDER}"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_passthru(dav.url)  # WebDAV goes to the real server
        mock.add("GET", shares_url, json=_ocs_body("90", []), status=200)
        mock.add("POST", shares_url, json=_ocs_body("86", _recorded_share("41", in_nextcloud,
                                                                        "carla.nc")))
        unknown = recording("99")
        mock.add("POST", shares_url, body=unknown.body, status=404,
                 content_type="application/json")
        made = generate_dossier(runtime, story.actor("alice"), story.parcours_id)
        assert made.outcome is not None and made.outcome.state == WRITTEN
        ocs = [c for c in mock.calls if "/ocs/" in c.request.url]
        assert [c.request.method for c in ocs] == ["GET", "POST", "POST"]
        assert dict(parse_qsl(ocs[0].request.url.split("?", 1)[1]))["path"] == in_nextcloud
        forms = [dict(parse_qsl(c.request.body)) for c in ocs[1:]]
        assert forms[0] == {"path": in_nextcloud, "shareType": "0", "shareWith": "carla.nc",
                            "permissions": "15"}
        assert forms[1]["shareWith"] == "fantome"
        assert ocs[1].request.headers["OCS-APIRequest"] == "true"
        with transaction(runtime.sessions) as session:
            folder = session.scalars(select(DossierFolder)).one()
            assert folder.shares == {"carla.nc": "41"}
            assert "valid account" in folder.share_error
            assert folder.web_url and "index.php/apps/files/?dir=" in folder.web_url

        # Made again: the unknown account is tried again, carla is not shared twice.
        mock.replace("GET", shares_url, json=_ocs_body("90", [
            _recorded_share("41", in_nextcloud, "carla.nc")]))
        mock.remove("POST", shares_url)
        mock.add("POST", shares_url, json=_ocs_body("86", _recorded_share("42", in_nextcloud,
                                                                        "fantome")))
        generate_dossier(runtime, story.actor("alice"), story.parcours_id)
        ocs = [c for c in mock.calls if "/ocs/" in c.request.url][3:]
        assert [c.request.method for c in ocs] == ["GET", "POST"]
        assert dict(parse_qsl(ocs[1].request.body))["shareWith"] == "fantome"
        with transaction(runtime.sessions) as session:
            folder = session.scalars(select(DossierFolder)).one()
            assert folder.shares == {"carla.nc": "41", "fantome": "42"}
            assert folder.share_error == ""

        # Nothing changed: Nextcloud is not asked at all.
        generate_dossier(runtime, story.actor("alice"), story.parcours_id)
        assert len([c for c in mock.calls if "/ocs/" in c.request.url]) == 5

        # Carla leaves the course: the share Repères made for her is removed.
        with transaction(runtime.sessions) as session:
            session.execute(delete(Membership).where(
                Membership.person_id == story.cast.people["carla"].id))
            session.execute(delete(ParcoursAccompagnateur))
        mock.replace("GET", shares_url, json=_ocs_body("90", [
            _recorded_share("41", in_nextcloud, "carla.nc"),
            _recorded_share("42", in_nextcloud, "fantome")]))
        mock.add("DELETE", f"{shares_url}/41", json=_ocs_body("93", []))
        generate_dossier(runtime, story.actor("alice"), story.parcours_id)
        ocs = [c for c in mock.calls if "/ocs/" in c.request.url][5:]
        assert [c.request.method for c in ocs] == ["GET", "DELETE"]
        with transaction(runtime.sessions) as session:
            assert session.scalars(select(DossierFolder)).one().shares == {"fantome": "42"}


def test_nothing_is_shared_without_a_rule_for_nextcloud_user_names(
    story: Story, dav: WebDavServer
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_passthru(dav.url)
        made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
        assert made.outcome is not None and made.outcome.state == WRITTEN
        assert not [c for c in mock.calls if "/ocs/" in c.request.url]


def test_nextcloud_user_names_follow_the_platform_rule() -> None:
    from integration.dossier.shares import nextcloud_user

    person = Person(sub="moodle-42", username="nlefebvre", email="nadia.l@fde.example.org")
    assert nextcloud_user(person, "username") == "nlefebvre"
    assert nextcloud_user(person, "email") == "nadia.l@fde.example.org"
    assert nextcloud_user(person, "email_localpart") == "nadia.l"
    assert nextcloud_user(person, "sub") == "moodle-42"
    assert nextcloud_user(person, "guess") == ""
    assert nextcloud_user(Person(sub="x", username="", email=""), "email_localpart") == ""


def test_checksums_recorded_match_the_files_written(story: Story, dav: WebDavServer) -> None:
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    (row,) = rows(story)
    assert row.checksum == hashlib.sha256(on_server(dav, USUAL).read_bytes()).hexdigest()
    assert row.size == len(made.data)
    stored = story.runtime.store.stat(USUAL)
    assert stored is not None and row.etag and row.etag == stored.etag  # the ETag remembered


def test_reperes_dossier_settings_sets_the_sharing_rule(story: Story, tmp_path: Path) -> None:
    env = {"REPERES_DATABASE_URL": story.database_url, "REPERES_VAR_DIR": str(tmp_path / "cli"),
           "REPERES_SECRET_KEY": "t"}
    platform_id = str(story.cast.platforms["A"].id)
    result = CliRunner().invoke(main, ["dossier", "settings", "--platform", platform_id,
                                       "--nextcloud-user", "email_localpart",
                                       "--structure", "La Fabrique de l’Emploi"], env=env)
    assert result.exit_code == 0, result.output
    assert "nextcloud_user: email_localpart" in result.output
    with transaction(story.runtime.sessions) as session:
        platform = session.get(Platform, story.cast.platforms["A"].id)
        assert platform is not None
        assert platform.settings == {"nextcloud_user": "email_localpart",
                                     "structure": "La Fabrique de l’Emploi"}
    CliRunner().invoke(main, ["dossier", "settings", "--platform", platform_id,
                              "--nextcloud-user", "none"], env=env)
    with transaction(story.runtime.sessions) as session:
        platform = session.get(Platform, story.cast.platforms["A"].id)
        assert platform is not None and "nextcloud_user" not in platform.settings
