"""What the coordinateur is told about one référentiel: whole or « à compléter », still
delivered or not, and what replaces it.

The rules live in the library (`referentiels.completeness`, `referentiels.lifecycle`);
this module words them for the coordinateur's pages. An expired référentiel stays
readable for the parcours that use it: only the coordinateur is told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from referentiels import Referentiel
from referentiels.completeness import Completeness, completeness
from referentiels.lifecycle import (
    Lifecycle,
    expiry_message,
    lifecycle,
    successors_in,
    unknown_successors,
)


@dataclass(frozen=True)
class ReferentielState:
    completeness: Completeness
    lifecycle: Lifecycle
    expiry: str | None  # « n'est plus délivré après le 31/08/2025 »
    successors: list[str]  # what to propose instead, in words

    @property
    def complete(self) -> bool:
        return self.completeness.complete


def state_of(
    ref: Referentiel, catalog: Iterable[Referentiel], on: dt.date | None = None
) -> ReferentielState:
    refs = list(catalog)
    proposed = [
        f"{other.intitule} ({other.id}@{other.version})" for other in successors_in(ref, refs)
    ]
    proposed += [
        f"la fiche {numero} : importez-la depuis l’export RNCP"
        for numero in unknown_successors(ref, refs)
    ]
    life = lifecycle(ref, on)
    return ReferentielState(
        completeness(ref), life, expiry_message(ref, on), proposed
    )


def states_of(
    refs: Iterable[Referentiel], on: dt.date | None = None
) -> dict[str, ReferentielState]:
    """The state of each référentiel, keyed "id@version"."""
    every = list(refs)
    return {f"{r.id}@{r.version}": state_of(r, every, on) for r in every}
