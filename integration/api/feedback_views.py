"""API views: the accompagnateur's words on an activity (issue 17).

- comments: an accompagnateur who follows the parcours adds one; its candidat and its
  accompagnateurs read them;
- proposals: an accompagnateur proposes a compétence for an activity; the candidat
  accepts it (the link is then theirs) or declines it;
- seen: an accompagnateur marks an activity as looked at (« À regarder » hides it until
  it changes).

The rules are `parcours/access.py`'s, checked by `parcours/feedback.py`: what a person
may not see answers 404; a visible activity where the role does not allow it, 403.
Comments and proposals carry no version: a comment is only added, and a proposal is
answered once (a second answer is 409).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ..auth import signed_in
from ..parcours import feedback
from ..parcours.errors import Invalid
from .common import bp, catalog, json_body, read, write
from .serialize import comment_json, tag_proposal_json
from .task_views import _address


@bp.get("/tasks/<int:task_id>/comments")
def comments_list(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    return jsonify(comments=read(lambda db: [
        comment_json(c) for c in feedback.feedback_for(db, who, task_id).comments]))


@bp.post("/tasks/<int:task_id>/comments")
def comments_add(task_id: int) -> ResponseReturnValue:
    """An accompagnateur comments the activity (with a compétence or not)."""
    who = signed_in()
    data = json_body()
    if "comment" not in data:
        raise Invalid("Il manque « comment ».", field="comment")
    body = write(lambda db: comment_json(feedback.add_comment(db, who, task_id,
                                                              data["comment"])))
    return jsonify(body), 201


@bp.get("/tasks/<int:task_id>/proposals")
def proposals_list(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    return jsonify(proposals=read(lambda db: [
        tag_proposal_json(p) for p in feedback.feedback_for(db, who, task_id).proposals]))


@bp.post("/tasks/<int:task_id>/proposals")
def proposals_add(task_id: int) -> ResponseReturnValue:
    """An accompagnateur proposes a compétence; nothing is linked before the candidat
    accepts."""
    who = signed_in()
    data = json_body()
    ref_id, version, code = _address(data)

    def run(db: Session) -> dict[str, Any]:
        return tag_proposal_json(feedback.propose_tag(
            db, who, task_id, referentiel_id=ref_id, referentiel_version=version,
            competence_code=code, catalog=catalog(db, who)))

    return jsonify(write(run)), 201


def _decide(proposal_id: int, *, accept: bool) -> ResponseReturnValue:
    who = signed_in()

    def run(db: Session) -> dict[str, Any]:
        return tag_proposal_json(feedback.decide_proposal(
            db, who, proposal_id, accept=accept, catalog=catalog(db, who)))

    return jsonify(write(run, retry_stale=False))


@bp.post("/proposals/<int:proposal_id>/accept")
def proposal_accept(proposal_id: int) -> ResponseReturnValue:
    """The candidat says yes: the activity is linked to the compétence, as theirs."""
    return _decide(proposal_id, accept=True)


@bp.post("/proposals/<int:proposal_id>/decline")
def proposal_decline(proposal_id: int) -> ResponseReturnValue:
    """The candidat says no: nothing is linked; the proposal stays, answered."""
    return _decide(proposal_id, accept=False)


@bp.post("/tasks/<int:task_id>/seen")
def task_seen(task_id: int) -> ResponseReturnValue:
    """An accompagnateur looked at the activity now."""
    who = signed_in()
    write(lambda db: feedback.open_activity(db, who, task_id).id)
    return "", 204
