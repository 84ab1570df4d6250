"""The storage side of dossiers: where they go, how they are written, and the retry queue.

Layout in the store (a local folder or Nextcloud), with names people read::

    RAE/<course title>/<Nom Prénom>/Dossier de preuves - <Nom Prénom>.docx
    RAE/<course title>/<Nom Prénom>/Photos/<task title> - photo <id>.jpg

The folder of a parcours is chosen once and kept (`DossierFolder`): a namesake in the
same course gets « (2) », and renaming a course or a person later moves nothing.

Never lose an edit. Repères remembers the ETag, size and checksum of every file it
wrote (the `Dossier` rows). Before writing again it looks at the file:

- still what Repères wrote: replaced, with ``If-Match`` (never without);
- already the new bytes (our previous write arrived but its answer was lost): kept;
- anything else (someone edited it in Word or in Nextcloud): left untouched, and the new
  dossier goes beside it, as « … (version du 12-03-2027).docx » (then with the time,
  then a number), and the page says so.

A conditional PUT closes the gap between the look and the write: a 412 means someone
wrote in between, which is handled as an edit. Nextcloud may answer the same ETag after
our own overwrite (recordings 17 and 20), and WsgiDAV keeps it for two writes of the same
size in the same second, so an ETag alone never decides: sizes and checksums do.

Outages. When the store is down or refuses (401, 403, 507 quota, 5xx), the dossier stays
in the database (`Dossier.content`) and downloadable from Repères; a `PendingWrite` row
waits and `drain_pending_writes` tries again after 1, 5, 15, then every 60 minutes. One
lease per parcours (`integration.ops.locks`) keeps two processes from writing the same
folder at once, so nothing is written twice.

Shares. With a Nextcloud store, the candidat's folder is shared with the accompagnateurs
of the course, by Nextcloud user names found with the platform's rule
``Platform.settings["nextcloud_user"]``: ``username``, ``email``, ``email_localpart``
or ``sub``. Without a rule nothing is shared: a guessed name could open a candidat's
photos to a stranger.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from connectors.storage import (
    InvalidPath,
    PreconditionFailed,
    StorageError,
    Store,
    StoredFile,
    join_path,
)

from ..db import transaction
from ..models import (
    Course,
    Dossier,
    DossierFolder,
    DossierState,
    Evidence,
    Membership,
    Parcours,
    ParcoursAccompagnateur,
    PendingWrite,
    Person,
    Platform,
    PublishedPhoto,
    Role,
    Task,
    utcnow,
)
from ..ops.locks import Lease
from ..platform_settings import PlatformSettings, local_time

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ROOT_FOLDER = "RAE"
PHOTOS_FOLDER = "Photos"
DOSSIER_PREFIX = "Dossier de preuves - "

# Dossier.state values. `superseded`: a queued version replaced by a newer one before it
# could be copied (the newer one holds everything it held).
WRITTEN, QUEUED, FAILED, SUPERSEDED = (
    DossierState.WRITTEN, DossierState.QUEUED, DossierState.FAILED, DossierState.SUPERSEDED)

#: Waits before each new try: 1, 5, 15, then every 60 minutes (never given up).
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
           timedelta(minutes=60))
#: While a request writes a new dossier itself, the queue leaves it alone this long;
#: if that process dies mid-write, the queue takes over afterwards.
INLINE_GRACE = timedelta(minutes=2)
LEASE_TTL = timedelta(minutes=10)
SHARE_PERMISSIONS = 15  # read, update, create, delete (no re-share)

# Names longer than this (in UTF-8 bytes) are cut: the longest file name we make stays
# far below the 255 bytes most file systems and Nextcloud accept.
MAX_NAME_BYTES = 120
_MAX_ALTERNATES = 50
# Windows (Nextcloud's desktop client) refuses these in names; they are replaced.
_REPLACED = {":": " - ", "/": "-", "\\": "-", "|": "-", '"': "'", "*": "", "?": "",
             "<": "", ">": ""}
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def _messages(store: Store) -> tuple[str, str, str]:
    where = "Nextcloud" if _is_nextcloud(store) else "le dossier partagé"
    return (
        f"Le dossier est prêt. Il sera copié dans {where} dès que possible.",
        f"Le dossier est prêt ici. Il n’a pas pu être copié dans {where} : "
        "prévenez le coordinateur.",
        where,
    )


# --- names --------------------------------------------------------------------------------


def clean_name(text: str, fallback: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """`text` as a file or folder name: NFC, one line, no `/` or other character that a
    file system or Nextcloud client refuses, trimmed, at most `max_bytes`; else `fallback`."""
    value = unicodedata.normalize("NFC", str(text or ""))
    value = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
        and c not in "\u200d" else _REPLACED.get(c, c)
        for c in value
    )
    value = " ".join(value.split())
    value = _cut(value, max_bytes).strip(" .-")
    if not value:
        value = fallback
    if _WINDOWS_RESERVED.match(value):
        value = f"{value} _"
    return value


def _cut(value: str, max_bytes: int) -> str:
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip()


def person_name(person: Person) -> str:
    """« Nom Prénom », as folders and file names write a person (family name first)."""
    family, given = person.family_name.strip(), person.given_name.strip()
    text = f"{family} {given}".strip() if family or given else person.name.strip()
    return clean_name(text, f"Personne {person.id}")


def dossier_file_name(name: str) -> str:
    return f"{DOSSIER_PREFIX}{name}.docx"


def alternate_names(name: str, when: datetime) -> Iterator[str]:
    """Names for a new dossier when the usual one was edited: the day, the time, a number."""
    day = when.strftime("%d-%m-%Y")
    hour = f"{when.hour}h{when.minute:02d}"
    yield f"{DOSSIER_PREFIX}{name} (version du {day}).docx"
    yield f"{DOSSIER_PREFIX}{name} (version du {day} {hour}).docx"
    for number in range(2, _MAX_ALTERNATES):
        yield f"{DOSSIER_PREFIX}{name} (version du {day} {hour}) ({number}).docx"


def photo_file_name(task_title: str, evidence_id: int) -> str:
    return f"{clean_name(task_title, 'Photo', max_bytes=80)} - photo {evidence_id}.jpg"


# --- the folder of a parcours -------------------------------------------------------------


def ensure_folder(session: Session, parcours: Parcours) -> DossierFolder:
    """The folder of this parcours, chosen now if it has none (stable afterwards)."""
    folder = session.scalar(select(DossierFolder).where(DossierFolder.parcours_id == parcours.id))
    if folder is not None:
        return folder
    course = session.get(Course, parcours.course_id)
    person = session.get(Person, parcours.person_id)
    assert course is not None and person is not None
    platform = session.get(Platform, course.platform_id)
    root = clean_name(PlatformSettings.of(platform).dossier_folder or ROOT_FOLDER, ROOT_FOLDER)
    course_name = clean_name(course.title or course.label, f"Cours {course.id}")
    name = person_name(person)
    base = join_path(root, course_name)
    taken = {
        p.casefold()
        for p in session.scalars(
            select(DossierFolder.path).where(DossierFolder.parent == base)
        )
    }
    for number in range(1, 1000):
        candidate = join_path(base, name if number == 1 else f"{name} ({number})")
        if candidate.casefold() in taken:
            continue
        try:
            with session.begin_nested():
                folder = DossierFolder(parcours_id=parcours.id, path=candidate, parent=base,
                                       name=name, shares={})
                session.add(folder)
                session.flush()
            return folder
        except IntegrityError:
            # A namesake took it at the same moment, or this parcours got its folder.
            existing = session.scalar(
                select(DossierFolder).where(DossierFolder.parcours_id == parcours.id)
            )
            if existing is not None:
                return existing
            taken.add(candidate.casefold())
    raise StorageError(f"no free folder name below {base!r}")


# --- writing one dossier, without ever losing an edit ---------------------------------------


@dataclass(frozen=True)
class Remembered:
    """What Repères wrote at a path last time."""

    etag: str | None
    size: int
    checksum: str


class _Kind(Enum):
    ALREADY = "already"  # the file holds the new bytes
    OURS = "ours"  # the file is what we wrote before (or our interrupted upload)
    FOREIGN = "foreign"  # someone else's content: never touched


@dataclass(frozen=True)
class Written:
    path: str
    etag: str | None


def _read_digest(store: Store, path: str, data: bytes) -> tuple[str, bool, int]:
    """(sha256, is a prefix of `data`, size read) of a stored file, read in chunks."""
    digest = hashlib.sha256()
    view = memoryview(data)
    position = 0
    prefix = True
    for chunk in store.iter_chunks(path):
        digest.update(chunk)
        if prefix:
            prefix = view[position : position + len(chunk)] == chunk
        position += len(chunk)
    return digest.hexdigest(), prefix and position <= len(data), position


def _classify(
    store: Store,
    current: StoredFile,
    remembered: Remembered | None,
    data: bytes,
    checksum: str,
    *,
    after_failure: bool,
) -> _Kind:
    size = current.size
    read: tuple[str, bool, int] | None = None

    def content() -> tuple[str, bool, int]:
        nonlocal read
        if read is None:
            read = _read_digest(store, current.path, data)
        return read

    if size == len(data) and content()[0] == checksum:
        return _Kind.ALREADY
    if remembered is not None and size == remembered.size:
        if current.etag is not None and current.etag == remembered.etag:
            return _Kind.OURS
        if content()[0] == remembered.checksum:
            return _Kind.OURS
    if after_failure and size < len(data) and content()[1]:
        # The start of our own bytes: an upload of ours that stopped half way.
        return _Kind.OURS
    return _Kind.FOREIGN


def _try_path(
    store: Store,
    path: str,
    data: bytes,
    checksum: str,
    remembered: Remembered | None,
    *,
    after_failure: bool,
) -> Written | None:
    """Write at `path` if that loses nothing; None when the file there is someone else's."""
    for _ in range(2):
        current = store.stat(path)
        if current is None:
            try:
                stored = store.put(path, data, if_none_match=True, content_type=DOCX_TYPE)
            except PreconditionFailed:
                continue  # created in the meantime: look at what it is
            return Written(path, stored.etag)
        if current.is_folder:
            return None
        kind = _classify(store, current, remembered, data, checksum,
                         after_failure=after_failure)
        if kind is _Kind.ALREADY:
            return Written(path, current.etag)
        if kind is _Kind.OURS and current.etag:
            try:
                stored = store.put(path, data, if_match=current.etag, content_type=DOCX_TYPE)
            except PreconditionFailed:
                log.info("%s changed between the check and the write: kept as edited", path)
                return None
            return Written(path, stored.etag)
        return None
    return None


