"""Validation of an LTI 1.3 id_token (1EdTech Security Framework §5.1.3, LTI Core §5).

A plain function of the token, the registrations of its issuer, a key resolver and the
clock: no Flask, no database, so it is tested and benchmarked alone. The caller supplies
the nonce and target it expects (from the login that started the launch).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import RSAAlgorithm

from . import claims as c
from .errors import LaunchError

LEEWAY = 30  # seconds of clock difference accepted on exp, iat and nbf
MAX_AGE = 300  # an id_token older than this is refused even if its exp says otherwise
MAX_ID = 255  # LTI Core: sub, deployment, context and resource link ids are at most 255 chars
# Sizes checked before anything is decoded. A Moodle id_token is a few KB; its header holds
# alg, kid and typ. Nesting is bounded so that no claim makes a recursive walk fail.
MAX_TOKEN_CHARS = 64 * 1024
MAX_HEADER_CHARS = 2048
MAX_JSON_DEPTH = 32
_RS256 = RSAAlgorithm(RSAAlgorithm.SHA256)


@dataclass(frozen=True)
class Registration:
    """What the validator needs to know of one platform registration."""

    platform_id: int
    issuer: str
    client_id: str
    jwks_url: str
    deployments: frozenset[str]
    active: bool = True


KeyResolver = Callable[[str, str], Any]  # (jwks_url, kid) -> public key, or LaunchError


def _segment(data: str, what: str) -> bytes:
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise LaunchError(f"id_token is not a JWT: its {what} is not base64url") from None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels (walked without recursion).

    json.loads makes exact dicts and lists, so `type(...) in` is enough (and, on the launch's
    hot path, twice as fast as isinstance with a union)."""
    containers = (dict, list)
    if type(value) not in containers:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if type(item) is dict else item:
            if type(child) in containers:  # only containers nest: scalars are skipped
                stack.append((child, depth + 1))
    return False


def _json_object(data: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_segment(data, what))
    except (ValueError, RecursionError):
        raise LaunchError(f"id_token is not a JWT: its {what} is not JSON") from None
    if not isinstance(value, dict):
        raise LaunchError(f"id_token is not a JWT: its {what} is not a JSON object")
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise LaunchError(f"id_token {what} nests more than {MAX_JSON_DEPTH} levels")
    return value


def _number(payload: dict[str, Any], name: str) -> float:
    value = payload.get(name)
    if value is None:
        raise LaunchError(f"id_token has no {name} claim")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LaunchError(f"id_token {name} claim is not a number")
    return float(value)


def _text(payload: dict[str, Any], name: str, label: str | None = None) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise LaunchError(f"id_token has no {label or name} claim (or it is empty)")
    return value


def _identifier(value: str, what: str) -> str:
    if len(value) > MAX_ID:
        raise LaunchError(f"id_token {what} is longer than {MAX_ID} characters")
    return value


