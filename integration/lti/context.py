"""What the LTI room holds for one running app: settings, database, HTTP, key caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from ..settings import Settings
from . import keys
from .http import make_session
from .jwks import PlatformKeys

if TYPE_CHECKING:
    from .registry import Registrations
    from .services import TokenCache


@dataclass(frozen=True)
class ToolUrls:
    """The addresses an operator pastes into Moodle."""

    base: str

    @property
    def login(self) -> str:
        return self.base + "/lti/login"

    @property
    def launch(self) -> str:
        return self.base + "/lti/launch"

    @property
    def jwks(self) -> str:
        return self.base + "/lti/jwks"

    @property
    def register(self) -> str:
        return self.base + "/lti/register"

    @property
    def deep_linking(self) -> str:
        # Deep linking requests arrive at the same launch URL; the message type tells them apart.
        return self.base + "/lti/launch"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def domain(self) -> str:
        return urlsplit(self.base).netloc


@dataclass
class LtiContext:
    settings: Settings
    sessions: sessionmaker[Session]
    http: requests.Session
    platform_keys: PlatformKeys
    tool_keys: keys.Keyring
    demo_keys: keys.Keyring
    tokens: TokenCache = field(init=False)
    registrations: Registrations = field(init=False)

    def __post_init__(self) -> None:
        from .registry import Registrations
        from .services import TokenCache

        self.tokens = TokenCache()
        self.registrations = Registrations(self.sessions)

    @classmethod
    def build(cls, settings: Settings, sessions: sessionmaker[Session]) -> LtiContext:
        http = make_session(settings.base_url, settings.outbound_policy())
        return cls(
            settings=settings,
            sessions=sessions,
            http=http,
            platform_keys=PlatformKeys(http),
            tool_keys=keys.Keyring(keys.TOOL, sessions),
            demo_keys=keys.Keyring(keys.DEMO, sessions),
        )

    @property
    def urls(self) -> ToolUrls:
        return ToolUrls(self.settings.base_url)


def lti_context(app: Flask | None = None) -> LtiContext:
    """The LTI context of `app` (the current app by default)."""
    application = app or current_app
    context: LtiContext = application.extensions["reperes"].extras["lti"]
    return context