def write_dossier_file(
    store: Store,
    folder: str,
    name: str,
    data: bytes,
    remembered: dict[str, Remembered],
    when: datetime,
    *,
    after_failure: bool = False,
) -> Written:
    """Write the dossier at its usual name, or beside an edited one (see module docstring)."""
    checksum = hashlib.sha256(data).hexdigest()
    usual = join_path(folder, dossier_file_name(name))
    for file_name in (dossier_file_name(name), *alternate_names(name, when)):
        path = join_path(folder, file_name)
        written = _try_path(store, path, data, checksum, remembered.get(path),
                            after_failure=after_failure)
        if written is not None:
            if path != usual:
                log.info("dossier written beside an edited file: %s", path)
            return written
    raise StorageError(f"{store.describe()}: no free name for the dossier in {folder!r}")


# --- publishing a dossier -------------------------------------------------------------------


@dataclass(frozen=True)
class PublishOutcome:
    """What happened to one dossier: its state, where it is, what to tell people."""

    dossier_id: int
    state: str
    path: str = ""
    message: str = ""
    error: str = ""
    busy: bool = False
    photos_written: int = 0


@dataclass(frozen=True)
class _Plan:
    parcours_id: int
    version: int
    folder_id: int
    folder_path: str
    name: str
    data: bytes
    remembered: dict[str, Remembered]
    after_failure: bool
    now_local: datetime


