"""The service's view of référentiels: the shipped ones plus those imported into the database.

Imported référentiels live in `ReferentielRecord` as canonical JSON (`referentiels.dump`).
A catalog is rebuilt only when the set of records changes, so a request pays one small
query. Each process keeps its own copy: nothing here is shared state between instances.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel, ReferentielError, dump, load_shipped, loads

from .models import ReferentielRecord

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


# One entry per database: a process may talk to several (tests, the CLI, two instances).
_cache: dict[str, _Cached] = {}


def load_catalog(session: Session, *, fresh: bool = False) -> Catalog:
    """Shipped référentiels plus the imported ones (a shipped key wins over a clashing record).

    The set of imported records is checked at most every few seconds (`fresh` forces it).
    """
    database = str(session.get_bind().engine.url)
    with _lock:
        cached = _cache.get(database)
        if not fresh and cached and time.monotonic() - cached.checked_at < RECHECK_SECONDS:
            return cached.catalog
    rows = session.execute(
        select(ReferentielRecord.id, ReferentielRecord.imported_at).order_by(ReferentielRecord.id)
    ).all()
    key = tuple((row.id, row.imported_at.isoformat()) for row in rows)
    with _lock:
        cached = _cache.get(database)
        if cached is not None and cached.key == key:
            cached.checked_at = time.monotonic()
            return cached.catalog
    catalog = Catalog(load_shipped())
    if rows:
        for record in session.scalars(select(ReferentielRecord).order_by(ReferentielRecord.id)):
            try:
                catalog.add(loads(record.document, source=f"base:{record.referentiel_id}"))
            except ReferentielError as error:
                log.warning("imported référentiel %s@%s skipped: %s",
                            record.referentiel_id, record.version, error)
    with _lock:
        _cache[database] = _Cached(key, catalog, time.monotonic())
    return catalog


def import_referentiel(session: Session, ref: Referentiel, source_format: str = "") -> bool:
    """Store `ref` in the database. False when the same content is already there.

    `ReferentielError` when another content already holds its id and version (a new
    wording must be a new version).
    """
    added, _ = import_referentiels(session, [ref], source_format)
    return added == 1


def _forget(session: Session) -> None:
    """Look again at the next call: new records count once committed."""
    with _lock:
        _cache.pop(str(session.get_bind().engine.url), None)


def resolve(catalog: Catalog, ref_id: str, version: str | None = None) -> Referentiel:
    """One référentiel; without a version, the latest in force. `ReferentielError` if unknown.

    Accepts "ID@VERSION" in `ref_id` too.
    """
    if version is None and "@" in ref_id:
        ref_id, _, version = ref_id.partition("@")
    return catalog.get(ref_id, version or None)


def import_referentiels(
    session: Session, refs: Iterable[Referentiel], source_format: str = ""
) -> tuple[int, int]:
    """Store many référentiels (e.g. streamed from a national RNCP export) in one pass.

    Returns (added, already present). Raises `ReferentielError` on the first clash; the
    caller's transaction then rolls everything back, so nothing is half-imported.
    """
    catalog = load_catalog(session, fresh=True)
    seen: dict[tuple[str, str], Referentiel] = {}
    added = unchanged = 0
    for ref in refs:
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
