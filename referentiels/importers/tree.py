"""Flatten a tree of competencies (Moodle, CASE) to blocs and compétences.

The rule, shared by the Moodle CSV and CASE importers:

- when no top-level item has children, the list is flat: one bloc, named after
  the framework (code ``B1``), holds every item as a compétence;
- otherwise each top-level item is a bloc, and every item below it, at any
  depth, is one of its compétences, in depth-first order (a parent before its
  children). An item deeper than the second level keeps its place in a note:
  « sous <code du parent> ».
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from referentiels.model import CODE_PATTERN, ID_PATTERN, Bloc, Competence, Reliability

FLAT_BLOC_CODE = "B1"


@dataclass
class Node:
    """One item of the tree, as read from the source."""

    code: str
    intitule: str
    falc: str | None = None
    picto: str | None = None
    note: str | None = None
    truncated: bool = False
    children: list[Node] = field(default_factory=list)
    source: str | None = None
    reliability: Reliability | None = None

    def as_competence(self, note: str | None = None) -> Competence:
        notes = "; ".join(n for n in (self.note, note) if n) or None
        return Competence(
            code=self.code,
            intitule=self.intitule,
            falc=self.falc,
            picto=self.picto,
            truncated=self.truncated,
            note=notes,
            source=self.source,
            reliability=self.reliability,
        )


def _descendants(node: Node, depth: int) -> list[Competence]:
    found: list[Competence] = []
    for child in node.children:
        note = f"sous {node.code}" if depth > 1 else None
        found.append(child.as_competence(note))
        found.extend(_descendants(child, depth + 1))
    return found


def flatten(
    top: list[Node], title: str, *, allow_flat: bool = True
) -> tuple[tuple[Bloc, ...], bool]:
    """Blocs from the top-level items; True when the flat rule was used."""
    if allow_flat and top and not any(node.children for node in top):
        competences = tuple(node.as_competence() for node in top)
        return (Bloc(code=FLAT_BLOC_CODE, intitule=title, competences=competences),), True
    blocs = tuple(
        Bloc(
            code=node.code,
            intitule=node.intitule,
            falc=node.falc,
            picto=node.picto,
            note=node.note,
            source=node.source,
            reliability=node.reliability,
            competences=tuple(_descendants(node, 1)),
        )
        for node in top
    )
    return blocs, False


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def safe_code(text: str, fallback: str) -> str:
    """`text` made into a valid code (letters, digits, « . - _ »), else `fallback`."""
    if CODE_PATTERN.fullmatch(text):
        return text
    code = re.sub(r"[^A-Za-z0-9._-]+", "-", _ascii(text)).strip("-._")[:64]
    return code if CODE_PATTERN.fullmatch(code) else fallback


def safe_id(text: str, fallback: str) -> str:
    """`text` made into a valid référentiel id, else `fallback`."""
    if ID_PATTERN.fullmatch(text):
        return text
    ref_id = re.sub(r"[^A-Za-z0-9_-]+", "-", _ascii(text)).strip("-_")[:64]
    return ref_id if ID_PATTERN.fullmatch(ref_id) else fallback
