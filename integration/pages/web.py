"""What every page view shares: the blueprint, the actor, one transaction, rendering, errors.

Views stay thin: parse the request, call one function (a parcours service, or a page
model of `integration.pages.screens` / `board` that gathers what one screen shows from
the services), render. Forms post back, then redirect (POST-redirect-GET); a refused
input renders the same form again, filled as it was sent, with the message beside the
field and a summary on top.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import RequestEntityTooLarge

from .. import csrf
from ..auth import current_actor, signed_in
from ..db import transaction
from ..errors import error_page
from ..models import Platform
from ..parcours.errors import ParcoursError, StaleVersion
from ..platform_settings import PlatformSettings
from ..runtime import current_runtime
from .words import (
    MODALITE_WORDS,
    STATUS_PICTOS,
    STATUS_WORDS,
    VERDICT_PICTOS,
    VERDICT_WORDS,
)

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

T = TypeVar("T")

# Pages are framed by Moodle (any site may frame them: the launch decides who sees what),
# and load nothing from elsewhere. Photos previewed before sending are blob: URLs.
CSP = (
    "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors *"
)




def run(fn: Callable[[Session], T]) -> T:
    """Run `fn` in one transaction, committed when it returns."""
    try:
        with transaction(current_runtime().sessions) as db:
            return fn(db)
    except StaleDataError:
        raise StaleVersion(
            "Quelqu’un a changé cette fiche en même temps. "
            "Vos mots sont encore là : vérifiez-les et enregistrez à nouveau.",
            current_version=-1,
        ) from None


def page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status,
                        mimetype="text/html")
    return response


def form() -> dict[str, str]:
    """The posted text fields (a text too big for the request becomes a clear refusal)."""
    try:
        return {k: v for k, v in request.form.items() if k != csrf.FIELD}
    except RequestEntityTooLarge:
        raise ParcoursError("Le texte ou le fichier est trop gros. Raccourcissez-le.") from None


# Forms whose view says « too big » on the form itself, the words kept (issue 15): a body
# too big to read is handed to them unread; they write nothing then.
TOO_LARGE_SAID_ON_FORM = frozenset({"pages.task_new", "pages.task_photos"})


@bp.before_request
def _guard() -> None:
    signed_in()
    if request.method == "POST":
        try:
            csrf.check()
        except RequestEntityTooLarge:
            if request.endpoint in TOO_LARGE_SAID_ON_FORM:
                return
            abort(413)


def csp(*, form_action: str | None = None) -> str:
    """The pages' policy; `form_action` adds the one other origin a form may post to
    (the platform's deep-linking return URL)."""
    if form_action is None:
        return CSP
    return CSP.replace("form-action 'self'", f"form-action 'self' {form_action}")


def page_headers(response: Response) -> Response:
    """The headers of every page of ours (pages, /lti, « Quitter »)."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
    return response


@bp.after_request
def _headers(response: Response) -> Response:
    return page_headers(response)


@bp.context_processor
def _page_context() -> dict[str, Any]:
    sprite = url_for("static", filename="pictos/pictos.svg")

    def icon(name: str, cls: str = "icon") -> Markup:
        """A pictogram beside words: decorative, hidden from screen readers."""
        return _icon(sprite, name, cls)

    return {
        "viewer": current_actor(),
        "icon": icon,
        "links": Links.now(),
        "csrf_field": csrf.FIELD,
        "page_csrf": csrf.csrf_token,
        "verdict_words": VERDICT_WORDS,
        "verdict_pictos": VERDICT_PICTOS,
        "status_words": STATUS_WORDS,
        "status_pictos": STATUS_PICTOS,
        "modalite_words": MODALITE_WORDS,
    }


@dataclass(frozen=True)
class Links:
    """URL patterns made once per page (`links.task.format(id)`): a list of 200 cards
    would otherwise build 400 URLs through the router."""

    task: str
    evidence_page: str
    preview: str

    @classmethod
    def now(cls) -> Links:
        def pattern(endpoint: str, **values: Any) -> str:
            return url_for(endpoint, **values).replace(_MARK, "{}")

        return cls(
            task=pattern("pages.task_view", task_id=int(_MARK)),
            evidence_page=pattern("pages.evidence", evidence_id=int(_MARK)),
            preview=pattern("api.evidence_file", evidence_id=int(_MARK), variant="preview"),
        )


_MARK = "987654321"
ICON = Markup('<svg class="%s" aria-hidden="true"><use href="%s#%s"></use></svg>')


@functools.lru_cache(maxsize=1024)
def _icon(sprite: str, name: str, cls: str) -> Markup:
    # A few dozen distinct icons, drawn hundreds of times on a long list: made once.
    return ICON % (cls, sprite, name)


def viewer_settings() -> PlatformSettings:
    """The settings of the structure behind this request's launch (its time zone, its
    name): read once per request, defaults without a launch."""
    if "platform_settings" not in g:
        actor = current_actor()
        settings = PlatformSettings()
        if actor is not None:
            with current_runtime().sessions() as db:
                settings = PlatformSettings.of(db.get(Platform, actor.platform_id))
        g.platform_settings = settings
    found: PlatformSettings = g.platform_settings
    return found


@bp.app_template_filter("date_fr")
def date_fr(value: date | datetime | None) -> str:
    """« 3 mars 2025 »: a moment on the calendar of the viewer's structure (its time zone)."""
    return viewer_settings().day(value)


@bp.errorhandler(csrf.CsrfRefused)
def _csrf_refused(_error: csrf.CsrfRefused) -> ResponseReturnValue:
    log.info("page form refused (CSRF) on %s", request.path)
    return error_page(403, "La page est trop ancienne. Revenez en arrière, rechargez-la "
                           "et recommencez.")


@bp.errorhandler(ParcoursError)
def _service_error(error: ParcoursError) -> ResponseReturnValue:
    return error_page(error.status, error.message)
