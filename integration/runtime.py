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
        engine = make_engine(settings.database_url)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    @cached_property
    def store(self) -> Store:
        from connectors.storage import open_store

        s = self.settings
        return open_store(
            s.storage_url, username=s.storage_username, password=s.storage_password
        )


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["reperes"]
    return runtime
