"""What a task can be tagged with in a référentiel: its compétences, and nothing else.

A bloc is never a taggable item in place of its compétences: a bloc whose compétences
are not known offers nothing to tag (the référentiel is « à compléter », see
`referentiels.completeness`, and is not offered to a candidat). Codes are unique
within a référentiel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from referentiels import Referentiel


@dataclass(frozen=True)
class Item:
    referentiel_id: str
    referentiel_version: str
    code: str
    intitule: str
    falc: str | None
    picto: str | None
    bloc_code: str
    bloc_intitule: str
    bloc_falc: str | None
    kind: str  # "competence" | "bloc"

    @property
    def address(self) -> str:
        return f"{self.referentiel_id}@{self.referentiel_version}#{self.code}"


@lru_cache(maxsize=256)
def _items(ref: Referentiel) -> tuple[Item, ...]:
    found: list[Item] = []
    for bloc in ref.blocs:
        for c in bloc.competences:
            if c.truncated:
                continue  # a cut wording is never offered as if it were whole
            found.append(
                Item(ref.id, ref.version, c.code, c.intitule, c.falc, c.picto,
                     bloc.code, bloc.intitule, bloc.falc, "competence")
            )
    return tuple(found)


def items_of(ref: Referentiel) -> tuple[Item, ...]:
    """Every taggable item, in the official order."""
    return _items(ref)


def find_item(ref: Referentiel, code: str) -> Item | None:
    for item in _items(ref):
        if item.code == code:
            return item
    return None


def recognisable_codes(ref: Referentiel) -> set[str]:
    """Codes a jury may recognise: every bloc and every compétence."""
    codes = {b.code for b in ref.blocs}
    codes.update(c.code for c in ref.competences())
    return codes
