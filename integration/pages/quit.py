"""« Quitter »: end this browser's session, then a plain page says how to come back."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from .. import csrf
from ..auth import current_actor, logout
from ..errors import error_page
from . import handoff
from .web import page_headers

log = logging.getLogger(__name__)

bp = Blueprint("quit", __name__)


@bp.post("/quitter")
def leave() -> ResponseReturnValue:
    if current_actor() is not None:
        try:
            csrf.check()
        except csrf.CsrfRefused as refused:
            log.info("quit refused (CSRF: %s)", refused.reason)
            return error_page(403, "La page est trop ancienne. Rechargez-la et recommencez.")
        handoff.end_for_this_browser()  # the phones this computer opened sign out too
    logout()
    return redirect(url_for("quit.left"), code=303)


@bp.get("/quitter")
def left() -> ResponseReturnValue:
    return Response(render_template("quitte.html"), mimetype="text/html")


@bp.after_request
def _headers(response: Response) -> Response:
    return page_headers(response)
