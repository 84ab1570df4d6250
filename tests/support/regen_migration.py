"""Draft a new migration from the difference between the models and the migrated schema.

Migration 0001 is frozen since the second wave (instances in use upgrade from it): each
schema change is a new revision. The draft is a starting point: read it, name each change's
reason, and keep batch mode for SQLite.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from integration.db import MIGRATIONS_DIR, _alembic_config, make_engine, upgrade


def main() -> None:
    message = " ".join(sys.argv[1:]) or "schema change"
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'gen.sqlite3'}")
        upgrade(engine)
        config = _alembic_config(engine)
        head = ScriptDirectory.from_config(config).get_current_head() or "0000"
        rev_id = f"{int(head) + 1:04d}"
        script = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
        engine.dispose()
    target = Path(script.path) if script is not None and not isinstance(script, list) else None
    if target is None:
        return
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "check", "-q", "--fix", str(target)], check=False)
    subprocess.run([*ruff, "format", "-q", str(target)], check=False)
    print(f"drafted {target.relative_to(MIGRATIONS_DIR.parent.parent)}")


if __name__ == "__main__":
    main()
