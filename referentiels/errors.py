"""The one exception type of the library, and the problems it carries."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one place of one file.

    `location` is a JSON path (``blocs[1].competences[3].code``), a line and
    column (``ligne 12, colonne 4``) or an element (``FICHE RNCP123 > BLOC_COMPETENCES[2]``).
    """

    message: str
    file: str | None = None
    location: str | None = None

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.location) if p]
        parts.append(self.message)
        return ": ".join(parts)


class ReferentielError(Exception):
    """A référentiel could not be read, checked or imported.

    It carries every problem found (``problems``), and for convenience the file,
    location and message of the first one. ``str(error)`` gives one line per problem.
    """

    def __init__(
        self,
        message: str = "",
        *,
        file: str | None = None,
        location: str | None = None,
        problems: Iterable[Problem] = (),
    ) -> None:
        found = tuple(problems)
        if not found:
            found = (Problem(message, file, location),)
        self.problems: tuple[Problem, ...] = found
        self.message: str = found[0].message
        self.file: str | None = found[0].file
        self.location: str | None = found[0].location
        super().__init__("\n".join(str(p) for p in found))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def read_source(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """The bytes of a file and the short name errors give it; ReferentielError if unreadable."""
    file = Path(path)
    try:
        return file.read_bytes(), file.name
    except OSError as error:
        raise ReferentielError(
            f"lecture impossible : {error.strerror or error}", file=str(file)
        ) from None
