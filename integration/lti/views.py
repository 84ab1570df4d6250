"""HTTP side of LTI: parse the request, call one service, render. French pages, 4xx on refusal.

How a launch keeps working inside Moodle's iframe:
- the login sets a cookie `lti_state_…` (Secure; SameSite=None; Partitioned over HTTPS) and
  the launch finds it: the usual way, and what a partitioned cookie keeps alive in browsers
  that block third-party cookies;
- when the platform offers postMessage storage (`lti_storage_target`), state and nonce go
  there instead of a cookie (`lti.put_data`), and the launch page reads them back
  (`lti.get_data`) before the launch is accepted;
- when neither proves that this browser started the login, or the session cookie does not
  stick in the frame, the page offers to open Repères in a new window, where a one-time
  ticket turns into an ordinary first-party session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection, select
from werkzeug.wrappers import Response as BaseResponse

from ..actor import Actor
from ..auth import cookie_policy, current_actor, login_actor
from ..models import Role
from . import claims as c
from . import deep_linking, launch, registration, tickets
from .context import LtiContext, lti_context
from .errors import LaunchError
from .roles import map_roles

log = logging.getLogger(__name__)

bp = Blueprint("lti", __name__, url_prefix="/lti")

STATE_COOKIE = "lti_state_"
STORAGE_STATE_KEY = "reperes_state_"
STORAGE_NONCE_KEY = "reperes_nonce_"
HOME = "/"


@bp.errorhandler(LaunchError)
def _refused(exc: LaunchError) -> ResponseReturnValue:
    # The reason is for the operator; the page is for the person. Never log the token.
    # A refusal from the set-up carries a short reference, on the page and in the log line.
    reference = secrets.token_hex(4).upper() if exc.configuration else None
    log.warning("LTI refused %s %s%s: %s", request.method, request.path,
                f" [ref {reference}]" if reference else "", exc.reason)
    html = render_template("error.html", status=exc.status, title=exc.title, advice=exc.advice,
                           reference=reference)
    response = Response(html, status=exc.status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def _headers(response: Response) -> Response:
    """The same headers and strict CSP as every other page (integration/pages/web.py)."""
    from ..pages.web import page_headers

    return page_headers(response)


_R = TypeVar("_R", bound=BaseResponse)


def _no_store(response: _R) -> _R:
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, **context: Any) -> Response:
    return _no_store(Response(render_template(template, **context), mimetype="text/html"))


def _state_cookie(state: str) -> str:
    return STATE_COOKIE + state[:16]


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """OIDC login initiation (LTI Core §5.1.1): GET or POST, from the platform."""
    params = {k: v for k, v in request.values.items() if isinstance(v, str)}
    start = launch.begin_login(lti_context(), params)
    if start.storage_target:
        response = _page(
            "lti/login_storage.html",
            config={
                "auth_url": start.auth_url,
                "origin": start.auth_origin,
                "target": start.storage_target,
                "keys": [
                    [STORAGE_STATE_KEY + start.state, start.state],
                    [STORAGE_NONCE_KEY + start.nonce, start.nonce],
                ],
            },
            auth_url=start.auth_url,
        )
        return response
    moving = _no_store(redirect(start.auth_url, code=302))
    moving.set_cookie(
        _state_cookie(start.state),
        start.state,
        max_age=int(launch.STATE_LIFETIME.total_seconds()),
        path="/lti/",
        **cookie_policy(),
    )
    return moving


def _cookie_matches(state: str) -> bool:
    found = request.cookies.get(_state_cookie(state), "")
    return bool(found) and hmac.compare_digest(found, state)


def _top_level() -> bool:
    """The browser says this request loads a whole window (not a frame, not a script)."""
    return (request.headers.get("Sec-Fetch-Dest") == "document"
            and request.headers.get("Sec-Fetch-Mode") == "navigate")


def _navigation_from_platform(auth_origin: str) -> bool:
    """A launch that may be bound without its state cookie (a plain-HTTP trial in a new
    window: the `Lax` state cookie never comes back with Moodle's cross-site form POST).

    The login is bound another way: the browser itself says that this is a top-level
    navigation (`Sec-Fetch-Dest: document`, `Sec-Fetch-Mode: navigate`) and that the form
    was posted by a page of the platform's own login origin (`Origin`, which no page can
    set). A login-CSRF page (someone posting their own id_token from their site, to sign a
    victim in as them) has its own origin and stays refused; the state is still checked
    against its row (unknown, expired or used: refused) and the nonce against the token.
    A frame never qualifies: an embedded launch needs the cookie or the platform storage."""
    origin = (request.headers.get("Origin") or "").lower()
    return bool(origin) and origin != "null" and _top_level() and hmac.compare_digest(
        origin, auth_origin.lower())


@bp.post("/launch")
def launch_view() -> ResponseReturnValue:
    """The platform's form_post of an id_token (and the second step of postMessage storage).

    One transaction: the login read and consumed, the person recorded, the session record
    written (launch.in_one_transaction); the pages that follow are built after it."""
    lti = lti_context()
    form = {k: v for k, v in request.form.items() if isinstance(v, str)}
    try:
        pending, actor, bound = launch.in_one_transaction(lti, lambda db: _launch(lti, form, db))
    except _NextStep as step:
        return step.page  # the postMessage storage step: rolled back, the login stays
    deep_link = pending.message.message_type == c.DEEP_LINKING_REQUEST
    if not deep_link and pending.moodle:
        _refresh_completions(actor)

    response: BaseResponse
    if deep_link:
        response = _deep_linking_page(pending.message)
    elif bound in ("cookie", "navigation"):
        response = _no_store(redirect(HOME, code=303))
    else:
        response = _new_window_page(actor, check_session=bound == "storage")
    if bound == "cookie":
        response.delete_cookie(_state_cookie(pending.state), path="/lti/", **cookie_policy())
    return response


class _NextStep(Exception):
    """The launch needs one more step from the browser: nothing is kept, this page answers."""

    def __init__(self, page: Response) -> None:
        super().__init__()
        self.page = page


def _launch(
    lti: LtiContext, form: dict[str, str], db: Connection
) -> tuple[launch.PendingLaunch, Actor, str | None]:
    """Inside the launch's transaction: check and consume the login, bind it to this
    browser, record the person, sign in. Anything raised rolls it all back."""
    try:
        pending = launch.check_launch(lti, form, db=db, consume=True)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # malformed input, not a bug
        raise LaunchError(f"malformed launch: {type(exc).__name__}") from None

    bound = "cookie" if _cookie_matches(pending.state) else None
    if bound is None and _navigation_from_platform(pending.auth_origin):
        bound = "navigation"
        log.info("launch bound by a top-level navigation from %s (no state cookie)",
                 pending.auth_origin)
    if bound is None and pending.storage_target:
        if "lti_storage_state" in form or "lti_storage_nonce" in form:
            same_state = hmac.compare_digest(form.get("lti_storage_state", ""), pending.state)
            same_nonce = hmac.compare_digest(form.get("lti_storage_nonce", ""), pending.nonce)
            if not (same_state and same_nonce):
                raise LaunchError("platform storage holds another state or nonce than the launch")
            bound = "storage"
        elif not form.get("lti_storage_failed"):
            raise _NextStep(
                _page(
                    "lti/launch_storage.html",
                    config={
                        "origin": pending.auth_origin,
                        "target": pending.storage_target,
                        "state_key": STORAGE_STATE_KEY + pending.state,
                        "nonce_key": STORAGE_NONCE_KEY + pending.nonce,
                    },
                    id_token=form.get("id_token", ""),
                    state=pending.state,
                )
            )
        else:
            log.info("platform storage unavailable for this launch; offering a new window")

    if pending.message.message_type == c.DEEP_LINKING_REQUEST:
        _check_deep_linking(pending.message, db)
    actor = launch.accept_launch(lti, pending, db=db)
    if bound:
        login_actor(actor, db=db)
    return pending, actor, bound


def _refresh_completions(actor: Actor) -> None:
    """Fetch the person's Moodle completions in the background; the page does not wait.
    Called only when the platform has a Moodle connection (the registrations' cache says)."""
    from ..moodle.refresh import refresh_person_async
    from ..runtime import current_runtime

    refresh_person_async(current_runtime(), actor.platform_id, actor.course_id, actor.person_id)


def _new_window_page(actor: Actor, *, check_session: bool) -> Response:
    """The page that opens Repères in a new window: the ticket and its binding stay in this
    page's script and go to the new window by postMessage (integration/static/lti.js)."""
    ticket, binding = tickets.issue_continue_ticket(lti_context(), actor.to_session())
    return _page(
        "lti/open.html",
        config={
            "page": "open",
            "ticket": ticket,
            "binding": binding,
            "check_session": check_session,
            "session_url": url_for("lti.session_view"),
            "home": HOME,
        },
        check_session=check_session,
        top_level=_top_level(),
    )


def _own_origins() -> set[str]:
    base = lti_context().urls.base
    return {deep_linking.origin_of(request.host_url), deep_linking.origin_of(base)}


def _check_same_origin() -> None:
    """Login CSRF: the ticket must be posted by one of our pages.

    Browsers send `Origin` on every POST; `null` (a sandboxed or no-referrer page) and any
    other origin are refused. When `Origin` is absent, `Sec-Fetch-Site: same-origin` is the
    browser's word that our page sent it; with neither, nothing shows where the POST came
    from, and a login is too much to grant on faith: refused (the person relaunches)."""
    origin = request.headers.get("Origin")
    if origin is None:
        if request.headers.get("Sec-Fetch-Site") == "same-origin":
            return
        reason = "continue without Origin nor Sec-Fetch-Site: same-origin"
    elif origin.lower() in _own_origins():
        return
    else:
        reason = f"continue posted from another origin {origin[:200]!r}"
    raise LaunchError(
        reason,
        status=403,
        title="Ce lien ne peut pas ouvrir Repères.",
        advice="Ouvrez Repères depuis votre cours Moodle.",
    )


@bp.get("/continue")
def continue_page() -> ResponseReturnValue:
    """The new window: it asks the page that opened it for the ticket, then posts it."""
    return _page("lti/continue.html", config={"page": "continue"})


@bp.post("/continue")
def continue_view() -> ResponseReturnValue:
    """A new window redeems the ticket of a launch that could not keep a session in the frame."""
    _check_same_origin()
    actor = tickets.redeem_continue_ticket(
        lti_context(), request.form.get("ticket", ""), request.form.get("binding", "")
    )
    login_actor(Actor.from_session(actor))
    return _no_store(redirect(HOME, code=303))


@bp.get("/session")
def session_view() -> ResponseReturnValue:
    """Whether this browser sent a session cookie: the launch page asks before going on."""
    return _no_store(jsonify(signed_in=current_actor() is not None))


@bp.get("/jwks")
def jwks() -> ResponseReturnValue:
    response = jsonify(lti_context().tool_keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- deep linking -----------------------------------------------------------------------


def _check_deep_linking(message: c.LaunchMessage, db: Connection | None = None) -> None:
    """Refuse, before anything is recorded, what cannot end in a placed link."""
    if map_roles(message.roles).role is Role.CANDIDAT:
        raise LaunchError(
            "deep linking request from a learner role",
            status=403,
            title="Seul un formateur peut ajouter Repères au cours.",
            advice="Demandez à votre formateur ou à votre accompagnateur.",
        )
    settings = message.deep_linking or {}
    accept_types = settings.get("accept_types") or ["ltiResourceLink"]
    if "ltiResourceLink" not in accept_types:
        raise LaunchError(
            f"deep linking accepts only {accept_types!r}, not ltiResourceLink",
            title="Moodle ne peut pas recevoir de lien Repères ici.",
            advice="Ajoutez Repères comme activité « Outil externe ».",
        )
    try:
        deep_linking.check_return_url(
            settings.get("deep_link_return_url"), _platform_origins(message.platform_id, db)
        )
    except ValueError as exc:
        raise LaunchError(
            str(exc),
            title="Moodle a donné une adresse de retour refusée.",
            advice="Demandez à l’administrateur de Moodle de vérifier l’outil Repères.",
        ) from None


def _platform_origins(platform_id: int, db: Connection | None = None) -> set[str]:
    """Where a platform lives: the origins of its issuer and of its login endpoint (read in
    the caller's transaction `db` when given: a second one would wait for it on SQLite)."""
    from ..models import Platform

    if db is None:
        with lti_context().sessions() as session:
            return _platform_origins(platform_id, session.connection())
    found = db.execute(
        select(Platform.issuer, Platform.auth_url).where(Platform.id == platform_id)
    ).first()
    if found is None:
        return set()
    origins = {deep_linking.origin_of(found.issuer), deep_linking.origin_of(found.auth_url)}
    return {o for o in origins if o}


def _deep_linking_page(message: c.LaunchMessage) -> Response:
    settings = message.deep_linking or {}
    data = settings.get("data")
    ticket = tickets.issue_ticket(
        lti_context(),
        "deep_link",
        {
            "platform_id": message.platform_id,
            "client_id": message.client_id,
            "issuer": message.issuer,
            "deployment_id": message.deployment_id,
            "return_url": settings["deep_link_return_url"],
            "data": data if isinstance(data, str) else None,
        },
        lifetime=launch.STATE_LIFETIME * 3,
    )
    return _page(
        "lti/deep_linking.html",
        ticket=ticket,
        choices=deep_linking.choices(),
        multiple=bool(settings.get("accept_multiple", True)),
    )


@bp.post("/deep-link")
def deep_link_answer() -> ResponseReturnValue:
    """The teacher's choice, signed and posted back to the platform."""
    lti = lti_context()
    chosen = [k for k in request.form.getlist("choice") if isinstance(k, str)]
    if not chosen:
        raise LaunchError(
            "deep linking answer without a choice",
            status=422,
            title="Choisissez au moins une ligne.",
            advice="Revenez en arrière et cochez un choix.",
        )
    payload = tickets.redeem_ticket(lti, "deep_link", request.form.get("ticket", ""))
    items = deep_linking.content_items(chosen, lti.urls.launch)
    if not items:
        raise LaunchError("deep linking answer names no known choice", status=422)
    key = lti.tool_keys.signing_key()
    token = deep_linking.response_jwt(
        client_id=payload["client_id"],
        platform_issuer=payload["issuer"],
        deployment_id=payload["deployment_id"],
        items=items,
        data=payload.get("data"),
        key=key,
        message="Repères est ajouté au cours.",
    )
    try:  # checked at the request already; checked again where it becomes a form's action
        action = deep_linking.check_return_url(
            payload["return_url"], _platform_origins(payload["platform_id"])
        )
    except ValueError as exc:
        raise LaunchError(str(exc), title="Moodle a donné une adresse de retour refusée.") from None
    log.info("deep linking answer: platform=%s items=%d", payload["platform_id"], len(items))
    from ..pages.web import csp

    response = _page(
        "lti/autopost.html",
        action=action,
        fields={"JWT": token},
        message="Retour vers Moodle…",
    )
    response.headers["Content-Security-Policy"] = csp(form_action=deep_linking.origin_of(action))
    return response


# --- dynamic registration ---------------------------------------------------------------


@bp.get("/register")
def register_view() -> ResponseReturnValue:
    """LTI Dynamic Registration, started by a platform administrator."""
    result = registration.register(
        lti_context(),
        openid_configuration=request.args.get("openid_configuration", ""),
        registration_token=request.args.get("registration_token") or None,
        invite_token=request.args.get("invite") or None,
    )
    return _page("lti/registered.html", result=result)
