"""The service's view of référentiels: the shipped ones plus those imported into the database.

Imported référentiels live in `ReferentielRecord` as canonical JSON (`referentiels.dump`).
A catalog is rebuilt only when the set of records changes, so a request pays one small
query. Each process keeps its own copy: nothing here is shared state between instances.

Namespaces. The operator's imports (`reperes referentiels import`) and the shipped files
share one global namespace: every platform sees them. A coordinateur's import from the
course page lives in the namespace of their platform: its stored id is prefixed by the
platform, ``p<platform id>~<id>`` (``p3~RNCP34947``), and its compétence addresses read
``p3~RNCP34947@2024-01-01#C1``; tags keep that id like any other. So a platform's import
never blocks the operator's import of the real fiche, and never shadows the operator's
référentiel for the other platforms. A coordinateur who imports exactly a référentiel the
operator already offers gets the common one, nothing is copied.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel, ReferentielError, dump, load_shipped, loads

from ..actor import Actor
from ..models import ReferentielRecord

log = logging.getLogger(__name__)

# How long a process trusts its catalog before asking the database again: an import made
# through another instance shows here within this delay.
RECHECK_SECONDS = 5.0

_lock = threading.Lock()


@dataclass
class _Cached:
    key: tuple[tuple[int, str], ...]
    catalog: Catalog
    checked_at: float


# One entry per database and platform: a process may talk to several databases (tests,
# the CLI, two instances), and each platform sees its own imports besides the common ones.
_cache: dict[tuple[str, int | None], _Cached] = {}

EVERY_PLATFORM = -1  # the operator's view: every record, whoever imported it

_NAMESPACE = re.compile(r"p([0-9]{1,9})~")


def platform_id_of(ref_id: str) -> int | None:
    """The platform whose namespace holds `ref_id`; None for a common id."""
    found = _NAMESPACE.match(ref_id)
    return int(found.group(1)) if found else None


def common_id(ref_id: str) -> str:
    """`ref_id` without its platform prefix (``p3~RNCP34947`` -> ``RNCP34947``)."""
    found = _NAMESPACE.match(ref_id)
    return ref_id[found.end():] if found else ref_id


def platform_scoped_id(platform_id: int, ref_id: str) -> str:
    """The id a référentiel imported by `platform_id` is stored under."""
    return f"p{platform_id}~{common_id(ref_id)}"


def _records(platform_id: int | None) -> Select[tuple[ReferentielRecord]]:
    query = select(ReferentielRecord).order_by(ReferentielRecord.id)
    if platform_id == EVERY_PLATFORM:
        return query
    visible = ReferentielRecord.platform_id.is_(None)
    if platform_id is not None:
        visible = or_(visible, ReferentielRecord.platform_id == platform_id)
    return query.where(visible)


def load_catalog(session: Session, *, platform_id: int | None, fresh: bool = False) -> Catalog:
    """Shipped référentiels plus the imported ones this launch may see.

    A coordinateur's import is seen on their platform only; an operator's everywhere.
    `platform_id` is the launch's platform; None shows the operator's only, EVERY_PLATFORM
    every one (the CLI). The records are checked at most every few seconds (`fresh` forces it).
    """
    scope = platform_id
    assert scope is None or isinstance(scope, int)
    database = (str(session.get_bind().engine.url), scope)
    with _lock:
        cached = _cache.get(database)
        if not fresh and cached and time.monotonic() - cached.checked_at < RECHECK_SECONDS:
            return cached.catalog
    records = _records(scope)
    rows = session.execute(
        select(ReferentielRecord.id, ReferentielRecord.imported_at).where(
            ReferentielRecord.id.in_(records.with_only_columns(ReferentielRecord.id))
        ).order_by(ReferentielRecord.id)
    ).all()
    key = tuple((row.id, row.imported_at.isoformat()) for row in rows)
    with _lock:
        cached = _cache.get(database)
        if cached is not None and cached.key == key:
            cached.checked_at = time.monotonic()
            return cached.catalog
    catalog = Catalog(load_shipped())
    if rows:
        for record in session.scalars(records):
            try:
                catalog.add(loads(record.document, source=f"base:{record.referentiel_id}"))
            except ReferentielError as error:
                log.warning("imported référentiel %s@%s skipped: %s",
                            record.referentiel_id, record.version, error)
    with _lock:
        _cache[database] = _Cached(key, catalog, time.monotonic())
    return catalog


def import_referentiel(
    session: Session, ref: Referentiel, source_format: str = "", platform_id: int | None = None
) -> bool:
    """Store `ref` in the database. False when the same content is already there.

    `ReferentielError` when another content already holds its id and version (a new
    wording must be a new version).
    """
    added, _ = import_referentiels(session, [ref], source_format, platform_id)
    return added == 1


def _forget(session: Session) -> None:
    """Look again at the next call: new records count once committed."""
    database = str(session.get_bind().engine.url)
    with _lock:
        for key in [k for k in _cache if k[0] == database]:
            del _cache[key]


def resolve(catalog: Catalog, ref_id: str, version: str | None = None) -> Referentiel:
    """One référentiel; without a version, the latest in force. `ReferentielError` if unknown.

    Accepts "ID@VERSION" in `ref_id` too.
    """
    if version is None and "@" in ref_id:
        ref_id, _, version = ref_id.partition("@")
    return catalog.get(ref_id, version or None)


def import_referentiels(
    session: Session,
    refs: Iterable[Referentiel],
    source_format: str = "",
    platform_id: int | None = None,
    *,
    stored: list[Referentiel] | None = None,
) -> tuple[int, int]:
    """Store many référentiels (e.g. streamed from a national RNCP export) in one pass.

    `platform_id`: the coordinateur's platform, the only one to see them, under ids in
    its namespace (`platform_scoped_id`); None for the operator's imports, which every
    platform sees. `stored`, when given, receives each référentiel as it is now known
    (its id prefixed for a platform). Returns (added, already present).
    Raises `ReferentielError` on the first clash; the caller's transaction then rolls
    everything back, so nothing is half-imported.
    """
    # Ids and versions are unique in the database: check against every record. A
    # platform's ids carry its prefix, so they only ever meet that platform's own.
    catalog = load_catalog(session, fresh=True, platform_id=EVERY_PLATFORM)
    common = load_catalog(session, fresh=True, platform_id=None)
    seen: dict[tuple[str, str], Referentiel] = {}
    added = unchanged = 0
    for ref in refs:
        if platform_id is None:
            if platform_id_of(ref.id) is not None:
                raise ReferentielError(
                    f"l'identifiant « {ref.id} » est réservé aux imports d'une plateforme "
                    f"(préfixe « p<numéro>~ ») : importez-le sous « {common_id(ref.id)} »"
                )
        else:
            held_by_all = common.find(common_id(ref.id), ref.version)
            if held_by_all is not None and held_by_all == dataclasses.replace(
                ref, id=held_by_all.id, provenance=held_by_all.provenance
            ):
                # Already offered to every platform, word for word (only the provenance,
                # e.g. the file's name, may differ): nothing to copy.
                unchanged += 1
                if stored is not None:
                    stored.append(held_by_all)
                continue
            ref = dataclasses.replace(ref, id=platform_scoped_id(platform_id, ref.id))
        if stored is not None:
            stored.append(ref)
        held = catalog.find(ref.id, ref.version) or seen.get(ref.key)
        if held is not None:
            if held != ref:
                raise ReferentielError(
                    f"le référentiel {ref.id}@{ref.version} existe déjà avec un autre contenu : "
                    "donnez une nouvelle version au texte modifié"
                )
            unchanged += 1
            continue
        session.add(
            ReferentielRecord(
                platform_id=platform_id,
                referentiel_id=ref.id,
                version=ref.version,
                document=dump(ref),
                source_format=source_format,
            )
        )
        seen[ref.key] = ref
        added += 1
        if added % 500 == 0:
            session.flush()
            session.expunge_all()
    session.flush()
    if added:
        _forget(session)
    return added, unchanged


def catalog_for(session: Session, actor: Actor) -> Catalog:
    """The référentiels the actor's platform sees (the pages and the API)."""
    return load_catalog(session, platform_id=actor.platform_id)
