"""Cross-site request forgery protection: one token per session, one rule for every write.

The launch session is a cookie, so a write must prove it comes from one of our own pages:
it comes from our origin when the browser says where it comes from (`Origin`, or
`Sec-Fetch-Site`), and it sends back the session's token, in the form field `csrf_token`
(pages) or in the `X-CSRF-Token` header (the JSON API and scripts).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session

from .runtime import current_runtime

SESSION_KEY = "csrf_token"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


class CsrfRefused(Exception):
    """The write did not come from one of our pages of this session; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def csrf_token() -> str:
    """The session's token for writes, made on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _allowed_origins() -> set[str]:
    allowed = {_origin_of(request.host_url)}
    base = current_runtime().settings.base_url
    if base:
        allowed.add(_origin_of(base))
    return allowed


def check(*, form: bool = True, header: bool = True) -> None:
    """Raise CsrfRefused("origin" | "token") unless this write comes from our pages."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        if origin.lower() not in _allowed_origins():
            raise CsrfRefused("origin")
    elif request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CsrfRefused("origin")
    expected = session.get(SESSION_KEY)
    sent = ""
    if form:
        sent = request.form.get(FIELD, "")
    if not sent and header:
        sent = request.headers.get(HEADER, "")
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(
        expected.encode(), sent.encode()
    ):
        raise CsrfRefused("token")
