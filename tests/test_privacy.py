"""A person asks what is stored about them, then asks for it to be erased (GDPR)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connectors.local_store import LocalFolderStore
from integration import models as m
from integration.cli import main
from integration.ops.privacy import PrivacyError, apply_retention, erase_person, export_person
from integration.parcours.catalog import load_catalog
from integration.parcours.evidence import attach_evidence
from integration.parcours.reviews import add_review
from integration.parcours.tags import add_tag
from integration.parcours.tasks import create_task
from tests.support import parcours as parcours_support
from tests.support.parcours import APH, Cast, jpeg_bytes

sessions = parcours_support.sessions


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "files")


def _story(session, store):  # type: ignore[no-untyped-def]
    """Alice describes a task with a photo, tags it; Carla reviews it."""
    cast = Cast.build(session)
    alice, carla = cast.actor("alice"), cast.actor("carla")
    parcours = cast.parcours["alice"]
    task = create_task(session, alice, parcours.id, {"title": "Je trie les dons de vêtements"})
    attach_evidence(session, alice, store, task.id, jpeg_bytes(), filename="tri.jpg")
    catalog = load_catalog(session, platform_id=None)
    code = next(iter(catalog.get(*APH).competences())).code
    add_tag(session, alice, task.id, referentiel_id=APH[0], referentiel_version=APH[1],
            competence_code=code, catalog=catalog)
    add_review(session, carla, parcours.id, referentiel_id=APH[0], competence_code=code,
               verdict="oui", comment="Bien expliqué", catalog=catalog)
    bob_task = create_task(session, cast.actor("bob"), cast.parcours["bob"].id,
                           {"title": "Je range la réserve"})
    session.flush()
    return cast, task, bob_task


def test_a_person_gets_everything_stored_about_them(sessions, store) -> None:
    with sessions() as session:
        cast, task, _ = _story(session, store)
        archive = export_person(session, store, cast.people["alice"].id)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        document = json.loads(zf.read("donnees.json"))
        photos = [n for n in zf.namelist() if n.startswith("fichiers/")]
    rows = document["rows"]
    assert rows["person"][0]["name"] == "Alice"
    assert [t["title"] for t in rows["tasks"]] == ["Je trie les dons de vêtements"]
    assert rows["reviews"][0]["comment"] == "Bien expliqué"
    assert len(rows["tags"]) == 1
    assert len(photos) >= 2  # the photo and its reduced copies
    assert "Je range la réserve" not in json.dumps(document, ensure_ascii=False)
    assert document["files_missing"] == []


def test_erasing_a_person_leaves_nothing_of_theirs_but_an_audit_line(sessions, store) -> None:
    with sessions() as session:
        cast, task, bob_task = _story(session, store)
        alice_id = cast.people["alice"].id
        files = [p for ev in task.evidence for p in (ev.storage_path, ev.preview_path) if p]
        session.commit()
    assert all(store.exists(p) for p in files)
    with sessions() as session:
        counts = erase_person(session, store, alice_id)
        session.commit()
    assert counts["tasks"] == 1 and counts["files"] >= 2
    assert not any(store.exists(p) for p in files)
    with sessions() as session:
        assert session.get(m.Person, alice_id) is None
        for model in (m.Evidence, m.Tag, m.Review, m.HistoryEntry):
            rows = session.scalars(select(model)).all()
            assert all(getattr(r, "parcours_id", None) != cast.parcours["alice"].id
                       for r in rows), model
        assert session.scalar(select(func.count()).select_from(m.Evidence)) == 0
        assert session.scalar(select(func.count()).select_from(m.Tag)) == 0
        assert not session.scalars(
            select(m.Membership).where(m.Membership.person_id == alice_id)).all()
        assert session.scalar(select(func.count()).select_from(m.Task)) == 1  # bob's
        assert session.get(m.Task, bob_task.id) is not None
        audit = session.scalars(select(m.AuditLine)).one()
        assert audit.action == "person_erased"
        assert "Alice" not in json.dumps(audit.detail)
        with pytest.raises(PrivacyError):
            export_person(session, store, alice_id)


def test_retention_erases_parcours_closed_long_ago_only(sessions, store) -> None:
    now = datetime.now(UTC)
    with sessions() as session:
        cast, _, _ = _story(session, store)
        cast.parcours["alice"].closed_at = now - timedelta(days=400)
        cast.parcours["bob"].closed_at = now - timedelta(days=30)
        session.commit()
        alice_parcours, bob_parcours = cast.parcours["alice"].id, cast.parcours["bob"].id
    with sessions() as session:
        erased = apply_retention(session, store, 12, now)
        session.commit()
    assert erased == [alice_parcours]
    with sessions() as session:
        assert session.get(m.Parcours, alice_parcours) is None
        assert session.get(m.Parcours, bob_parcours) is not None


def test_operator_exports_then_erases_from_the_command_line(tmp_path: Path) -> None:
    env = {"REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t"}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    from integration.runtime import Runtime
    from integration.settings import Settings

    runtime = Runtime.from_settings(Settings.from_env(env))
    with runtime.sessions() as session:
        cast, _, _ = _story(session, runtime.store)
        alice_id = cast.people["alice"].id
        session.commit()
    from integration.dossier.build import generate_dossier

    generate_dossier(runtime, cast.actor("alice"), cast.parcours["alice"].id)
    stored = [p for p in (tmp_path / "var" / "files").rglob("*") if p.is_file()]
    assert any(p.name.startswith("Dossier de preuves") for p in stored)
    out = tmp_path / "alice.zip"
    result = runner.invoke(main, ["person", "export", "--id", str(alice_id), "--out", str(out)],
                           env=env)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        assert any("Dossier de preuves" in name for name in zf.namelist())
    refused = runner.invoke(main, ["person", "erase", "--id", str(alice_id)], env=env, input="n\n")
    assert refused.exit_code == 1 and "nothing erased" in refused.output
    done = runner.invoke(main, ["person", "erase", "--id", str(alice_id), "--yes"], env=env)
    assert done.exit_code == 0, done.output
    missing = runner.invoke(main, ["person", "export", "--id", str(alice_id), "--out",
                                   str(out)], env=env)
    assert missing.exit_code != 0
    left = [p for p in (tmp_path / "var" / "files").rglob("*") if p.is_file()]
    assert left == [], "files of the erased person remain in the storage"
    runtime.engine.dispose()


def test_erasing_a_person_removes_the_pdf_dossiers_cached_here(sessions, store, tmp_path) -> None:
    from integration.dossier.pdf import CACHE_FOLDER

    with sessions() as session:
        cast, _task, _bob_task = _story(session, store)
        alice_id, alice_pid = cast.people["alice"].id, cast.parcours["alice"].id
        bob_pid = cast.parcours["bob"].id
        session.commit()
    for pid in (alice_pid, bob_pid):
        cached = tmp_path / "var" / CACHE_FOLDER / str(pid)
        cached.mkdir(parents=True)
        (cached / "1-abc.pdf").write_bytes(b"%PDF-1.7")
    with sessions() as session:
        erase_person(session, store, alice_id, var_dir=tmp_path / "var")
        session.commit()
    assert not (tmp_path / "var" / CACHE_FOLDER / str(alice_pid)).exists()
    assert (tmp_path / "var" / CACHE_FOLDER / str(bob_pid) / "1-abc.pdf").exists()


def test_the_export_holds_drafts_and_what_was_said_about_their_activities(sessions, store) -> None:
    with sessions() as session:
        cast, task, _ = _story(session, store)
        alice = cast.people["alice"]
        course = cast.courses["X"]
        session.add(m.Draft(person_id=alice.id, platform_id=alice.platform_id,
                            course_id=course.id, form_key="task-new",
                            data={"title": "Je plie le linge"}))
        session.add(m.ActivityComment(task_id=task.id, parcours_id=task.parcours_id,
                                      author_id=cast.people["carla"].id, author_name="Carla",
                                      comment="Ajoutez une photo du rayon"))
        session.flush()
        archive = export_person(session, store, alice.id)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        rows = json.loads(zf.read("donnees.json"))["rows"]
    assert rows["drafts"][0]["data"] == {"title": "Je plie le linge"}
    assert rows["activity_comments"][0]["comment"] == "Ajoutez une photo du rayon"
