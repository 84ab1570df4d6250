"""A platform's Moodle web-service connection: set it, check it, open clients for it.

The token is a secret: it is read from a file by the CLI, stored on the Platform row
sealed with the operator's encryption key (integration/secrets_at_rest.py; read it with
`moodle_token(platform)`), and never logged, echoed or rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.moodle import (
    OPTIONAL_FUNCTIONS,
    SYNC_FUNCTIONS,
    MoodleClient,
    MoodleError,
)
from connectors.outbound import OutboundSession

from ..models import Course, Platform
from ..secrets_at_rest import box_of, open_attribute, seal_for
from .visibility import check_courses

#: How Moodle people are matched to LTI people beyond the Moodle user id (always tried
#: first: Moodle's LTI ``sub`` is the user id). Stored in ``Platform.moodle_match``.
MATCH_MODES = ("id", "username", "email", "username,email")

#: ``(url, token, http_session) -> MoodleClient``: how the sync and pages open clients.
#: Tests pass one with ``retries=0``; the default retries transient failures.
ClientFactory = Callable[[str, str, requests.Session], MoodleClient]


def default_client_factory(url: str, token: str, http: requests.Session) -> MoodleClient:
    """A client for background work: patient with a slow Moodle, retries transient errors."""
    return MoodleClient(url, token, session=http, timeout=(5, 30), retries=2, backoff=0.5)


def page_client_factory(url: str, token: str, http: requests.Session) -> MoodleClient:
    """A client for a page someone is waiting for: short timeouts, one retry."""
    return MoodleClient(url, token, session=http, timeout=(3, 10), retries=1, backoff=0.2)


class MoodleLinkError(Exception):
    """The platform or course cannot be used with Moodle; the message says why."""


def match_fields(mode: str | None) -> tuple[str, ...]:
    """The fields tried after the Moodle id, in order: ``("username", "email")``…"""
    return tuple(
        part.strip()
        for part in (mode or "id").split(",")
        if part.strip() in ("username", "email")
    )


def find_platform(session: Session, key: str | int) -> Platform:
    """A platform by id, or by name, issuer or client id. MoodleLinkError if none or several."""
    text = str(key).strip()
    if text.isdigit():
        platform = session.get(Platform, int(text))
        if platform is not None:
            return platform
    found = list(
        session.scalars(
            select(Platform).where(
                (Platform.name == text) | (Platform.issuer == text) | (Platform.client_id == text)
            )
        )
    )
    if not found:
        raise MoodleLinkError(f"no platform {text!r}: see `reperes platform list`")
    if len(found) > 1:
        ids = ", ".join(str(p.id) for p in found)
        raise MoodleLinkError(f"several platforms answer to {text!r} (ids {ids}): give the id")
    return found[0]


def has_connection(platform: Platform) -> bool:
    return bool(platform.moodle_url and platform.moodle_token)


# Sealed, it must fit the 255 characters of Platform.moodle_token.
MAX_TOKEN_LENGTH = 120


def moodle_token(platform: Platform) -> str:
    """The platform's Moodle token in clear (it is stored sealed). Never log it."""
    return open_attribute(platform, platform.moodle_token or "")


def set_moodle_token(session: Session, platform: Platform, token: str | None) -> None:
    """Store the token sealed with the session's encryption key (None: no token)."""
    if token is not None and len(token) > MAX_TOKEN_LENGTH:
        raise MoodleLinkError(f"the token is longer than {MAX_TOKEN_LENGTH} characters: "
                              "a Moodle token has 32")
    platform.moodle_token = None if token is None else seal_for(session, token)


def reseal_tokens(session: Session) -> int:
    """Seal every stored Moodle token with the current encryption key; returns how many changed."""
    box = box_of(session)
    if box is None:
        raise ValueError("this session has no encryption key")
    changed = 0
    for platform in session.scalars(select(Platform).where(Platform.moodle_token.is_not(None))):
        if platform.moodle_token and box.needs_sealing(platform.moodle_token):
            platform.moodle_token = box.reseal(platform.moodle_token)
            changed += 1
    session.flush()
    return changed


def moodle_course_id(course: Course) -> int | None:
    """The Moodle course id: the stored one, or the LTI context id when it is a number
    (Moodle's LTI context id is its course id)."""
    if course.moodle_course_id:
        return int(course.moodle_course_id)
    context = (course.context_id or "").strip()
    return int(context) if context.isdigit() else None


