"""« Continuer sur mon téléphone » (issue 15): on a computer, often a shared one, a QR code
and a short code open the same space on the person's phone, where the work happens.

The hand-off is one-time and short-lived (`LIFETIME`), bound to the person, platform and
course of the launch and to the session that asked: it opens nothing once that session has
ended, and « Quitter » on the computer ends the phone's session too. Only digests are
stored (models/candidat.py Handoff). The phone gets its own session record
(auth.login_actor), which never outlives the computer's.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..actor import Actor
from ..auth import IDLE_LIFETIME, RECORD_KEY, login_actor, require_actor, signed_in
from ..csrf import _allowed_origins
from ..models import AuditLine, Handoff, Role, SessionRecord
from ..runtime import current_runtime
from .web import bp as pages_bp
from .web import page, page_headers, run

log = logging.getLogger(__name__)

bp = Blueprint("handoff", __name__)

LIFETIME = timedelta(minutes=10)
PHONE_LIFETIME = timedelta(hours=8)  # and never beyond the computer's session
CODE_DIGITS = 8
# Wrong short codes the whole service accepts in a window: beyond it, codes are refused
# for everyone until the window passes (the QR link, 256 bits, still works). Guessing one
# of 10^8 codes in 30 tries is hopeless; the cost is that an attacker can make people scan.
WRONG_CODES = 30
WRONG_CODES_WINDOW = timedelta(minutes=10)


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _session_digest() -> str | None:
    token = session.get(RECORD_KEY)
    return _digest(token) if isinstance(token, str) and token else None


def _code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def create(db: Session, who: Actor, session_digest: str) -> tuple[str, str]:
    """A new hand-off for this session (the previous unused ones go): (token, code)."""
    now = _now()
    db.execute(delete(Handoff).where(or_(
        Handoff.expires_at < now,
        (Handoff.session_digest == session_digest) & Handoff.used_at.is_(None),
    )))
    token = secrets.token_urlsafe(32)
    code = _code()
    while db.scalar(select(Handoff.id).where(Handoff.code_digest == _digest(code))) is not None:
        code = _code()
    db.add(Handoff(token_digest=_digest(token), code_digest=_digest(code),
                   person_id=who.person_id, platform_id=who.platform_id,
                   course_id=who.course_id, session_digest=session_digest,
                   actor=who.to_session(), created_at=now, expires_at=now + LIFETIME))
    db.flush()
    return token, code


def redeem(db: Session, *, token: str = "", code: str = "") -> Actor | None:
    """The actor of a live hand-off, spent now; None when unknown, used, expired, or when
    the session that asked has ended. The phone's session is started by the caller."""
    now = _now()
    if token:
        row = db.scalar(select(Handoff).where(Handoff.token_digest == _digest(token)))
    else:
        if _too_many_wrong_codes(db, now):
            log.warning("handoff: short codes refused for now (%d wrong in %s)",
                        WRONG_CODES, WRONG_CODES_WINDOW)
            return None
        digits = "".join(c for c in code if c.isdigit())
        row = None
        if len(digits) == CODE_DIGITS:
            row = db.scalar(select(Handoff).where(Handoff.code_digest == _digest(digits)))
        if row is None:
            db.add(AuditLine(action=WRONG_CODE, detail={}, at=now))
            return None
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    asking = db.get(SessionRecord, row.session_digest)
    if (asking is None or asking.expires_at <= now or asking.last_seen_at <= now - IDLE_LIFETIME
            or asking.person_id != row.person_id or asking.platform_id != row.platform_id):
        return None
    spent = db.execute(update(Handoff).where(Handoff.id == row.id, Handoff.used_at.is_(None))
                       .values(used_at=now))
    if getattr(spent, "rowcount", 0) != 1:
        return None
    actor = Actor.from_session(dict(row.actor))
    login_actor(actor, db)
    phone = _session_digest()
    row.phone_digest = phone
    db.execute(update(SessionRecord).where(SessionRecord.digest == phone).values(
        expires_at=min(now + PHONE_LIFETIME, asking.expires_at)))
    log.info("handoff used: person=%s platform=%s course=%s", row.person_id, row.platform_id,
             row.course_id)
    return actor