def backoff(attempts: int) -> timedelta:
    """The wait before the next try, after `attempts` failed ones (1, 5, 15, 60 min…)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def queue_dossier(session: Session, dossier: Dossier, *, now: datetime | None = None) -> None:
    """Put a new dossier in the queue before trying to write it (see INLINE_GRACE)."""
    session.add(PendingWrite(dossier_id=dossier.id, attempts=0,
                             next_attempt_at=(now or utcnow()) + INLINE_GRACE))


def _lease(runtime: Runtime, parcours_id: int) -> Lease:
    return Lease(runtime.engine, f"dossier-publish:{parcours_id}", ttl=LEASE_TTL)


def publish_dossier(
    runtime: Runtime,
    dossier_id: int,
    *,
    store: Store | None = None,
    wait_seconds: float = 10.0,
    now: datetime | None = None,
    content: bytes | None = None,
) -> PublishOutcome:
    """Write one dossier (and the photos not copied yet) into its parcours' folder.

    Never raises for a storage problem: the dossier stays queued and the outcome says so.
    `content`: the dossier's bytes when the caller holds them already (checked against the
    recorded checksum), which saves reading them back from the database.
    """
    store = store if store is not None else runtime.store
    queued_text, failed_text, where = _messages(store)
    with transaction(runtime.sessions) as session:
        parcours_id = session.scalar(select(Dossier.parcours_id).where(Dossier.id == dossier_id))
        if parcours_id is None:
            return PublishOutcome(dossier_id, "missing")
    lease = _lease(runtime, parcours_id)
    if not lease.acquire_waiting(wait_seconds, poll_seconds=0.2):
        return PublishOutcome(dossier_id, QUEUED, message=queued_text, busy=True)
    lease.start_keeper()
    try:
        plan_or_outcome = _plan(runtime, dossier_id, now, content)
        if isinstance(plan_or_outcome, PublishOutcome):
            return plan_or_outcome
        plan = plan_or_outcome
        try:
            written = write_dossier_file(
                store, plan.folder_path, plan.name, plan.data, plan.remembered,
                plan.now_local, after_failure=plan.after_failure,
            )
        except StorageError as error:
            return _record_failure(runtime, dossier_id, error, queued_text, failed_text, now)
        usual = join_path(plan.folder_path, dossier_file_name(plan.name))
        message = ""
        if written.path != usual:
            message = (
                f"Quelqu’un a changé « {dossier_file_name(plan.name)} » dans {where}. "
                f"Ses changements sont gardés. Le nouveau dossier s’appelle "
                f"« {written.path.rsplit('/', 1)[-1]} »."
            )
        _record_written(runtime, dossier_id, written, message)
        photos = _after_write(runtime, plan, store, now)
        return PublishOutcome(dossier_id, WRITTEN, written.path, message,
                              photos_written=photos)
    finally:
        lease.release()


def _after_write(runtime: Runtime, plan: _Plan, store: Store, now: datetime | None) -> int:
    """Photos, shares and the folder's link: the dossier is safe whatever happens here."""
    photos = 0
    try:
        photos = copy_photos(runtime, plan.parcours_id, store=store, now=now)
        ensure_shares(runtime, plan.parcours_id, store=store)
        remember_web_url(runtime, plan.folder_id, store)
    except Exception:
        log.exception("parcours %s: dossier written, but its photos or shares failed",
                      plan.parcours_id)
    return photos


