"""The candidat's side of the accompagnateur's words (issue 17): the comments on an
activity and the compétences proposed, shown in the activity page's slot
(`_from_accompagnateur.html`, through the `feedback_for(task)` template global), and the
answers « Oui, c’est juste » / « Non » to a proposal.

Who may decide is `parcours/access.py`'s rule (the candidat of the parcours); the writes
are `parcours/feedback.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ..auth import current_actor, require_actor, signed_in
from ..models import ActivityComment, Role, Task
from ..parcours import feedback
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, NotFound, ParcoursError
from ..parcours.items import find_item
from .web import bp, form, run

candidat_only = require_actor(Role.CANDIDAT)


@dataclass(frozen=True)
class Proposed:
    id: int
    words: str  # the compétence in plain words
    official: str
    by: str
    at: datetime
    accepted: bool | None
    pending: bool


@dataclass
class FromAccompagnateur:
    comments: list[ActivityComment] = field(default_factory=list)
    proposals: list[Proposed] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.comments or self.proposals)


def _gather(db: Session, task_id: int) -> FromAccompagnateur:
    who = signed_in()
    said = feedback.feedback_for(db, who, task_id)
    catalog = catalog_for(db, who)
    proposals = []
    for p in said.proposals:
        ref = catalog.find(p.referentiel_id, p.referentiel_version)
        item = find_item(ref, p.competence_code) if ref is not None else None
        words = (item.falc or item.intitule) if item else p.competence_code
        proposals.append(Proposed(p.id, words, item.intitule if item else "",
                                  p.proposed_by_name, p.created_at, p.accepted,
                                  p.decided_at is None))
    return FromAccompagnateur(said.comments, proposals)


@bp.app_template_global("feedback_for")
def feedback_for(task: Task) -> FromAccompagnateur:
    """What the accompagnateurs said about this activity, for whoever sees the page."""
    if current_actor() is None:
        return FromAccompagnateur()
    try:
        return run(lambda db: _gather(db, task.id))
    except NotFound:
        return FromAccompagnateur()


def _decide(proposal_id: int, accept: bool) -> ResponseReturnValue:
    who = signed_in()
    form()  # the CSRF token was checked by the blueprint

    def decide(db: Session) -> int:
        done = feedback.decide_proposal(db, who, proposal_id, accept=accept,
                                        catalog=catalog_for(db, who))
        return done.task_id

    try:
        task_id = run(decide)
    except ParcoursError as error:
        if isinstance(error, NotFound | Forbidden):
            raise
        flash(error.message, "warn")
        task_id = run(lambda db: feedback.proposal_for(db, who, proposal_id).task_id)
    else:
        flash("C’est noté : la compétence est ajoutée à votre activité." if accept
              else "C’est noté : vous n’avez pas pris cette compétence.", "ok")
    return redirect(url_for("pages.task_view", task_id=task_id) + "#accompagnateur", code=303)


@bp.post("/moi/propositions/<int:proposal_id>/oui")
@candidat_only
def proposal_accept(proposal_id: int) -> ResponseReturnValue:
    return _decide(proposal_id, True)


@bp.post("/moi/propositions/<int:proposal_id>/non")
@candidat_only
def proposal_decline(proposal_id: int) -> ResponseReturnValue:
    return _decide(proposal_id, False)
