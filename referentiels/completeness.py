"""Is a référentiel whole? What is missing, in words a coordinateur can act on.

A référentiel is offered to a candidat only when it is whole: every bloc has its
compétences, no wording is cut, and its provenance does not say that parts were not
seen. Otherwise it is « à compléter », with the list of what is missing. A bloc is
never a taggable item in place of its compétences.
"""

from __future__ import annotations

from dataclasses import dataclass

from referentiels.model import Bloc, Referentiel

NOT_SEEN = "la source consultée n'a pas montré tous les blocs ou toutes les compétences"


@dataclass(frozen=True, slots=True)
class Completeness:
    """`complete` when nothing is missing; `missing` says what is, one line each.

    `complete_blocs` are the codes of the blocs whose compétences are all known and
    whole (they can be offered alone, clearly, when the référentiel is not whole).
    """

    complete: bool
    missing: tuple[str, ...]
    complete_blocs: tuple[str, ...]

    @property
    def label(self) -> str:
        return "complet" if self.complete else "à compléter"


def bloc_is_complete(bloc: Bloc) -> bool:
    """A bloc with at least one compétence and no cut wording."""
    return bool(bloc.competences) and not any(c.truncated for c in bloc.competences)


def completeness(ref: Referentiel) -> Completeness:
    """What `ref` lacks to be offered whole to a candidat."""
    missing: list[str] = []
    if not ref.blocs:
        missing.append("aucun bloc de compétences connu")
    for bloc in ref.blocs:
        if not bloc.competences:
            missing.append(f"bloc {bloc.code} « {bloc.intitule} » : aucune compétence connue")
        for competence in bloc.competences:
            if competence.truncated:
                missing.append(
                    f"compétence {competence.code} : libellé coupé « {competence.intitule} … »"
                )
    if not ref.provenance.complete:
        missing.append(NOT_SEEN)
    return Completeness(
        complete=not missing,
        missing=tuple(missing),
        complete_blocs=tuple(b.code for b in ref.blocs if bloc_is_complete(b)),
    )


def is_complete(ref: Referentiel) -> bool:
    return completeness(ref).complete
