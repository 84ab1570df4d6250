"""`reperes --help` answers at once: the web stack and the database load only when a
command needs them (counted by modules imported, not by a timer)."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from integration.cli import LAZY_COMMANDS, main


def test_help_imports_neither_flask_nor_sqlalchemy() -> None:
    code = (
        "import sys\n"
        "from integration.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('flask', 'sqlalchemy', 'requests', 'docx', 'PIL')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out
    for name in LAZY_COMMANDS:
        assert name in out


def test_every_lazy_command_loads_and_has_help() -> None:
    runner = CliRunner()
    for name in LAZY_COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
    assert "moodle" in runner.invoke(main, ["platform", "--help"]).output