def _plan(
    runtime: Runtime, dossier_id: int, now: datetime | None, content: bytes | None
) -> _Plan | PublishOutcome:
    moment = now or utcnow()
    with transaction(runtime.sessions) as session:
        dossier = session.get(Dossier, dossier_id, options=[defer(Dossier.content)])
        if dossier is None:
            return PublishOutcome(dossier_id, "missing")
        pending = list(session.scalars(
            select(PendingWrite).where(PendingWrite.dossier_id == dossier_id)
        ))
        if dossier.state in (WRITTEN, SUPERSEDED):
            for row in pending:
                session.delete(row)
            return PublishOutcome(dossier_id, dossier.state, dossier.storage_path,
                                  dossier.message)
        # A newer version written, or waiting to be: this one would only be overwritten.
        newer = session.scalar(
            select(Dossier.id).where(
                Dossier.parcours_id == dossier.parcours_id,
                Dossier.id > dossier.id,
                Dossier.state.in_((WRITTEN, QUEUED)),
            ).limit(1)
        )
        if content is None or hashlib.sha256(content).hexdigest() != dossier.checksum:
            content = session.scalar(select(Dossier.content).where(Dossier.id == dossier_id))
        if newer is not None or content is None:
            _supersede(session, dossier)
            return PublishOutcome(dossier_id, SUPERSEDED, message=dossier.message)
        parcours = session.get(Parcours, dossier.parcours_id)
        assert parcours is not None
        folder = ensure_folder(session, parcours)
        course = session.get(Course, parcours.course_id)
        platform = session.get(Platform, course.platform_id) if course else None
        remembered: dict[str, Remembered] = {}
        for path, etag, size, checksum in session.execute(
            select(Dossier.storage_path, Dossier.etag, Dossier.size, Dossier.checksum)
            .where(Dossier.parcours_id == dossier.parcours_id, Dossier.state == WRITTEN)
            .order_by(Dossier.id)
        ):
            remembered[path] = Remembered(etag, size, checksum)
        return _Plan(
            parcours_id=dossier.parcours_id,
            version=dossier.version,
            folder_id=folder.id,
            folder_path=folder.path,
            name=folder.name,
            data=content,
            remembered=remembered,
            # A try failed before, or a request died writing it: the file there may be
            # the start of our own upload.
            after_failure=any(row.attempts > 0 or row.next_attempt_at <= moment
                              for row in pending),
            now_local=local_time(platform, moment),
        )


