"""CSRF for the pages' forms: the API's session token, sent back in a hidden field.

One token per session, made by `integration.api.common.csrf_token` (the API reads it from
the `X-CSRF-Token` header, the pages from the `csrf_token` form field, the sync pages too).
A write must also come from our own origin when the browser says where it comes from.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import request, session

from ..api.common import CSRF_SESSION_KEY, csrf_token
from ..runtime import current_runtime

FIELD = "csrf_token"


class CsrfRefused(Exception):
    """The form did not come from one of our pages of this session."""


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


def check() -> None:
    """Raise CsrfRefused unless the form carries the session's token and comes from us."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        allowed = {_netloc(request.host_url)}
        base = current_runtime().settings.base_url
        if base:
            allowed.add(_netloc(base))
        if _netloc(origin) not in allowed:
            raise CsrfRefused("origin")
    elif origin is None and request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CsrfRefused("origin")
    expected = session.get(CSRF_SESSION_KEY)
    sent = request.form.get(FIELD, "")
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(
        expected.encode(), sent.encode()
    ):
        raise CsrfRefused("token")


__all__ = ["FIELD", "CsrfRefused", "check", "csrf_token"]
