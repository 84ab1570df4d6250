"""What Repères stores about a person: export it whole, erase it, and apply retention.

The people who use Repères are vulnerable; the GDPR applies. An export is a zip with
everything stored about the person (JSON rows and their files). An erasure removes the
person, their parcours and files, and keeps only an audit line with ids and counts.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session, selectinload

from connectors.storage import NotFound, StorageError, Store

from .. import models as m
from ..auth import end_sessions
from ..dossier.folders import folder_paths
from . import ProgressFn

log = logging.getLogger(__name__)


class PrivacyError(Exception):
    """The person cannot be found, or an operation cannot be done safely."""


def _row(obj: Any) -> dict[str, Any]:
    """Every column of a row as JSON-ready values (secrets of platforms never included)."""
    out: dict[str, Any] = {}
    for column in inspect(obj).mapper.column_attrs:
        value = getattr(obj, column.key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = f"<{len(value)} octets, fichier joint>"
        elif hasattr(value, "value"):
            value = value.value
        out[column.key] = value
    return out


@dataclass
class PersonData:
    person: m.Person
    rows: dict[str, list[Any]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _evidence_files(ev: m.Evidence) -> list[str]:
    return [p for p in (ev.storage_path, ev.medium_path, ev.preview_path) if p]


def find_person(session: Session, person_id: int) -> m.Person:
    person = session.get(m.Person, person_id)
    if person is None:
        raise PrivacyError(f"no person with id {person_id}")
    return person


def collect(session: Session, person: m.Person) -> PersonData:
    """Every row that belongs to or was written by the person, and the files of theirs."""
    data = PersonData(person)
    # The parcours with their collections loaded in one query each (not one per task):
    # an erasure then deletes them without lazy-loading each task's evidence and tags.
    parcours = list(
        session.scalars(
            select(m.Parcours)
            .where(m.Parcours.person_id == person.id)
            .options(
                selectinload(m.Parcours.referentiels),
                selectinload(m.Parcours.accompagnateurs),
                selectinload(m.Parcours.tasks).selectinload(m.Task.evidence),
                selectinload(m.Parcours.tasks).selectinload(m.Task.tags),
            )
        )
    )
    parcours_ids = [p.id for p in parcours]
    tasks = [t for p in parcours for t in p.tasks]
    evidence = [ev for t in tasks for ev in t.evidence]
    dossiers = list(
        session.scalars(select(m.Dossier).where(m.Dossier.parcours_id.in_(parcours_ids)))
    )
    in_parcours = m.Review.parcours_id.in_(parcours_ids)
    data.rows = {
        "person": [person],
        "memberships": list(
            session.scalars(select(m.Membership).where(m.Membership.person_id == person.id))
        ),
        "parcours": parcours,
        "parcours_referentiels": [r for p in parcours for r in p.referentiels],
        "tasks": tasks,
        "evidence": evidence,
        "tags": [tag for t in tasks for tag in t.tags],
        "reviews": list(
            session.scalars(
                select(m.Review).where(or_(in_parcours, m.Review.reviewer_id == person.id))
            )
        ),
        "recognitions": list(
            session.scalars(
                select(m.Recognition).where(m.Recognition.parcours_id.in_(parcours_ids))
            )
        ),
        "history": list(
            session.scalars(
                select(m.HistoryEntry).where(
                    or_(
                        m.HistoryEntry.parcours_id.in_(parcours_ids),
                        m.HistoryEntry.actor_id == person.id,
                    )
                )
            )
        ),
        "dossiers": dossiers,
        # What the accompagnateurs said about their activities, and what they wrote
        # about others' (kept with the other's parcours, like reviews).
        "activity_comments": list(
            session.scalars(
                select(m.ActivityComment).where(or_(
                    m.ActivityComment.parcours_id.in_(parcours_ids),
                    m.ActivityComment.author_id == person.id,
                ))
            )
        ),
        "tag_proposals": list(
            session.scalars(select(m.TagProposal).where(m.TagProposal.task_id.in_(
                [t.id for t in tasks])))
        ),
        "drafts": list(
            session.scalars(select(m.Draft).where(m.Draft.person_id == person.id))
        ),
    }
    for ev in evidence:
        data.files.extend(_evidence_files(ev))
    data.files.extend(d.storage_path for d in dossiers if d.storage_path)
    # The shared folders hold the dossiers, copies a person edited by hand, and photos.
    data.files.extend(folder_paths(session, parcours_ids))
    return data


def export_person(
    session: Session, store: Store, person_id: int, progress: ProgressFn | None = None
) -> bytes:
    """A zip: `donnees.json` with every row, and `fichiers/…` with every stored file.

    ``progress`` is told the files and bytes read after each file."""
    data = collect(session, find_person(session, person_id))
    buffer = io.BytesIO()
    missing: list[str] = []
    read = 0
    paths = sorted(set(data.files))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        written: set[str] = set()
        for number, path in enumerate(paths):
            try:
                for file_path in _walk(store, path):
                    if file_path not in written:
                        written.add(file_path)
                        content = store.get(file_path)
                        read += len(content)
                        archive.writestr(f"fichiers/{file_path}", content)
                        if progress is not None:
                            progress({"fichiers": len(written), "lus octets": read},
                                     number / len(paths))
            except StorageError as error:
                missing.append(f"{path}: {type(error).__name__}")
        document = {
            "exported_at": datetime.now().astimezone().isoformat(),
            "about": "Toutes les données que Repères garde sur cette personne.",
            "rows": {name: [_row(r) for r in rows] for name, rows in data.rows.items()},
            "files_missing": missing,
        }
        archive.writestr(
            "donnees.json", json.dumps(document, ensure_ascii=False, indent=1, default=str)
        )
    return buffer.getvalue()


def _walk(store: Store, path: str) -> Iterable[str]:
    """The files at `path`: itself, or everything below it when it is a folder."""
    found = store.stat(path)
    if found is None:
        raise NotFound(f"missing: {path}", path=path)
    if not found.is_folder:
        yield path
        return
    for entry in store.list(path):
        yield from _walk(store, entry.path)


def erase_person(session: Session, store: Store, person_id: int, *,
                 var_dir: Path | None = None) -> dict[str, int]:
    """Delete the person, their parcours and files; keep one audit line (ids and counts only).

    `var_dir`: where this machine caches things made from their files (PDF dossiers)."""
    person = find_person(session, person_id)
    data = collect(session, person)
    counts = {name: len(rows) for name, rows in data.rows.items()}
    counts["files"] = len(set(data.files))
    _delete_files(store, data.files)
    _forget_cached(var_dir, [p.id for p in data.rows["parcours"]])
    # Reviews this person wrote on others' parcours stay (they are the other person's
    # record) but lose their author: reviewer_id is SET NULL by the foreign key.
    for p in data.rows["parcours"]:
        session.delete(p)
    end_sessions(session, person_id=person_id)  # every browser of theirs is signed out
    session.delete(person)
    session.add(
        m.AuditLine(
            action="person_erased",
            detail={"person_id": person_id, "platform_id": person.platform_id, "counts": counts},
        )
    )
    session.flush()
    log.info("person %s erased (%s)", person_id, counts)
    return counts


def _delete_files(store: Store, paths: Iterable[str]) -> None:
    from ..parcours.kept import forget

    forget(store, set(paths))  # the copies kept on this machine go too (issue 16)
    for path in sorted(set(paths)):
        try:
            store.delete(path)
        except StorageError as error:
            # The database row goes anyway; the operator sees what to remove by hand.
            log.warning("could not delete file %s: %s", path, type(error).__name__)


def _forget_cached(var_dir: Path | None, parcours_ids: Iterable[int]) -> None:
    if var_dir is None:
        return
    from ..dossier.pdf import forget

    for parcours_id in parcours_ids:
        forget(var_dir, parcours_id)


def apply_retention(session: Session, store: Store, months: int, now: datetime, *,
                    var_dir: Path | None = None,
                    progress: ProgressFn | None = None) -> list[int]:
    """Erase the parcours closed for longer than `months` months; returns their ids.

    ``progress`` is told the parcours erased and files deleted after each parcours."""
    if months <= 0:
        raise PrivacyError("retention must be a positive number of months")
    limit = now - timedelta(days=30.44 * months)
    old = list(
        session.scalars(
            select(m.Parcours).where(
                m.Parcours.closed_at.is_not(None), m.Parcours.closed_at < limit
            )
        )
    )
    erased: list[int] = []
    deleted = 0
    for parcours in old:
        data = collect(session, parcours.person)
        files = [
            path
            for ev in data.rows["evidence"]
            if ev.task.parcours_id == parcours.id
            for path in _evidence_files(ev)
        ]
        files += [d.storage_path for d in data.rows["dossiers"] if d.parcours_id == parcours.id]
        files += folder_paths(session, [parcours.id])
        _delete_files(store, files)
        _forget_cached(var_dir, [parcours.id])
        deleted += len(set(files))
        erased.append(parcours.id)
        session.delete(parcours)
        if progress is not None:
            progress({"parcours effacés": (len(erased), len(old)), "fichiers": deleted},
                     len(erased) / len(old))
    if erased:
        session.add(
            m.AuditLine(action="retention", detail={"parcours_ids": erased, "months": months})
        )
    session.flush()
    return erased