def _supersede(session: Session, dossier: Dossier) -> None:
    dossier.state = SUPERSEDED
    dossier.content = None
    dossier.message = "Une version plus récente l’a remplacé avant la copie."
    session.execute(delete(PendingWrite).where(PendingWrite.dossier_id == dossier.id))


def _record_written(runtime: Runtime, dossier_id: int, written: Written, message: str) -> None:
    with transaction(runtime.sessions) as session:
        dossier = session.get(Dossier, dossier_id, options=[defer(Dossier.content)])
        assert dossier is not None
        dossier.state = WRITTEN
        dossier.storage_path = written.path
        dossier.etag = written.etag
        dossier.message = message
        session.execute(delete(PendingWrite).where(PendingWrite.dossier_id == dossier_id))
        # Older versions: the latest copy in the database is enough to download from
        # Repères; queued ones are replaced by this one.
        for older in session.scalars(
            select(Dossier).options(defer(Dossier.content))
            .where(Dossier.parcours_id == dossier.parcours_id, Dossier.id < dossier.id,
                   Dossier.state.in_((QUEUED, FAILED)))
        ):
            _supersede(session, older)
        session.execute(
            update(Dossier)
            .where(Dossier.parcours_id == dossier.parcours_id, Dossier.id < dossier.id,
                   Dossier.content.is_not(None))
            .values(content=None)
        )


def _record_failure(
    runtime: Runtime,
    dossier_id: int,
    error: StorageError,
    queued_text: str,
    failed_text: str,
    now: datetime | None,
) -> PublishOutcome:
    moment = now or utcnow()
    # A name the server refuses will be refused again: no retry, the dossier stays here.
    retry = not isinstance(error, InvalidPath)
    log.warning("dossier %s not written (%s): %s", dossier_id,
                "will retry" if retry else "gave up", error)
    with transaction(runtime.sessions) as session:
        dossier = session.get(Dossier, dossier_id, options=[defer(Dossier.content)])
        assert dossier is not None
        pending = session.scalars(
            select(PendingWrite).where(PendingWrite.dossier_id == dossier_id)
        ).first()
        if retry:
            if pending is None:
                pending = PendingWrite(dossier_id=dossier_id, attempts=0)
                session.add(pending)
            pending.attempts = (pending.attempts or 0) + 1
            pending.next_attempt_at = moment + backoff(pending.attempts)
            pending.last_error = str(error)[:2000]
            dossier.state = QUEUED
            dossier.message = queued_text
        else:
            if pending is not None:
                session.delete(pending)
            dossier.state = FAILED
            dossier.message = failed_text
        state, message = dossier.state, dossier.message
    return PublishOutcome(dossier_id, state, message=message, error=str(error))


# --- photos beside the dossier ---------------------------------------------------------------