def split_token(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, unverified payload, signing input and signature of a compact JWS."""
    if not isinstance(token, str) or not token:
        raise LaunchError("launch without id_token")
    if len(token) > MAX_TOKEN_CHARS:
        raise LaunchError(f"id_token is longer than {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise LaunchError("id_token is not a JWT (expected three dot-separated parts)")
    if len(parts[0]) > MAX_HEADER_CHARS:
        raise LaunchError(f"id_token header is longer than {MAX_HEADER_CHARS} characters")
    header = _json_object(parts[0], "header")
    payload = _json_object(parts[1], "payload")
    signature = _segment(parts[2], "signature")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def choose_registration(
    payload: dict[str, Any], registrations: Sequence[Registration]
) -> Registration:
    """The registration the token is for, from `iss`, `aud` and `azp` (checked, not trusted)."""
    issuer = payload.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise LaunchError("id_token has no iss claim")
    if not registrations:
        raise LaunchError(f"issuer {issuer!r} is not registered")
    aud = payload.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not audiences:
        raise LaunchError("id_token has no aud claim")
    if not all(isinstance(a, str) and a for a in audiences):
        raise LaunchError("id_token aud claim holds something other than client ids")
    trusted = {r.client_id: r for r in registrations}
    untrusted = [a for a in audiences if a not in trusted]
    azp = payload.get("azp")
    if azp is not None and not isinstance(azp, str):
        raise LaunchError("id_token azp claim is not a string")
    if len(audiences) > 1 and not azp:
        raise LaunchError("id_token has several audiences and no azp claim")
    client_id = azp or audiences[0]
    if client_id not in audiences:
        raise LaunchError(f"id_token azp {client_id!r} is not one of its audiences")
    registration = trusted.get(client_id)
    if registration is None:
        raise LaunchError(
            f"client id {client_id!r} is not registered for issuer {issuer!r}",
            configuration=True,
        )
    if untrusted:
        raise LaunchError(f"id_token names untrusted audience(s) {untrusted!r}")
    return registration


def validate_id_token(
    token: str,
    *,
    registrations: Callable[[str], Sequence[Registration]],
    key_for: KeyResolver,
    expected_nonce: str | None,
    expected_target: str | None = None,
    expected_platform_id: int | None = None,
    now: float | None = None,
) -> c.LaunchMessage:
    """Every check of a launch's id_token; a LaunchError names the first that fails."""
    now = time.time() if now is None else now
    header, payload, signing_input, signature = split_token(token)

    alg = header.get("alg")
    if alg != "RS256":
        raise LaunchError(f"id_token alg {alg!r} refused: only RS256 is accepted")
    if "crit" in header:
        raise LaunchError("id_token header has crit extensions we do not understand")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise LaunchError("id_token header has no kid")

    issuer = payload.get("iss")
    registration = choose_registration(
        payload, registrations(issuer) if isinstance(issuer, str) else ()
    )
    if expected_platform_id is not None and registration.platform_id != expected_platform_id:
        raise LaunchError("id_token comes from another platform than the login that started it")
    if not registration.active:
        raise LaunchError(
            f"platform {registration.issuer!r} is switched off", status=403, configuration=True
        )

    key = key_for(registration.jwks_url, kid)
    if not _RS256.verify(signing_input, key, signature):
        raise LaunchError("id_token signature does not verify with the platform key")

    exp = _number(payload, "exp")
    iat = _number(payload, "iat")
    if exp + LEEWAY < now:
        raise LaunchError(f"id_token expired {int(now - exp)} s ago")
    if iat - LEEWAY > now:
        raise LaunchError(f"id_token issued {int(iat - now)} s in the future")
    if iat + MAX_AGE + LEEWAY < now:
        raise LaunchError(f"id_token issued {int(now - iat)} s ago: too old")
    nbf = payload.get("nbf")
    if nbf is not None and (not isinstance(nbf, int | float) or nbf - LEEWAY > now):
        raise LaunchError("id_token is not valid yet (nbf)")

    nonce = _text(payload, "nonce")
    if expected_nonce is not None and nonce != expected_nonce:
        raise LaunchError("id_token nonce does not match the login (replayed or mixed up)")
    _identifier(_text(payload, "sub"), "sub")

    version = payload.get(c.VERSION)
    if version is None:
        raise LaunchError("id_token has no LTI version claim")
    if version != "1.3.0":
        raise LaunchError(f"id_token LTI version {version!r} is not 1.3.0")
    message_type = payload.get(c.MESSAGE_TYPE)
    if message_type is None:
        raise LaunchError("id_token has no message_type claim")
    if message_type not in c.KNOWN_MESSAGE_TYPES:
        raise LaunchError(f"id_token message_type {message_type!r} is not supported")

    deployment_id = _identifier(_text(payload, c.DEPLOYMENT_ID, "deployment_id"), "deployment_id")
    if deployment_id not in registration.deployments:
        raise LaunchError(
            f"deployment {deployment_id!r} is not registered for {registration.issuer!r}"
            f" client {registration.client_id!r}",
            configuration=True,
        )
    target = _text(payload, c.TARGET_LINK_URI, "target_link_uri")
    if expected_target is not None and target != expected_target:
        raise LaunchError("id_token target_link_uri differs from the login's target_link_uri")

    roles = payload.get(c.ROLES)
    if roles is None:
        raise LaunchError("id_token has no roles claim")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise LaunchError("id_token roles claim is not a list of strings")

    if message_type in c.RESOURCE_MESSAGES:
        link = payload.get(c.RESOURCE_LINK)
        if not isinstance(link, dict) or not link.get("id"):
            raise LaunchError("id_token has no resource_link id")
        _identifier(str(link["id"]), "resource_link id")
    if message_type == c.DEEP_LINKING_REQUEST:
        settings = payload.get(c.DL_SETTINGS)
        if not isinstance(settings, dict) or not isinstance(
            settings.get("deep_link_return_url"), str
        ):
            raise LaunchError("deep linking request without deep_link_return_url")
    context = payload.get(c.CONTEXT)
    if context is not None:
        if not isinstance(context, dict) or not context.get("id"):
            raise LaunchError("id_token context claim has no id")
        _identifier(str(context["id"]), "context id")

    return c.LaunchMessage.from_claims(
        payload, platform_id=registration.platform_id, client_id=registration.client_id
    )
