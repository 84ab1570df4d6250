"""A throw-away PostgreSQL cluster for the test session (Debian's server binaries).

Set REPERES_TEST_POSTGRES_URL to use an existing server instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl and shutil.which("initdb") else None


def available() -> bool:
    return bool(os.environ.get("REPERES_TEST_POSTGRES_URL")) or _bindir() is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """initdb + pg_ctl start in a temp dir; as root, runs as the `postgres` user."""

    def __init__(self) -> None:
        bindir = _bindir()
        assert bindir is not None
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="reperes-pg-"))
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres")

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        data = self.dir / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        # The port is free when chosen, but another process may take it before the server
        # binds it: try again with a new one.
        for attempt in range(3):
            if attempt:
                self.port = _free_port()
            opts = (
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(data), "-o", opts,
                    "-l", str(self.dir / "log"), "-w", "start",
                )
            except subprocess.CalledProcessError:
                continue
            if self._answers():
                return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"
        log = (self.dir / "log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the test PostgreSQL server did not start:\n{log}")

    def _answers(self) -> bool:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        try:
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# Empty databases made by create_database, waiting for tests.support.database.migrate to
# make them again from a migrated template: url -> admin url.
fresh_databases: dict[str, str] = {}


def create_database(
    admin_url: str, name: str, *, template: str | None = None, fresh: bool = True
) -> str:
    """A new database `name` (dropped first if there), empty or a copy of `template`."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            copy = f' TEMPLATE "{template}"' if template else ""
            # PostgreSQL 15 copies a template through the WAL by default; copying the files
            # is faster for small databases (and fsync is off on the test cluster).
            if int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) >= 150000:
                copy += " STRATEGY FILE_COPY"
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        engine.dispose()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    if fresh and template is None:
        fresh_databases[url] = admin_url
    else:
        fresh_databases.pop(url, None)
    return url


def drop_database(admin_url: str, name: str) -> None:
    """Drop a test database, closing what still uses it (keeps the cluster small)."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
    fresh_databases.pop(admin_url.rsplit("/", 1)[0] + f"/{name}", None)