def copy_photos(
    runtime: Runtime, parcours_id: int, *, store: Store | None = None,
    now: datetime | None = None,
) -> int:
    """Copy the reduced photos of the parcours not copied yet, each written once.

    A storage failure stops the copy and queues it (a `PendingWrite` on the photo).
    Returns how many were written.
    """
    store = store if store is not None else runtime.store
    with transaction(runtime.sessions) as session:
        parcours = session.get(Parcours, parcours_id)
        if parcours is None:
            return 0
        folder = ensure_folder(session, parcours)
        rows = session.execute(
            select(Evidence.id, Evidence.medium_path, Evidence.storage_path, Task.title)
            .join(Task, Task.id == Evidence.task_id)
            .outerjoin(PublishedPhoto, PublishedPhoto.evidence_id == Evidence.id)
            .where(
                Task.parcours_id == parcours_id,
                Task.deleted_at.is_(None),
                Evidence.deleted_at.is_(None),
                Evidence.kind == "photo",
                PublishedPhoto.id.is_(None),
            )
            .order_by(Evidence.id)
        ).all()
        folder_id, folder_path = folder.id, folder.path
    done: list[tuple[int, str, str | None]] = []
    failed: tuple[int, StorageError] | None = None
    for evidence_id, medium, original, title in rows:
        source = medium or original
        if not source:
            continue
        target = join_path(folder_path, PHOTOS_FOLDER, photo_file_name(title, evidence_id))
        try:
            data = store.get(source)
            try:
                stored = store.put(target, data, if_none_match=True, content_type="image/jpeg")
                etag = stored.etag
            except PreconditionFailed:
                # Already there (an earlier copy whose answer was lost): written once only.
                current = store.stat(target)
                etag = current.etag if current else None
        except StorageError as error:
            failed = (evidence_id, error)
            break
        done.append((evidence_id, target, etag))
    with transaction(runtime.sessions) as session:
        for evidence_id, target, etag in done:
            session.add(PublishedPhoto(evidence_id=evidence_id, folder_id=folder_id,
                                       path=target, etag=etag))
        if failed is None:
            # Every photo of the parcours is copied (or gone): nothing of it waits any more.
            session.execute(delete(PendingWrite).where(PendingWrite.evidence_id.in_(
                select(Evidence.id).join(Task, Task.id == Evidence.task_id)
                .where(Task.parcours_id == parcours_id)
            )))
        else:
            session.execute(
                delete(PendingWrite).where(PendingWrite.evidence_id.in_([d[0] for d in done]))
            )
            failed_id, failed_error = failed
            log.warning("photo %s not copied: %s", failed_id, failed_error)
            pending = session.scalars(
                select(PendingWrite).where(PendingWrite.evidence_id == failed_id)
            ).first()
            if pending is None:
                pending = PendingWrite(evidence_id=failed_id, attempts=0)
                session.add(pending)
            pending.attempts = (pending.attempts or 0) + 1
            pending.next_attempt_at = (now or utcnow()) + backoff(pending.attempts)
            pending.last_error = str(failed_error)[:2000]
    return len(done)


# --- shares (Nextcloud only) ----------------------------------------------------------------


def _is_nextcloud(store: Store) -> bool:
    return bool(getattr(store, "is_nextcloud", False)) and hasattr(store, "create_share")


def nextcloud_user(person: Person, rule: str) -> str:
    """The Nextcloud user name of a person by the platform's rule ('' when unknown)."""
    if rule == "username":
        return person.username.strip()
    if rule == "email":
        return person.email.strip()
    if rule == "email_localpart":
        return person.email.strip().partition("@")[0] if "@" in person.email else ""
    if rule == "sub":
        return person.sub.strip()
    return ""


def _wanted_users(session: Session, parcours: Parcours, rule: str) -> set[str]:
    """The course's accompagnateurs (and those following this parcours), as user names."""
    person_ids = set(session.scalars(
        select(Membership.person_id).where(
            Membership.course_id == parcours.course_id,
            Membership.role == Role.ACCOMPAGNATEUR,
        )
    ))
    person_ids |= set(session.scalars(
        select(ParcoursAccompagnateur.person_id).where(
            ParcoursAccompagnateur.parcours_id == parcours.id
        )
    ))
    person_ids.discard(parcours.person_id)
    users = set()
    for person in session.scalars(select(Person).where(Person.id.in_(person_ids))):
        user = nextcloud_user(person, rule)
        if user:
            users.add(user)
    return users


