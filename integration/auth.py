"""Who is acting: the actor a launch put in the session, and the checks every view uses.

A launch (integration/lti) is the only door: it calls `login_actor`. Views and the API
call `current_actor()` or use `@require_actor(...)`. An actor is always scoped to one
platform, one deployment and one course: the ones of its launch.

The session is Flask's signed cookie. Repères lives in Moodle's iframe, on another site than
Moodle: over HTTPS the cookie is `Secure; SameSite=None; Partitioned` (CHIPS), which browsers
that block third-party cookies still keep, per embedding site. Over plain HTTP (development)
it is `SameSite=Lax`. HTTPS is read from the request, so behind a proxy it follows
`X-Forwarded-Proto` when the app trusts the proxy (settings.trust_proxy). When the browser
keeps no cookie at all in the frame, the launch offers to open Repères in a new window
(integration/lti/views.py), where the same cookie is first-party.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from flask import Flask, abort, g, request, session
from flask.sessions import SecureCookieSessionInterface

from .models import Role

SESSION_KEY = "actor"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Actor:
    person_id: int
    platform_id: int
    course_id: int
    role: Role
    deployment_id: str = ""
    # Where grades and names-and-roles live for this launch, when the platform offers them.
    launch_id: str = ""

    @property
    def is_candidat(self) -> bool:
        return self.role is Role.CANDIDAT

    @property
    def is_accompagnateur(self) -> bool:
        return self.role in (Role.ACCOMPAGNATEUR, Role.COORDINATEUR)

    @property
    def is_coordinateur(self) -> bool:
        return self.role is Role.COORDINATEUR

    def to_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["role"] = self.role.value
        return data

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> Actor:
        return cls(**{**data, "role": Role(data["role"])})


def login_actor(actor: Actor) -> None:
    """Start a fresh session for this actor (a new launch replaces the previous one)."""
    session.clear()
    session[SESSION_KEY] = actor.to_session()
    session.permanent = True
    g.actor = actor


def logout() -> None:
    session.clear()
    g.pop("actor", None)


def current_actor() -> Actor | None:
    if "actor" in g:
        actor: Actor | None = g.actor
        return actor
    data = session.get(SESSION_KEY)
    actor = None
    if isinstance(data, dict):
        try:
            actor = Actor.from_session(data)
        except (TypeError, ValueError, KeyError):
            actor = None
    g.actor = actor
    return actor


def require_actor(*roles: Role) -> Callable[[F], F]:
    """401 without a launch; 403 when the actor's role is not among `roles` (if given)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor is None:
                abort(401)
            if roles and actor.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _https() -> bool:
    return bool(request) and request.is_secure


def cookie_policy() -> dict[str, Any]:
    """Cookie attributes for this request: cross-site capable over HTTPS, Lax over HTTP."""
    secure = _https()
    return {
        "secure": secure,
        "samesite": "None" if secure else "Lax",
        "partitioned": secure,
        "httponly": True,
    }


class ActorSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session with the attributes of `cookie_policy()`."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return _https()

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if _https() else "Lax"

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return _https()


def init_app(app: Flask) -> None:
    """Install the actor session on `app`."""
    app.session_interface = ActorSessionInterface()
