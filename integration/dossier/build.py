"""The dossier de preuves: a parcours -> `DossierContext` -> a Word file -> a `Dossier` row.

`generate_dossier` gathers what the parcours holds (`context`), renders the structure's
template (`templates`), records the new version with its template, checksum and bytes,
then hands it to `publication` to be written into the shared folder. No database
transaction is held while photos are read, while the document is rendered or while the
store is written: SQLite would lock every other writer meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.storage import StorageError, Store
from docx_templates.context import (
    date_fr,
)

from ..actor import Actor
from ..db import transaction
from ..models import (
    Course,
    Dossier,
    DossierFolder,
    Parcours,
    Person,
    Platform,
    Role,
    utcnow,
)
from ..parcours.access import parcours_for
from ..parcours.catalog import catalog_for
from ..parcours.errors import NotFound, ParcoursError
from ..platform_settings import PlatformSettings
from .folders import ensure_folder
from .publication import (
    FAILED,
    LOCAL,
    LOCAL_TEXT,
    QUEUED,
    WRITTEN,
    PublishOutcome,
    publish_dossier,
    queue_dossier,
)

if TYPE_CHECKING:
    from ..runtime import Runtime

from .context import gather, read_photos
from .templates import choose_template, render_with

log = logging.getLogger(__name__)

class DossierGone(ParcoursError):
    """This version's bytes are no longer kept (a newer one replaced it)."""

    status = 410
    title = "Cette version n’est plus gardée."


# --- generating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedDossier:
    dossier_id: int
    parcours_id: int
    version: int
    data: bytes
    download_name: str
    template: str
    outcome: PublishOutcome | None = None
    timings: dict[str, float] = field(default_factory=dict)


def download_name(name: str) -> str:
    """`Dossier de preuves - <Nom Prénom>.docx`."""
    return f"Dossier de preuves - {name}.docx"


def generate_dossier(
    runtime: Runtime,
    actor: Actor,
    parcours_id: int,
    *,
    publish: bool = True,
    queue: bool = True,
    store: Store | None = None,
    now: datetime | None = None,
) -> GeneratedDossier:
    """Make a new version of the parcours' dossier, record it, and write it to the store.

    NotFound when the actor may not read the parcours. A storage outage does not fail
    this: the dossier is kept in the database and queued (see `integration.dossier.publication`).
    `publish=False`: not written now (a web request writes it after its answer,
    `later.publish_soon`); `queue=False` as well: kept in Repères only (state ``local``).
    """
    publish = publish and queue
    store = store if store is not None else runtime.store
    moment = now or utcnow()
    timings: dict[str, float] = {}
    for _attempt in range(3):
        started = time.perf_counter()
        with transaction(runtime.sessions) as session:
            catalog = catalog_for(session, actor)
            version = _next_version(session, parcours_id)
            gathered = gather(session, actor, parcours_id, catalog=catalog, version=version,
                              now=moment)
            template = choose_template(session, gathered.platform_id,
                                       runtime.settings.dossier_template)
        timings["gather"] = time.perf_counter() - started
        started = time.perf_counter()
        read_photos(store, gathered.photos)
        timings["photos"] = time.perf_counter() - started
        started = time.perf_counter()
        data, template_name = render_with(template, gathered.context)
        timings["render"] = time.perf_counter() - started
        with transaction(runtime.sessions) as session:
            # One version number per dossier: the parcours row serialises concurrent makers
            # (SQLite's BEGIN IMMEDIATE does the same).
            session.execute(select(Parcours.id).where(Parcours.id == parcours_id)
                            .with_for_update())
            if _next_version(session, parcours_id) != version:
                continue  # another dossier took this number meanwhile: make it again
            parcours = session.get(Parcours, parcours_id)
            assert parcours is not None
            folder = ensure_folder(session, parcours)
            dossier = Dossier(
                parcours_id=parcours_id,
                version=version,
                template=template_name,
                storage_path=f"{folder.path}/{download_name(folder.name)}",
                checksum=hashlib.sha256(data).hexdigest(),
                size=len(data),
                state=QUEUED if queue else LOCAL,
                message="" if queue else LOCAL_TEXT,
                content=data,
                created_by_id=actor.person_id or None,
                created_at=moment,
            )
            session.add(dossier)
            session.flush()
            if queue:
                queue_dossier(session, dossier, now=moment)
            dossier_id = dossier.id
        outcome = None
        if publish:
            started = time.perf_counter()
            try:
                outcome = publish_dossier(runtime, dossier_id, store=store, now=now,
                                          content=data)
            except Exception:  # the dossier is safe in the queue; never lose the download
                log.exception("dossier %s: writing to the store failed unexpectedly", dossier_id)
            timings["publish"] = time.perf_counter() - started
        return GeneratedDossier(dossier_id, parcours_id, version, data,
                                download_name(gathered.person_name), template_name, outcome,
                                timings)
    raise ParcoursError("Plusieurs dossiers se créent en même temps. Réessayez.")


