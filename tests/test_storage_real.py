"""A real Nextcloud's bad days (issue 18), against the real WsgiDAV server: a hanging server,
a mistyped storage URL, the CLI's exit codes and quiet stderr, shares set at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import select

from connectors.nextcloud import NextcloudStore
from connectors.storage import Unavailable, time_budget
from integration.cli import main
from integration.db import transaction
from integration.dossier.build import generate_dossier
from integration.dossier.later import wait_for_background_writes
from integration.dossier.publication import LOCAL, QUEUED, WRITTEN
from integration.models import Dossier, DossierFolder, PendingWrite, Platform
from integration.settings import Settings
from tests.test_dossier_support import Story, make_runtime, tell_story
from tests.test_publication import ROOT
from tests.test_publication_shares import _ocs_body, _recorded_share
from tests.webdav_server import WebDavServer


@pytest.fixture(name="dav")
def dav_fixture(tmp_path: Path) -> Iterator[WebDavServer]:
    (tmp_path / "dav" / ROOT).mkdir(parents=True)
    with WebDavServer(tmp_path / "dav") as server:
        yield server


def _story(tmp_path: Path, url: str, dav: WebDavServer) -> Story:
    database_url = f"sqlite:///{tmp_path / 'reperes.sqlite3'}"
    runtime = make_runtime(database_url, tmp_path / "var", storage_url=url,
                           storage_username=dav.username, storage_password=dav.password)
    return tell_story(runtime, database_url, photos=0)


def _env(story: Story, tmp_path: Path, url: str, dav: WebDavServer) -> dict[str, str]:
    return {"REPERES_DATABASE_URL": story.database_url, "REPERES_VAR_DIR": str(tmp_path / "cli"),
            "REPERES_SECRET_KEY": "t", "REPERES_STORAGE_URL": url,
            "REPERES_STORAGE_USERNAME": dav.username, "REPERES_STORAGE_PASSWORD": dav.password}


def _dossiers(story: Story) -> list[Dossier]:
    with transaction(story.runtime.sessions) as session:
        return list(session.scalars(select(Dossier).order_by(Dossier.id)))


def _pending(story: Story) -> list[PendingWrite]:
    with transaction(story.runtime.sessions) as session:
        return list(session.scalars(select(PendingWrite)))


# --- a hanging Nextcloud --------------------------------------------------------------------


def test_storage_calls_of_a_request_share_one_time_budget(dav: WebDavServer) -> None:
    store = NextcloudStore(dav.folder_url(ROOT), dav.username, dav.password)
    dav.faults.delay(5, methods=["PROPFIND"], times=2)  # the server hangs past the budget
    started = time.monotonic()
    with time_budget(1.5):
        with pytest.raises(Unavailable, match="no answer in time"):
            store.stat("x.docx")
        with pytest.raises(Unavailable, match="time allowed for storage in this request"):
            store.stat("y.docx")
    assert time.monotonic() - started < 3  # not the hang, not 2 x 120 s
    dav.faults.clear()


def test_the_dossier_page_answers_at_once_and_the_write_follows(
    tmp_path: Path, dav: WebDavServer
) -> None:
    from integration import create_app
    from tests.support.database import migrate
    from tests.support.lti import launch_as
    from tests.test_dossier import _demo_parcours, _token

    settings = Settings(var_dir=tmp_path / "var", secret_key="test-secret", testing=True,
                        demo=True, storage_url=dav.folder_url(ROOT),
                        storage_username=dav.username, storage_password=dav.password)
    migrate(settings.database_url)
    app = create_app(settings)
    client = app.test_client()
    parcours_id = _demo_parcours(client)
    launch_as(client, "candidat1")
    dav.faults.delay(6, methods=["PROPFIND"], times=1)  # Nextcloud is slow to answer
    started = time.monotonic()
    made = client.post(f"/dossier/{parcours_id}", data={"csrf_token": _token(client)})
    took = time.monotonic() - started
    assert made.status_code == 303
    assert took < 4, f"the request waited for the store ({took:.1f} s)"
    assert wait_for_background_writes(60)
    runtime = app.extensions["reperes"]
    with transaction(runtime.sessions) as session:
        dossier = session.scalars(select(Dossier)).one()
        assert dossier.state == WRITTEN
    runtime.engine.dispose()


# --- a mistyped storage URL -----------------------------------------------------------------


def test_a_mistyped_storage_url_never_grows_a_folder_tree(tmp_path: Path,
                                                          dav: WebDavServer) -> None:
    typo = dav.folder_url(ROOT + "s")
    story = _story(tmp_path, typo, dav)
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    assert made.outcome is not None and made.outcome.state == QUEUED
    assert "the folder does not exist" in made.outcome.error
    assert sorted(p.name for p in (dav.root).iterdir()) == [ROOT]  # nothing created
    assert not [r for r in dav.seen if r.method == "MKCOL" and r.path.rstrip("/").endswith("ss")]

    checked = CliRunner().invoke(main, ["storage", "check"],
                                 env=_env(story, tmp_path, typo, dav))
    assert checked.exit_code == 1
    assert "REPERES_STORAGE_URL" in checked.output and "never creates it" in checked.output
    good = CliRunner().invoke(main, ["storage", "check"],
                              env=_env(story, tmp_path, dav.folder_url(ROOT), dav))
    assert good.exit_code == 0 and "storage: ok" in good.output


# --- the CLI --------------------------------------------------------------------------------


def test_dossier_build_no_publish_does_not_queue_and_a_queued_build_exits_3(
    tmp_path: Path, dav: WebDavServer
) -> None:
    url = dav.folder_url(ROOT)
    story = _story(tmp_path, url, dav)
    env = _env(story, tmp_path, url, dav)
    kept = CliRunner().invoke(main, ["dossier", "build", "--parcours", str(story.parcours_id),
                                     "--no-publish"], env=env)
    assert kept.exit_code == 0, kept.output
    assert "--no-publish" in kept.output
    assert [d.state for d in _dossiers(story)] == [LOCAL] and _pending(story) == []
    assert not [r for r in dav.seen if r.method == "PUT"]

    dav.faults.answer(503, times=50)  # Nextcloud is down
    queued = CliRunner().invoke(
        main, ["dossier", "build", "--parcours", str(story.parcours_id)], env=env)
    assert queued.exit_code == 3, queued.output
    assert "Martin Alice" not in queued.stderr  # no name in the paths on stderr
    assert [d.state for d in _dossiers(story)] == [LOCAL, QUEUED] and len(_pending(story)) == 1
    dav.faults.clear()
    written = CliRunner().invoke(main, ["dossier", "build", "--parcours",
                                        str(story.parcours_id)], env=env)
    assert written.exit_code == 0, written.output


def test_reperes_demo_retries_the_storage_queue(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    started: list[Any] = []
    monkeypatch.setattr("integration.ops.background.start_background_work", started.append)
    monkeypatch.setattr("flask.Flask.run", lambda *args, **kwargs: None)
    result = CliRunner().invoke(main, ["demo"], env={"REPERES_VAR_DIR": str(tmp_path),
                                                     "REPERES_SECRET_KEY": "t"})
    assert result.exit_code == 0, result.output
    assert len(started) == 1


# --- shares ---------------------------------------------------------------------------------


def test_setting_the_rule_shares_at_once_and_warns_about_missing_user_names(
    tmp_path: Path, dav: WebDavServer
) -> None:
    url = dav.folder_url(ROOT)
    story = _story(tmp_path, url, dav)
    generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)  # no rule yet
    with transaction(story.runtime.sessions) as session:
        folder = session.scalars(select(DossierFolder)).one()
        in_nextcloud = f"/{ROOT}/{folder.path}"
        for name in ("carla", "dan"):
            person = story.cast.people[name]
            session.merge(person).username = ""  # Moodle sent no user_username for them
    shares_url = f"{dav.url}/ocs/v2.php/apps/files_sharing/api/v1/shares"
    env = _env(story, tmp_path, url, dav)
    platform_id = str(story.cast.platforms["A"].id)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_passthru(dav.url)
        result = CliRunner().invoke(
            main, ["dossier", "settings", "--platform", platform_id,
                   "--nextcloud-user", "username"], env=env)
        assert result.exit_code == 0, result.output + result.stderr
        assert "user_username" in result.stderr and "warning" in result.stderr
        assert "shares: 1 folder(s) looked at" in result.output
        assert not [c for c in mock.calls if "/ocs/" in c.request.url]  # nobody to share with

    with transaction(story.runtime.sessions) as session:
        session.merge(story.cast.people["carla"]).username = "carla.nc"
        platform = session.get(Platform, story.cast.platforms["A"].id)
        assert platform is not None
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_passthru(dav.url)
        mock.add("GET", shares_url, json=_ocs_body("90", []), status=200)
        mock.add("POST", shares_url, json=_ocs_body("86", _recorded_share(
            "41", in_nextcloud, "carla.nc")))
        shared = CliRunner().invoke(main, ["dossier", "share", "--platform", platform_id],
                                    env=env)
        assert shared.exit_code == 0, shared.output
    with transaction(story.runtime.sessions) as session:
        assert session.scalars(select(DossierFolder)).one().shares == {"carla.nc": "41"}
