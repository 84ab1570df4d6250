"""LTI Advantage services, seen from the tool: Names and Role Provisioning (NRPS 2.0) and
Assignment and Grade Services (AGS 2.0).

Both authenticate with OAuth 2 client credentials and a JWT assertion signed by the tool
key (1EdTech Security Framework §4.1). Access tokens are kept in memory per process, per
platform and scopes, until shortly before they expire. Containers are read page by page
through their `Link: <…>; rel="next"` headers.

Moodle's `mod/lti/token.php` answers JSON labelled `text/html`: bodies are parsed as JSON
whatever their Content-Type says.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import requests
from sqlalchemy.orm import object_session

from connectors.outbound import loggable, same_origin

from ..models import Course, Person, Platform, Role
from . import claims as c
from .context import LtiContext, lti_context
from .errors import ServiceError
from .http import TIMEOUT
from .roles import map_roles

log = logging.getLogger(__name__)


def on_platform_origin(platform: Platform, url: str) -> bool:
    """Whether `url` has the scheme, host and port of the platform's issuer or endpoints."""
    known = [platform.issuer, platform.token_url, platform.auth_url, platform.jwks_url]
    return any(isinstance(k, str) and k and same_origin(url, k) for k in known)

NRPS_MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
LINEITEM_MEDIA = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_MEDIA = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_MEDIA = "application/vnd.ims.lis.v1.score+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REPERES_RESOURCE_ID = "reperes"
MAX_PAGES = 1000
EARLY_RENEWAL = 30  # seconds before expiry when a cached token is no longer used


@dataclass(frozen=True)
class Member:
    """One person of a course as the platform lists them, with their Repères role."""

    user_id: str  # the LTI `sub`, as in launches
    name: str
    given_name: str
    family_name: str
    email: str
    roles: tuple[str, ...]
    role: Role
    status: str  # Active, Inactive or Deleted


class TokenCache:
    """Access tokens per (platform, token URL, scopes), in this process only."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[Any, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> str | None:
        found = self._tokens.get(key)
        if found and found[1] > time.monotonic():
            return found[0]
        return None

    def put(self, key: tuple[Any, ...], token: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(0.0, expires_in - EARLY_RENEWAL))

    def drop(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            self._tokens.pop(key, None)


def _json(response: requests.Response, what: str) -> Any:
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        raise ServiceError(f"{what}: the platform answered something that is not JSON") from None


def _token_key(platform: Platform, scopes: Iterable[str]) -> tuple[Any, ...]:
    return (platform.id, platform.token_url, tuple(sorted(set(scopes))))


def access_token(lti: LtiContext, platform: Platform, scopes: Iterable[str]) -> str:
    """A bearer token for `scopes`, from the cache or the platform's token endpoint."""
    key = _token_key(platform, scopes)
    cached = lti.tokens.get(key)
    if cached:
        return cached
    if not platform.token_url:
        raise ServiceError(f"platform {platform.issuer} has no token URL")
    signing = lti.tool_keys.signing_key(object_session(platform))
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": platform.client_id,
            "sub": platform.client_id,
            "aud": platform.token_url,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
        },
        signing.private_key,
        algorithm="RS256",
        headers={"kid": signing.kid},
    )
    try:
        response = lti.http.post(
            platform.token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
                "scope": " ".join(key[2]),
            },
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise ServiceError(f"token endpoint {platform.token_url} unreachable: {exc}") from None
    body = _json(response, "token endpoint")
    if response.status_code >= 400 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else None
        raise ServiceError(
            f"token endpoint {platform.token_url} answered {response.status_code}: {error!r}"
        )
    token = str(body["access_token"])
    try:
        expires_in = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600.0
    lti.tokens.put(key, token, expires_in)
    return token


