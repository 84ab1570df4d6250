"""The README's layout table names every folder of the house, and nothing that is gone;
no module grows past 600 lines (generated migrations and data excepted)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("integration", "connectors", "referentiels", "docx_templates")


def _named_in_readme() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Layout", 1)[1]
    return {name.rstrip("/") for name in re.findall(r"^\| `([^`]+)`", table, re.M)} | {
        name.rstrip("/") for name in re.findall(r"`(integration/[a-z_]+/)`", table)}


def test_the_layout_table_matches_the_tree() -> None:
    named = _named_in_readme()
    folders = {f"integration/{p.name}" for p in (ROOT / "integration").iterdir()
               if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders - named == set(), "folders missing from the README's layout table"
    assert {n for n in named if n.startswith("integration/")} - folders == set(), \
        "the README names folders that are gone"


def test_no_module_is_over_600_lines() -> None:
    too_long = []
    for library in (*LIBRARIES, "tests"):
        for path in (ROOT / library).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines > 600:
                too_long.append(f"{path.relative_to(ROOT)}: {lines}")
    assert too_long == []