def ensure_shares(runtime: Runtime, parcours_id: int, *, store: Store | None = None) -> list[str]:
    """Share the parcours' folder with its accompagnateurs (idempotent); returns problems.

    Only with a Nextcloud store and a rule set on the platform. The server is asked only
    when the wanted people differ from the shares Repères made, or the last try failed;
    it is asked first what is shared already. Shares Repères made for someone who is no
    longer an accompagnateur of the course are removed; others are never touched.
    """
    store = store if store is not None else runtime.store
    if not _is_nextcloud(store):
        return []
    with transaction(runtime.sessions) as session:
        parcours = session.get(Parcours, parcours_id)
        folder = session.scalar(
            select(DossierFolder).where(DossierFolder.parcours_id == parcours_id)
        )
        if parcours is None or folder is None:
            return []
        course = session.get(Course, parcours.course_id)
        platform = session.get(Platform, course.platform_id) if course else None
        rule = PlatformSettings.of(platform).nextcloud_user
        if not rule:
            return []
        wanted = _wanted_users(session, parcours, rule)
        own = getattr(store, "username", None)
        wanted.discard(own or "")
        made: dict[str, Any] = dict(folder.shares or {})
        if set(made) == wanted and not folder.share_error:
            return []
        folder_id, path = folder.id, folder.path
    problems: list[str] = []
    try:
        existing = store.list_shares(path)  # type: ignore[attr-defined]
    except StorageError as error:
        problems.append(str(error))
        existing = None
    if existing is not None:
        by_user = {s.share_with: s for s in existing if s.share_type == 0 and s.share_with}
        for user in sorted(wanted):
            if user in by_user:
                made[user] = by_user[user].id
                continue
            try:
                share = store.create_share(  # type: ignore[attr-defined]
                    path, user, 0, SHARE_PERMISSIONS
                )
                made[user] = share.id
            except StorageError as error:
                problems.append(f"{user}: {error}")
        for user in sorted(set(made) - wanted):
            share_id = made.pop(user)
            found = by_user.get(user)
            if found is not None and str(found.id) == str(share_id):
                try:
                    store.delete_share(share_id)  # type: ignore[attr-defined]
                except StorageError as error:
                    problems.append(f"{user}: {error}")
                    made[user] = share_id
    with transaction(runtime.sessions) as session:
        folder = session.get(DossierFolder, folder_id)
        if folder is not None:
            folder.shares = made
            folder.share_error = "\n".join(problems)[:4000]
    for problem in problems:
        log.warning("sharing %s: %s", path, problem)
    return problems


def remember_web_url(runtime: Runtime, folder_id: int, store: Store) -> str | None:
    """The link that opens the folder in Nextcloud, asked once and kept."""
    with transaction(runtime.sessions) as session:
        folder = session.get(DossierFolder, folder_id)
        if folder is None or folder.web_url:
            return folder.web_url if folder else None
        path = folder.path
    try:
        url = store.web_url(path)
    except StorageError as error:
        log.info("no link for %s yet: %s", path, error)
        return None
    if url:
        with transaction(runtime.sessions) as session:
            folder = session.get(DossierFolder, folder_id)
            if folder is not None:
                folder.web_url = url[:1000]
    return url


# --- the queue ---------------------------------------------------------------------------------


@dataclass
class DrainReport:
    """What one pass over the queue did."""

    busy: bool = False
    due: int = 0
    written: int = 0
    still_queued: int = 0
    superseded: int = 0
    failed: int = 0
    photos: int = 0
    left: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.busy:
            return "another process is retrying the storage writes; nothing done"
        return (
            f"{self.due} due: {self.written} dossier(s) written, {self.photos} photo(s) "
            f"copied, {self.still_queued} still waiting, {self.superseded} replaced by a "
            f"newer version, {self.failed} failed; {self.left} in the queue"
        )


