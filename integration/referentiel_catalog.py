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

from sqlalchemy import select
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel, ReferentielError, dump, load_shipped, loads

from .models import ReferentielRecord

log = logging.getLogger(__name__)

# How long a process trusts its catalog before asking the database again: an import made
# through another instance shows here within this delay.
RECHECK_SECONDS = 5.0

_lock = threading.Lock()
_cached: tuple[tuple[tuple[int, str], ...], Catalog] | None = None
_checked_at = 0.0


def load_catalog(session: Session, *, fresh: bool = False) -> Catalog:
    """Shipped référentiels plus the imported ones (a shipped key wins over a clashing record).

    The set of imported records is checked at most every few seconds (`fresh` forces it).
    """
    global _cached, _checked_at
    with _lock:
        if not fresh and _cached is not None and time.monotonic() - _checked_at < RECHECK_SECONDS:
            return _cached[1]
    rows = session.execute(
        select(ReferentielRecord.id, ReferentielRecord.imported_at).order_by(ReferentielRecord.id)
    ).all()
    key = tuple((row.id, row.imported_at.isoformat()) for row in rows)
    with _lock:
        if _cached is not None and _cached[0] == key:
            _checked_at = time.monotonic()
            return _cached[1]
    catalog = Catalog(load_shipped())
    if rows:
        for record in session.scalars(select(ReferentielRecord).order_by(ReferentielRecord.id)):
            try:
                catalog.add(loads(record.document, source=f"base:{record.referentiel_id}"))
            except ReferentielError as error:
                log.warning("imported référentiel %s@%s skipped: %s",
                            record.referentiel_id, record.version, error)
    with _lock:
        _cached = (key, catalog)
        _checked_at = time.monotonic()
    return catalog


def import_referentiel(session: Session, ref: Referentiel, source_format: str = "") -> bool:
    """Store `ref` in the database. False when the same content is already there.

    `ReferentielError` when another content already holds its id and version (a new
    wording must be a new version).
    """
    catalog = load_catalog(session, fresh=True)
    held = catalog.find(ref.id, ref.version)
    if held is not None:
        if held != ref:
            raise ReferentielError(
                f"le référentiel {ref.id}@{ref.version} existe déjà avec un autre contenu : "
                "donnez une nouvelle version au texte modifié"
            )
        return False
    session.add(
        ReferentielRecord(
            referentiel_id=ref.id,
            version=ref.version,
            document=dump(ref),
            source_format=source_format,
        )
    )
    session.flush()
    global _checked_at
    with _lock:
        _checked_at = 0.0  # look again at the next call: this record counts once committed
    return True


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
    catalog = load_catalog(session)
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
    return added, unchanged
