"""Regenerate migration 0001 from the models. Only while no release has shipped."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from integration.db import MIGRATIONS_DIR, _alembic_config, make_engine


def main() -> None:
    target = MIGRATIONS_DIR / "versions" / "0001_initial_schema.py"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'gen.sqlite3'}")
        command.revision(
            _alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001"
        )
        engine.dispose()
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "check", "-q", "--fix", str(target)], check=False)
    subprocess.run([*ruff, "format", "-q", str(target)], check=False)


if __name__ == "__main__":
    main()
