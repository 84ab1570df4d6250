"""The landing page: an actor goes to their space; anyone else is told where to start."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template
from flask.typing import ResponseReturnValue

from ..auth import current_actor
from ..runtime import current_runtime

bp = Blueprint("home", __name__)

SPACES = {"candidat": "/moi", "accompagnateur": "/cours", "coordinateur": "/cours"}


@bp.get("/")
def home() -> ResponseReturnValue:
    actor = current_actor()
    if actor is not None:
        return redirect(SPACES[actor.role.value], code=303)
    demo = current_runtime().settings.demo
    return render_template("home.html", demo=demo)