def open_client(
    platform: Platform, factory: ClientFactory | None = None
) -> tuple[MoodleClient, requests.Session]:
    """A client for the platform's connection and the HTTP session to close after use."""
    if not has_connection(platform):
        raise MoodleLinkError(f"platform {platform.id} has no Moodle connection")
    http = OutboundSession()  # the outbound policy: REPERES_OUTBOUND_ALLOW
    client = (factory or default_client_factory)(
        str(platform.moodle_url), moodle_token(platform), http
    )
    return client, http


@dataclass
class ConnectionReport:
    """What checking a connection found. ``saved``: the platform now uses it."""

    platform_id: int
    url: str
    ok: bool
    saved: bool = False
    sitename: str = ""
    siteurl: str = ""
    release: str = ""
    username: str = ""
    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""

    def lines(self) -> list[str]:
        """The report as lines for an operator (no token in them)."""
        out: list[str] = []
        if self.error:
            out.append(f"Moodle at {self.url}: connection failed: {self.error}")
        else:
            out.append(
                f"Moodle at {self.url}: {self.sitename or '?'} ({self.release or '?'}), "
                f"web-service user {self.username or '?'}"
            )
        if self.missing_required:
            out.append(
                "missing functions the sync needs: " + ", ".join(self.missing_required)
                + ". Add them to the token's external service (Site administration > Server >"
                " Web services > External services > Functions)."
            )
        if self.missing_optional:
            out.append(
                "missing optional functions (Repères works without them): "
                + ", ".join(self.missing_optional)
            )
        out.extend(self.warnings)
        if self.saved:
            out.append(f"connection saved for platform {self.platform_id}")
        elif self.ok:
            out.append("connection works")
        else:
            out.append("nothing saved")
        return out


def check_connection(
    platform_id: int, url: str, token: str, factory: ClientFactory | None = None,
    *, courseids: Sequence[int] = (),
) -> ConnectionReport:
    """Ask Moodle who the token is (``core_webservice_get_site_info``) and which of the
    functions Repères uses its service lacks; with `courseids`, also which modules of
    these courses Moodle hides from the token's user (`visibility`). Never raises for a
    Moodle failure."""
    url = url.strip().rstrip("/")
    report = ConnectionReport(platform_id=platform_id, url=url, ok=False)
    http = OutboundSession()  # the outbound policy: REPERES_OUTBOUND_ALLOW
    try:
        client = (factory or page_client_factory)(url, token, http)
        info = client.get_site_info()
        if courseids and not info.missing_functions(SYNC_FUNCTIONS):
            report.warnings.extend(check_courses(client, courseids))
    except (MoodleError, ValueError) as exc:
        report.error = str(exc)
        return report
    finally:
        http.close()
    report.sitename = info.sitename
    report.siteurl = info.siteurl
    report.release = info.release
    report.username = info.username
    report.missing_required = info.missing_functions(SYNC_FUNCTIONS)
    report.missing_optional = info.missing_functions(OPTIONAL_FUNCTIONS)
    if info.siteurl and info.siteurl.rstrip("/") != url:
        report.warnings.append(
            f"Moodle calls itself {info.siteurl}: prefer that address if it is reachable from here"
        )
    report.ok = not report.missing_required
    return report


def platform_courseids(session: Session, platform_id: int) -> list[int]:
    """The Moodle ids of the platform's courses Repères knows (launched at least once)."""
    courses = session.scalars(select(Course).where(Course.platform_id == platform_id))
    return sorted({cid for c in courses if (cid := moodle_course_id(c)) is not None})


def connect_moodle(
    session: Session,
    platform_id_or_name: str | int,
    url: str,
    token: str,
    *,
    match: str | None = None,
    factory: ClientFactory | None = None,
) -> ConnectionReport:
    """Check the connection and, when it works, store it on the platform.

    Nothing is stored when Moodle refuses the token or when its service lacks a
    function the sync needs: the report says what to fix. The caller commits.
    """
    token = token.strip()
    if not token:
        raise MoodleLinkError("the token is empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise MoodleLinkError(f"the token is longer than {MAX_TOKEN_LENGTH} characters: "
                              "a Moodle token has 32")
    if match is not None and match not in MATCH_MODES:
        raise MoodleLinkError(f"--match is one of {', '.join(MATCH_MODES)}")
    platform = find_platform(session, platform_id_or_name)
    report = check_connection(platform.id, url, token, factory)
    if report.ok:
        platform.moodle_url = report.url
        set_moodle_token(session, platform, token)
        if match is not None:
            platform.moodle_match = match
        session.flush()
        report.saved = True
    return report
