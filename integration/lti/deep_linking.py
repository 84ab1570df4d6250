"""Deep Linking 2.0: what a teacher may place in a course, and the signed answer.

A deep-linking request is validated like any launch. The teacher then picks "Mon parcours"
(everyone lands in their own space) or a parcours on one référentiel; each becomes an
`ltiResourceLink` whose custom parameter names the référentiel. The answer is an
`LtiDeepLinkingResponse` JWT signed by the tool key, posted back to the platform.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt

from . import claims as c
from .keys import SigningKey

log = logging.getLogger(__name__)

RESPONSE_LIFETIME = 600
PARCOURS = "parcours"


@dataclass(frozen=True)
class Choice:
    key: str
    title: str
    text: str
    custom: dict[str, str] = field(default_factory=dict)


def choices() -> list[Choice]:
    """ "Mon parcours", then one parcours per shipped référentiel (when the catalog is there)."""
    found = [
        Choice(
            PARCOURS,
            "Repères – Mon parcours",
            "Chaque personne ouvre son parcours ; l’accompagnateur voit le cours.",
        )
    ]
    try:
        from referentiels.catalog import load_shipped
    except ImportError:
        return found
    try:
        referentiels = load_shipped()
    except Exception:  # a broken data file must not stop a teacher placing "Mon parcours"
        log.exception("référentiels catalog unreadable; offering Mon parcours only")
        return found
    for ref in referentiels:
        address = f"{ref.id}@{ref.version}"
        found.append(
            Choice(
                f"ref:{address}",
                f"Repères – {ref.intitule}",
                f"Parcours sur le référentiel {ref.intitule} ({ref.version}).",
                {c.CUSTOM_REFERENTIEL: address},
            )
        )
    return found


def content_items(keys: list[str], launch_url: str) -> list[dict[str, Any]]:
    """The `ltiResourceLink` items for the chosen keys, in the order offered."""
    wanted = set(keys)
    items: list[dict[str, Any]] = []
    for choice in choices():
        if choice.key not in wanted:
            continue
        item: dict[str, Any] = {
            "type": "ltiResourceLink",
            "title": choice.title,
            "text": choice.text,
            "url": launch_url,
        }
        if choice.custom:
            item["custom"] = dict(choice.custom)
        items.append(item)
    return items


def origin_of(url: str) -> str:
    """scheme://host[:port] in lower case ("" when the URL has none)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_return_url(url: object, platform_origins: set[str]) -> str:
    """The deep-linking return URL, when it may be a form's action: http(s), no userinfo,
    no control character, and on one of the platform's own origins. ValueError otherwise."""
    if not isinstance(url, str) or not url or len(url) > 1000:
        raise ValueError("deep_link_return_url missing or too long")
    if any(ord(ch) < 0x21 or ch in '\\"<>`' or ord(ch) == 0x7F for ch in url):
        raise ValueError("deep_link_return_url has spaces, control or unsafe characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("https", "http"):
        raise ValueError(f"deep_link_return_url scheme {parts.scheme!r} is not http(s)")
    if not parts.hostname or "@" in parts.netloc:
        raise ValueError("deep_link_return_url has no host, or has userinfo")
    if origin_of(url) not in platform_origins:
        raise ValueError(
            f"deep_link_return_url origin {origin_of(url)!r} is not the platform's "
            f"({', '.join(sorted(platform_origins))})"
        )
    return url


def response_jwt(
    *,
    client_id: str,
    platform_issuer: str,
    deployment_id: str,
    items: list[dict[str, Any]],
    data: str | None,
    key: SigningKey,
    message: str | None = None,
    now: float | None = None,
) -> str:
    """The signed LtiDeepLinkingResponse (iss = our client id, aud = the platform)."""
    issued = int(time.time() if now is None else now)
    body: dict[str, Any] = {
        "iss": client_id,
        "aud": platform_issuer,
        "iat": issued,
        "exp": issued + RESPONSE_LIFETIME,
        "nonce": secrets.token_urlsafe(16),
        c.MESSAGE_TYPE: c.DEEP_LINKING_RESPONSE,
        c.VERSION: "1.3.0",
        c.DEPLOYMENT_ID: deployment_id,
        c.DL_CONTENT_ITEMS: items,
    }
    if data is not None:
        body[c.DL_DATA] = data
    if message:
        body[c.DL_MSG] = message
    return jwt.encode(body, key.private_key, algorithm="RS256", headers={"kid": key.kid})
