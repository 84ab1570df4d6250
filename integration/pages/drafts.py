"""Drafts of the candidat's forms, kept on the server as the person types (issue 15).

The page's script posts what the form holds (JSON, with the session's CSRF header) a
moment after each change; the form page offers « Je reprends ce que j'avais écrit »
when a draft is there. The browser keeps its own copy too (localStorage), which
outlives an ended session: see integration/static/reperes.js.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import Response, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..actor import Actor
from ..auth import require_actor, signed_in
from ..parcours import drafts
from ..parcours.errors import Invalid
from .web import bp, run

launched = require_actor()
EDIT = re.compile(r"^task-(\d{1,12})-edit$")


def person_key(who: Actor) -> str:
    """What names this person's drafts in the browser: stable, and says nothing of who."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    text = f"draft:{who.platform_id}:{who.course_id}:{who.person_id}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()[:20]


def form_key_new() -> str:
    return "task-new"


def form_key_edit(task_id: int) -> str:
    return f"task-{task_id}-edit"


@bp.post("/moi/brouillons/<form_key>")
@launched
def draft_save(form_key: str) -> ResponseReturnValue:
    who = signed_in()
    data = request.get_json(silent=True)
    if data is None:
        raise Invalid("Le brouillon n’est pas lisible.", field="data")
    run(lambda db: drafts.save_draft(db, who, form_key, data))
    return Response(status=204)


@bp.post("/moi/brouillons/<form_key>/effacer")
@launched
def draft_drop(form_key: str) -> ResponseReturnValue:
    """« Je recommence » : the draft goes, the empty form comes back."""
    who = signed_in()
    run(lambda db: drafts.drop_draft(db, who, form_key))
    if request.accept_mimetypes.best == "application/json":
        return Response(status=204)
    edit = EDIT.match(form_key)
    if edit:
        return redirect(url_for("pages.task_edit", task_id=int(edit.group(1))), code=303)
    return redirect(url_for("pages.task_new"), code=303)
