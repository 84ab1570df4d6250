"""Pages both roles use: one photo at a readable size, and opening Repères in a new window."""

from __future__ import annotations

from flask import redirect, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from .. import parcours as services
from ..auth import require_actor, signed_in
from ..lti import tickets
from ..lti.context import lti_context
from ..models import Evidence, Task
from .web import bp, page, run


@bp.get("/preuve/<int:evidence_id>")
@require_actor()
def evidence(evidence_id: int) -> ResponseReturnValue:
    """One evidence, shown at a readable size, with the way back to its task."""
    who = signed_in()

    def load(db: Session) -> tuple[Evidence, Task, int]:
        found = services.get_evidence(db, who, evidence_id)
        parcours = found.task.parcours
        if parcours.course_id != who.course_id:
            raise services.NotFound("Cette preuve n’existe pas, ou vous ne pouvez pas la voir.")
        return found, found.task, parcours.id

    found, task, parcours_id = run(load)
    if who.is_candidat:
        back = url_for("pages.task_view", task_id=task.id)
    else:
        back = url_for("pages.candidat", parcours_id=parcours_id) + f"#t-{task.id}"
    return page("pages/evidence.html", evidence=found, task=task, back=back)


@bp.post("/fenetre")
@require_actor()
def new_window() -> ResponseReturnValue:
    """A one-time ticket that opens the same space in a new window (first-party cookie)."""
    who = signed_in()
    ticket, binding = tickets.issue_continue_ticket(lti_context(), who.to_session())
    config = {"page": "open", "ticket": ticket, "binding": binding, "check_session": False}
    return page("pages/new_window.html", config=config)


@bp.get("/fenetre")
@require_actor()
def new_window_get() -> ResponseReturnValue:
    return redirect(url_for("home.home"), code=303)