def _call(
    lti: LtiContext,
    platform: Platform,
    scopes: list[str],
    method: str,
    url: str,
    *,
    accept: str,
    body: Any = None,
    content_type: str | None = None,
) -> requests.Response:
    """One authorised call; a rejected cached token is renewed once.

    The URL came from a launch or from the platform's answers: it must be on the
    platform's own origin, or it is ignored (and logged), never sent our token.
    """
    if not on_platform_origin(platform, url):
        log.warning(
            "LTI service URL %s ignored: not on the origin of platform %s (%s)",
            loggable(url),
            platform.id,
            platform.issuer,
        )
        raise ServiceError(
            f"{method} {loggable(url)} ignored: not on the origin of platform {platform.issuer}"
        )
    for attempt in range(2):
        token = access_token(lti, platform, scopes)
        headers = {"Authorization": f"Bearer {token}", "Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            data = json.dumps(body)
        try:
            response = lti.http.request(method, url, headers=headers, data=data, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise ServiceError(f"{method} {url} failed: {exc}") from None
        if response.status_code == 401 and attempt == 0:
            lti.tokens.drop(_token_key(platform, scopes))
            continue
        if response.status_code >= 400:
            raise ServiceError(f"{method} {url} answered {response.status_code}")
        return response
    raise AssertionError("unreachable")


def _pages(
    lti: LtiContext, platform: Platform, scopes: list[str], url: str, accept: str
) -> Iterator[Any]:
    seen: set[str] = set()
    next_url: str | None = url
    while next_url and next_url not in seen and len(seen) < MAX_PAGES:
        seen.add(next_url)
        response = _call(lti, platform, scopes, "GET", next_url, accept=accept)
        yield _json(response, next_url)
        next_url = response.links.get("next", {}).get("url")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def list_members(
    platform: Platform, course: Course, *, lti: LtiContext | None = None
) -> list[Member]:
    """Everyone the platform lists in `course` (every page), with their Repères role."""
    lti = lti or lti_context()
    if not course.nrps_url:
        raise ServiceError(
            f"course {course.id} has no names and roles service: launch Repères from it once"
        )
    members: list[Member] = []
    for page in _pages(lti, platform, [c.SCOPE_NRPS], course.nrps_url, NRPS_MEDIA):
        for raw in page.get("members", []) if isinstance(page, dict) else []:
            if not isinstance(raw, dict) or not raw.get("user_id"):
                continue
            roles = tuple(r for r in raw.get("roles") or () if isinstance(r, str))
            members.append(
                Member(
                    user_id=str(raw["user_id"]),
                    name=_text(raw.get("name")),
                    given_name=_text(raw.get("given_name")),
                    family_name=_text(raw.get("family_name")),
                    email=_text(raw.get("email")),
                    roles=roles,
                    role=map_roles(roles).role,
                    status=_text(raw.get("status")) or "Active",
                )
            )
    return members


def _sub_url(url: str, segment: str) -> str:
    """`…/lineitem?type_id=1` -> `…/lineitem/scores?type_id=1` (AGS §3.4)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + segment))


def line_item_url(
    platform: Platform,
    course: Course,
    *,
    score_maximum: float,
    lti: LtiContext | None = None,
    label: str = "Repères",
    resource_id: str = REPERES_RESOURCE_ID,
) -> str:
    """Where scores go: the activity's own line item when the launch carried one
    (`endpoint.lineitem`, its column in Moodle's gradebook); otherwise Repères' line item
    in the course, found by `resourceId` or created (issue 17)."""
    lti = lti or lti_context()
    if course.ags_lineitem_url:
        return course.ags_lineitem_url
    scopes = set(course.ags_scopes or [])
    if course.ags_lineitems_url and c.SCOPE_LINEITEM in scopes:
        read = [c.SCOPE_LINEITEM]
        for page in _pages(lti, platform, read, course.ags_lineitems_url, LINEITEMS_MEDIA):
            for item in page if isinstance(page, list) else []:
                if (
                    isinstance(item, dict)
                    and item.get("resourceId") == resource_id
                    and item.get("id")
                ):
                    return str(item["id"])
        created = _call(
            lti,
            platform,
            read,
            "POST",
            course.ags_lineitems_url,
            accept=LINEITEM_MEDIA,
            content_type=LINEITEM_MEDIA,
            body={
                "label": label,
                "scoreMaximum": score_maximum,
                "resourceId": resource_id,
                "tag": resource_id,
            },
        )
        item = _json(created, "line item creation")
        if isinstance(item, dict) and item.get("id"):
            return str(item["id"])
        raise ServiceError("the platform created a line item without an id")
    raise ServiceError(f"course {course.id} has no grade service: launch Repères from it once")


def post_score(
    platform: Platform,
    course: Course,
    person: Person,
    score_given: float | None,
    score_maximum: float | None,
    activity_progress: str = "Completed",
    grading_progress: str = "FullyGraded",
    comment: str | None = None,
    *,
    lti: LtiContext | None = None,
) -> str:
    """Send one score for `person` to Repères' line item in `course`; returns the line item URL."""
    lti = lti or lti_context()
    maximum = score_maximum if score_maximum else 1.0
    item = line_item_url(platform, course, score_maximum=maximum, lti=lti)
    score: dict[str, Any] = {
        "userId": person.sub,
        "activityProgress": activity_progress,
        "gradingProgress": grading_progress,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if score_given is not None:
        score["scoreGiven"] = score_given
        score["scoreMaximum"] = maximum
    if comment:
        score["comment"] = comment
    _call(
        lti,
        platform,
        [c.SCOPE_SCORE],
        "POST",
        _sub_url(item, "scores"),
        accept="application/json",
        body=score,
        content_type=SCORE_MEDIA,
    )
    return item
