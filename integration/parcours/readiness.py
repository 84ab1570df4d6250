"""Ready for the jury, with care: what a parcours has before the step « prêt pour le jury ».

Read from the one progress model: the blocs where the accompagnateur said « oui » (to the
bloc or to one of its compétences), and the blocs without any proof. A parcours with blocs
without proof may still go to the jury (partial recognition is normal), after a confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Invalid
from .progress import BlocProgress, ParcoursProgress


@dataclass(frozen=True)
class BlocState:
    referentiel: str
    code: str
    words: str  # the bloc's plain words (or its official wording)


@dataclass
class Readiness:
    with_oui: list[BlocState] = field(default_factory=list)
    without_evidence: list[BlocState] = field(default_factory=list)
    blocs: int = 0

    @property
    def needs_confirmation(self) -> bool:
        """Some blocs show nothing yet: the accompagnateur confirms before the jury."""
        return bool(self.without_evidence)


def _oui(bloc: BlocProgress) -> bool:
    return bloc.totals.oui > 0 or (bloc.review is not None and bloc.review.verdict == "oui")


def readiness(progress: ParcoursProgress) -> Readiness:
    found = Readiness()
    for ref in progress.referentiels:
        for bloc in ref.blocs:
            found.blocs += 1
            state = BlocState(ref.intitule, bloc.code, bloc.falc or bloc.intitule)
            if _oui(bloc):
                found.with_oui.append(state)
            if bloc.totals.with_evidence == 0:
                found.without_evidence.append(state)
    return found


UNCOVERED = ("Des blocs n’ont encore aucune preuve. Cochez la case pour confirmer "
             "que le parcours va quand même au jury.")


def check_ready_with_care(progress: ParcoursProgress, *, became_ready: bool,
                          confirmed: bool) -> None:
    """Reaching « prêt pour le jury » with blocs that show nothing needs the
    accompagnateur's confirmation (pages and API alike). Raises Invalid on `confirme`."""
    if became_ready and not confirmed and readiness(progress).needs_confirmation:
        raise Invalid(UNCOVERED, field="confirme")