def drain_pending_writes(
    runtime: Runtime,
    *,
    store: Store | None = None,
    now: datetime | None = None,
    include_not_due: bool = False,
    limit: int = 500,
) -> DrainReport:
    """Try again the writes that are due (`reperes storage retry`, and the background sync)."""
    store = store if store is not None else runtime.store
    report = DrainReport()
    lease = Lease(runtime.engine, "storage-retry", ttl=LEASE_TTL)
    if not lease.acquire():
        report.busy = True
        return report
    lease.start_keeper()
    try:
        moment = now or utcnow()
        with transaction(runtime.sessions) as session:
            stmt = select(PendingWrite.id, PendingWrite.dossier_id, PendingWrite.evidence_id)
            if not include_not_due:
                stmt = stmt.where(PendingWrite.next_attempt_at <= moment)
            rows = session.execute(
                stmt.order_by(PendingWrite.next_attempt_at, PendingWrite.id).limit(limit)
            ).all()
        report.due = len(rows)
        photo_parcours: set[int] = set()
        for row_id, dossier_id, evidence_id in rows:
            try:
                if dossier_id is not None:
                    outcome = publish_dossier(runtime, dossier_id, store=store, wait_seconds=0,
                                              now=now)
                    _count(report, outcome)
                elif evidence_id is not None:
                    with transaction(runtime.sessions) as session:
                        parcours_id = session.scalar(
                            select(Task.parcours_id).join(Evidence, Evidence.task_id == Task.id)
                            .where(Evidence.id == evidence_id)
                        )
                    if parcours_id is not None and parcours_id not in photo_parcours:
                        photo_parcours.add(parcours_id)
                        report.photos += _copy_photos_leased(runtime, parcours_id, store, now,
                                                             report)
            except Exception as error:  # one bad row never stops the others
                log.exception("pending write %s failed unexpectedly", row_id)
                report.errors.append(f"pending write {row_id}: {type(error).__name__}")
        with transaction(runtime.sessions) as session:
            report.left = len(session.scalars(select(PendingWrite.id)).all())
        # Shares that failed before (a user unknown then, the server down) are tried again.
        _retry_shares(runtime, store)
    finally:
        lease.release()
    return report


def _count(report: DrainReport, outcome: PublishOutcome) -> None:
    if outcome.state == WRITTEN:
        report.written += 1
        report.photos += outcome.photos_written
    elif outcome.state == SUPERSEDED:
        report.superseded += 1
    elif outcome.state == FAILED:
        report.failed += 1
        report.errors.append(f"dossier {outcome.dossier_id}: {outcome.error}")
    elif outcome.state == QUEUED:
        report.still_queued += 1
        if outcome.error:
            report.errors.append(f"dossier {outcome.dossier_id}: {outcome.error}")


def _copy_photos_leased(
    runtime: Runtime, parcours_id: int, store: Store, now: datetime | None,
    report: DrainReport,
) -> int:
    lease = _lease(runtime, parcours_id)
    if not lease.acquire():
        return 0
    try:
        return copy_photos(runtime, parcours_id, store=store, now=now)
    except StorageError as error:  # pragma: no cover - copy_photos queues its own failures
        report.errors.append(f"photos of parcours {parcours_id}: {error}")
        return 0
    finally:
        lease.release()


def _retry_shares(runtime: Runtime, store: Store) -> None:
    if not _is_nextcloud(store):
        return
    with transaction(runtime.sessions) as session:
        parcours_ids = list(session.scalars(
            select(DossierFolder.parcours_id).where(DossierFolder.share_error != "")
        ))
    for parcours_id in parcours_ids:
        ensure_shares(runtime, parcours_id, store=store)


def folder_paths(session: Session, parcours_ids: Sequence[int]) -> list[str]:
    """The shared folders of these parcours (dossiers, edited copies, photos): what an
    erasure removes from the store, besides the evidence files."""
    return list(session.scalars(
        select(DossierFolder.path).where(DossierFolder.parcours_id.in_(list(parcours_ids)))
    ))


def pending_writes(session: Session) -> Sequence[PendingWrite]:
    """Every write waiting in the queue, the next due first (for operators)."""
    return list(session.scalars(
        select(PendingWrite).order_by(PendingWrite.next_attempt_at, PendingWrite.id)
    ))