WRONG_CODE = "handoff_code_refused"


def _too_many_wrong_codes(db: Session, now: datetime) -> bool:
    since = now - WRONG_CODES_WINDOW
    db.execute(delete(AuditLine).where(AuditLine.action == WRONG_CODE, AuditLine.at < since))
    wrong = db.scalar(select(func.count(AuditLine.id)).where(
        AuditLine.action == WRONG_CODE, AuditLine.at >= since)) or 0
    return wrong >= WRONG_CODES


def end_phones(db: Session, session_digest: str) -> int:
    """« Quitter » on the computer: the phones it opened sign out, its hand-offs go."""
    phones = [d for d in db.scalars(select(Handoff.phone_digest).where(
        Handoff.session_digest == session_digest, Handoff.phone_digest.is_not(None))) if d]
    ended = 0
    if phones:
        result = db.execute(delete(SessionRecord).where(SessionRecord.digest.in_(phones)))
        ended = int(getattr(result, "rowcount", 0) or 0)
    db.execute(delete(Handoff).where(Handoff.session_digest == session_digest))
    return ended


def end_for_this_browser() -> None:
    """Called by « Quitter » before the session goes (integration/pages/quit.py)."""
    digest = _session_digest()
    if digest is None:
        return
    with current_runtime().sessions.begin() as db:
        ended = end_phones(db, digest)
    if ended:
        log.info("quit: %d phone session(s) ended with the computer's", ended)


def _qr_svg(url: str) -> Markup:
    import segno

    qr = segno.make(url, error="m")
    svg = qr.svg_inline(scale=6, border=2, dark="#000", light="#fff", omitsize=False)
    return Markup(svg)  # noqa: S704 - segno writes the SVG from our own URL, no input markup


# --- the computer: show the QR code and the short code ------------------------------------


@pages_bp.get("/moi/telephone")
@require_actor(Role.CANDIDAT)
def handoff_new() -> ResponseReturnValue:
    who = signed_in()
    digest = _session_digest()
    if digest is None:  # pragma: no cover - a signed-in actor always has its record
        return redirect(url_for("pages.moi"), code=303)
    token, code = run(lambda db: create(db, who, digest))
    url = url_for("handoff.open_link", token=token, _external=True)
    return page("pages/handoff.html", qr=_qr_svg(url), code=f"{code[:4]} {code[4:]}",
                minutes=int(LIFETIME.total_seconds() // 60), link=url)


# --- the phone: open the space ------------------------------------------------------------


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        parts = urlsplit(origin)
        return f"{parts.scheme}://{parts.netloc}".lower() in _allowed_origins()
    return request.headers.get("Sec-Fetch-Site") != "cross-site"


def _phone_page(template: str, status: int = 200, **context: object) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


@bp.get("/t/<token>")
def open_link(token: str) -> ResponseReturnValue:
    """The QR code's address: a button, so that a link preview never spends the code."""
    return _phone_page("pages/handoff_open.html", token=token[:100], error="")


@bp.post("/t/<token>")
def open_link_post(token: str) -> ResponseReturnValue:
    return _open(token=token[:100])


@bp.get("/telephone")
def open_code() -> ResponseReturnValue:
    return _phone_page("pages/handoff_open.html", token="", error="")


@bp.post("/telephone")
def open_code_post() -> ResponseReturnValue:
    return _open(code=request.form.get("code", "")[:40])


def _open(*, token: str = "", code: str = "") -> ResponseReturnValue:
    if not _same_origin():
        return _phone_page("pages/handoff_open.html", status=403, token=token,
                           error="Ce lien ne peut pas ouvrir Repères. Scannez le code à nouveau.")
    with current_runtime().sessions.begin() as db:
        actor = redeem(db, token=token, code=code)
    if actor is None:
        error = ("Ce code ne marche pas. Il sert une seule fois, pendant 10 minutes. "
                 "Sur l’ordinateur, touchez « Continuer sur mon téléphone » pour en avoir "
                 "un nouveau.")
        return _phone_page("pages/handoff_open.html", status=404, token="", error=error)
    return redirect(url_for("pages.moi"), code=303)


@bp.after_request
def _headers(response: Response) -> Response:
    return page_headers(response)
