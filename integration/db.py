"""Database engine, sessions and migrations (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DatabaseNotReady(Exception):
    """The database is missing or not migrated to the code's schema."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas Repères relies on (WAL and foreign keys on SQLite)."""
    # SQL errors must never carry row values (names, texts) into logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy drive transactions; SQLite's own BEGIN handling is disabled.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: two writers queue instead of failing.
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from alembic import command

    if engine.dialect.name == "postgresql":
        # Several instances may start at once: one migrates, the others wait, then find
        # nothing left to do.
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_advisory_lock(72616570)")
            try:
                command.upgrade(_alembic_config(engine), revision)
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(72616570)")
                conn.commit()
        return
    command.upgrade(_alembic_config(engine), revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_ready(engine: Engine) -> None:
    """Raise DatabaseNotReady with an operator message unless migrations are at head."""
    try:
        current = current_revision(engine)
    except Exception as exc:  # a wrong URL, a server down: say so plainly
        raise DatabaseNotReady(
            f"cannot reach the database ({type(exc).__name__}); check REPERES_DATABASE_URL"
        ) from None
    head = head_revision()
    if current != head:
        raise DatabaseNotReady(
            f"the database is at migration {current or 'none'} but the code needs {head}: "
            "run `reperes db upgrade`"
        )


MAX_ID = 2**31 - 1  # the largest key an INTEGER column holds on every backend


def id_from(text: str | None) -> int | None:
    """A database key from a URL or a form: None when absent, not a number or out of range."""
    if text is None or not text.strip().isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
