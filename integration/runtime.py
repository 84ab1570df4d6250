"""What a running service holds: settings, database, référentiels catalog, file store.

Nothing here keeps per-user state: several processes may run side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .db import make_engine, make_session_factory
from .settings import Settings

if TYPE_CHECKING:
    from connectors.storage import Store


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        from .secrets_at_rest import SecretBox, install

        # Secrets in the database (tool keys, Moodle tokens) are sealed with the operator's
        # key: read it first, so that a missing or wrong key file stops the start.
        box = SecretBox.from_settings(settings)
        engine = make_engine(settings.database_url)
        sessions = make_session_factory(engine)
        from connectors.outbound import set_default_policy

        # Moodle, Nextcloud and LTI requests of this process follow REPERES_OUTBOUND_ALLOW.
        set_default_policy(settings.outbound_policy())
        install(sessions, box)
        return cls(settings=settings, engine=engine, sessions=sessions)

    @cached_property
    def store(self) -> Store:
        from urllib.parse import urlsplit

        from connectors.outbound import OutboundSession
        from connectors.storage import open_store

        from .parcours.kept import keep_beside

        s = self.settings
        session = None
        parts = urlsplit(s.storage_url)
        if parts.scheme in ("http", "https") and parts.hostname:
            # The operator named this host: allowed, any size, patient; still no redirect.
            host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
            policy = (
                s.outbound_policy()
                .allowing(f"{host}:{parts.port}" if parts.port else host)
                .with_limits(max_bytes=None, connect_timeout=10.0, read_timeout=300.0)
            )
            session = OutboundSession(policy)
        store = open_store(
            s.storage_url,
            username=s.storage_username,
            password=s.storage_password,
            session=session,
        )
        # Reduced photos and voice notes are kept here too: a dossier never waits for the
        # shared store, and a file received while it is down is written later (issue 16).
        keep_beside(store, self.kept_files)
        return store

    @cached_property
    def kept_files(self) -> Store:
        """The evidence files kept on this machine (see `integration.parcours.kept`)."""
        from .parcours.kept import local_store

        return local_store(self.settings.var_dir)


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["reperes"]
    return runtime