def _next_version(session: Session, parcours_id: int) -> int:
    current = session.scalar(
        select(func.max(Dossier.version)).where(Dossier.parcours_id == parcours_id)
    )
    return (current or 0) + 1


# --- reading dossiers back ------------------------------------------------------------------


def find_dossier(
    session: Session, actor: Actor, parcours_id: int, version: int | None = None
) -> Dossier:
    """The latest dossier of a parcours (or one version), with the parcours' read rights."""
    parcours_for(session, actor, parcours_id)
    stmt = select(Dossier).where(Dossier.parcours_id == parcours_id)
    if version is not None:
        stmt = stmt.where(Dossier.version == version)
    found = session.scalars(
        stmt.order_by(Dossier.version.desc(), Dossier.id.desc()).limit(1)
    ).first()
    if found is None:
        raise NotFound(
            "Il n’y a pas encore de dossier. Touchez « Télécharger mon dossier (Word) » "
            "pour le créer." if version is None else "Cette version du dossier n’existe pas."
        )
    return found


def dossier_bytes(store: Store, dossier: Dossier) -> bytes:
    """The bytes of a recorded dossier: kept in the database, or read back from the store
    when they are still exactly what was written there (checked by checksum)."""
    if dossier.content is not None:
        return dossier.content
    if dossier.state == WRITTEN and dossier.storage_path:
        try:
            data = store.get(dossier.storage_path)
        except StorageError as error:
            log.info("dossier %s not readable from the store: %s", dossier.id, error)
        else:
            if hashlib.sha256(data).hexdigest() == dossier.checksum:
                return data
    raise DossierGone(
        f"La version {dossier.version} du dossier n’est plus gardée : une version plus "
        "récente l’a remplacée. Téléchargez la dernière version."
    )


def person_of(session: Session, parcours_id: int) -> Person:
    parcours = session.get(Parcours, parcours_id)
    assert parcours is not None
    person = session.get(Person, parcours.person_id)
    assert person is not None
    return person


@dataclass(frozen=True)
class DossierStatus:
    """What the pages show about a parcours' dossier."""

    parcours_id: int
    version: int | None = None
    created_at: str = ""
    state: str = ""
    message: str = ""
    folder_url: str | None = None
    in_nextcloud: bool = False


def dossier_status(
    session: Session, actor: Actor, parcours_id: int, *, in_nextcloud: bool = False
) -> DossierStatus:
    """The latest dossier of the parcours and its state, in plain words (read rights)."""
    parcours = parcours_for(session, actor, parcours_id)
    latest = session.scalars(
        select(Dossier).where(Dossier.parcours_id == parcours.id)
        .order_by(Dossier.version.desc(), Dossier.id.desc()).limit(1)
    ).first()
    folder = session.scalar(select(DossierFolder).where(DossierFolder.parcours_id == parcours.id))
    url = folder.web_url if folder is not None else None
    if latest is None:
        return DossierStatus(parcours.id, folder_url=url, in_nextcloud=in_nextcloud)
    course = session.get(Course, parcours.course_id)
    platform = session.get(Platform, course.platform_id) if course else None
    message = latest.message
    if latest.state in (QUEUED, FAILED) and not message:
        where = "Nextcloud" if in_nextcloud else "le dossier partagé"
        message = f"Le dossier est prêt. Il sera copié dans {where} dès que possible."
    return DossierStatus(
        parcours.id,
        version=latest.version,
        created_at=date_fr(PlatformSettings.of(platform).local(latest.created_at)),
        state=latest.state,
        message=message,
        folder_url=url,
        in_nextcloud=in_nextcloud,
    )


def operator_actor(session: Session, parcours_id: int) -> Actor:
    """An actor for the command line: a coordinateur of the parcours' platform."""
    row = session.execute(
        select(Parcours.id, Course.platform_id, Course.id)
        .join(Course, Course.id == Parcours.course_id)
        .where(Parcours.id == parcours_id)
    ).first()
    if row is None:
        raise NotFound(f"Le parcours {parcours_id} n’existe pas.")
    return Actor(person_id=0, platform_id=row[1], course_id=row[2], role=Role.COORDINATEUR)


def context_for(runtime: Runtime, actor: Actor, parcours_id: int, *,
                store: Store | None = None) -> dict[str, Any]:
    """The context of a new dossier, photos read (for tests and for people writing templates)."""
    with transaction(runtime.sessions) as session:
        gathered = gather(session, actor, parcours_id, catalog=catalog_for(session, actor),
                          version=_next_version(session, parcours_id), now=utcnow())
    read_photos(store if store is not None else runtime.store, gathered.photos)
    return dict(gathered.context)
