"""The life of an RNCP référentiel: its échéance, its « actif » flag, its successors.

Shipped data ages: a fiche stops being delivered after its échéance and the RNCP names
the fiche that replaces it. An expired référentiel stays readable for the parcours that
use it; the coordinateur is told « n'est plus délivré après le … » and offered its
successor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from referentiels.model import RNCP_PATTERN, Referentiel, version_order

LifeStatus = Literal["en_vigueur", "historique", "expire"]


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """`status`: « expire » once the échéance is past or the RNCP says inactive."""

    status: LifeStatus
    echeance: str | None
    active: bool | None
    successors: tuple[str, ...]
    expired: bool


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def lifecycle(ref: Referentiel, on: dt.date | None = None) -> Lifecycle:
    """The life-cycle fields of `ref` as of `on` (today by default)."""
    prov = ref.provenance
    day = on or today()
    past = prov.echeance is not None and dt.date.fromisoformat(prov.echeance) < day
    expired = ref.rncp is not None and (past or prov.active is False)
    status: LifeStatus = "expire" if expired else prov.status
    return Lifecycle(status, prov.echeance, prov.active, prov.successors, expired)


def french_date(iso: str) -> str:
    """``2025-08-31`` -> ``31/08/2025``."""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def expiry_message(ref: Referentiel, on: dt.date | None = None) -> str | None:
    """« n'est plus délivré après le 31/08/2025 » for an expired référentiel, else None."""
    life = lifecycle(ref, on)
    if not life.expired:
        return None
    if life.echeance:
        return f"n'est plus délivré après le {french_date(life.echeance)}"
    return "n'est plus délivré (fiche RNCP inactive)"


def successors_in(ref: Referentiel, catalog: Iterable[Referentiel]) -> list[Referentiel]:
    """The référentiels of `catalog` that replace `ref`, newest first.

    A successor named by RNCP number matches a référentiel with that number; one named by
    id (``ID`` or ``ID@VERSION``) matches that id. A newer version in force of the same
    id, or of the same RNCP fiche (refreshed from the national export), is one too.
    """
    named = set(ref.provenance.successors)
    found: list[Referentiel] = []
    for other in catalog:
        if other.key == ref.key:
            continue
        by_rncp = other.rncp is not None and other.rncp in named
        by_id = other.id in named or f"{other.id}@{other.version}" in named
        later = version_order(other.version) > version_order(ref.version)
        newer = other.status == "en_vigueur" and later and (
            other.id == ref.id or (ref.rncp is not None and other.rncp == ref.rncp)
        )
        if by_rncp or by_id or newer:
            found.append(other)
    found.sort(key=lambda r: version_order(r.version), reverse=True)
    return found


def unknown_successors(ref: Referentiel, catalog: Iterable[Referentiel]) -> list[str]:
    """Successor RNCP numbers named by `ref` that no référentiel of `catalog` holds."""
    held = {r.rncp for r in catalog if r.rncp} | {r.id for r in catalog}
    return [
        s for s in ref.provenance.successors
        if RNCP_PATTERN.fullmatch(s) and s not in held
    ]
