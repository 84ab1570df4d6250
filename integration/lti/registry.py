"""The platforms a launch trusts, kept in the process for a few seconds.

A launch needs, for the issuer of its id_token, each registration (client id, JWKS URL,
deployments, switched on or off), where the platform's login lives (the origin of its
postMessages) and whether it has a Moodle web-service connection (the refresh started at
launch). Read from the database, that was three statements a launch; here they are read
once per issuer and kept `TTL` seconds.

How fresh it stays:
- a change committed in this process (the app's dynamic registration, `reperes platform`
  run in-process, tests) empties every cache at its commit: the next launch reads again;
- a change made by another process (`reperes platform add|remove|moodle`, another
  instance) is seen within `TTL` (5 s): a platform switched off, a deployment removed, a
  client id or JWKS URL changed stop or change launches within 5 seconds on every instance;
- a removed platform stops at once anyway: the login (`begin_login`) reads the database,
  the logins in flight are deleted with the platform (foreign key cascade), so their
  launches find no state, and `reperes platform remove` ends its sessions.

Nothing here is state another instance needs: a cold cache only costs one read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, event, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ..models import Deployment, Platform
from .validation import Registration

TTL = 5.0  # seconds a process trusts what it read of a platform registered elsewhere
MAX_ISSUERS = 1000  # unknown issuers are cached too (as nothing); the cache is bounded

_CHANGED = "reperes_registrations_changed"
_generation = 0  # bumped when a commit in this process changed a platform or deployment
_generation_lock = threading.Lock()


@dataclass(frozen=True)
class PlatformEntry:
    """One registration, as a launch sees it."""

    registration: Registration
    auth_origin: str  # the platform's login endpoint's origin: where its postMessages go
    moodle: bool  # a Moodle web-service connection: completions are refreshed at launch


class Registrations:
    """Registrations by issuer for one app (one database), cached for `TTL` seconds."""

    def __init__(self, sessions: sessionmaker[Session], ttl: float = TTL) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._by_issuer: dict[str, tuple[float, int, tuple[PlatformEntry, ...]]] = {}

    def for_issuer(self, issuer: str, db: Connection | None = None) -> tuple[PlatformEntry, ...]:
        """The issuer's registrations; when they must be read, in `db` if given (the
        caller's transaction: on SQLite a second one would wait for it), else in a session
        of their own."""
        now = time.monotonic()
        cached = self._by_issuer.get(issuer)
        if cached is not None and now - cached[0] < self._ttl and cached[1] == _generation:
            return cached[2]
        generation = _generation  # read before the database: a change during the read wins
        with self._sessions() if db is None else Session(bind=db) as session:
            entries = self._load(session, issuer)
        if len(self._by_issuer) >= MAX_ISSUERS:
            self._by_issuer.clear()
        self._by_issuer[issuer] = (now, generation, entries)
        return entries

    def clear(self) -> None:
        self._by_issuer.clear()

    @staticmethod
    def _load(session: Session, issuer: str) -> tuple[PlatformEntry, ...]:
        from ..moodle.connection import has_connection

        platforms = session.scalars(
            select(Platform)
            .where(Platform.issuer == issuer)
            .options(selectinload(Platform.deployments))
        ).all()
        return tuple(
            PlatformEntry(
                registration=Registration(
                    platform_id=p.id,
                    issuer=p.issuer,
                    client_id=p.client_id,
                    jwks_url=p.jwks_url,
                    deployments=frozenset(d.deployment_id for d in p.deployments),
                    active=p.active,
                ),
                auth_origin=_origin(p.auth_url),
                moodle=has_connection(p),
            )
            for p in platforms
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


# --- invalidation: any commit in this process that touched a platform or a deployment ----


def _touches_registrations(session: Session) -> bool:
    for objects in (session.new, session.dirty, session.deleted):
        for obj in objects:
            if isinstance(obj, Platform | Deployment):
                return True
    return False


@event.listens_for(Session, "after_flush")
def _note_change(session: Session, _context: Any) -> None:
    if _touches_registrations(session):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_change(state: Any) -> None:
    mapper = state.bind_mapper
    bulk = state.is_update or state.is_delete
    if bulk and mapper is not None and mapper.class_ in (Platform, Deployment):
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_generation(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        global _generation
        with _generation_lock:
            _generation += 1


@event.listens_for(Session, "after_soft_rollback")
def _forget_change(session: Session, _previous: Any) -> None:
    session.info.pop(_CHANGED, None)
