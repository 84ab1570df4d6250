"""What a task can be tagged with in a référentiel: its compétences.

Some référentiels were collected incompletely: a bloc is known but not its compétences.
Such a bloc is itself taggable (its code stands for the whole bloc), so that a person
working towards it is not left without words. Codes are unique within a référentiel.
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
        if bloc.competences:
            for c in bloc.competences:
                found.append(
                    Item(ref.id, ref.version, c.code, c.intitule, c.falc, c.picto,
                         bloc.code, bloc.intitule, bloc.falc, "competence")
                )
        else:
            found.append(
                Item(ref.id, ref.version, bloc.code, bloc.intitule, bloc.falc, bloc.picto,
                     bloc.code, bloc.intitule, bloc.falc, "bloc")
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
