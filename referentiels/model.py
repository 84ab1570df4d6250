"""The référentiel model: frozen values, safe to share and to cache.

A compétence is addressed by ``f"{id}@{version}#{code}"``. A référentiel id and
version name one fixed text, and compétence codes are unique within a
référentiel, so an address keeps its meaning forever: a new wording is a new
version, never an edit of an old one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from referentiels.errors import ReferentielError

Status = Literal["en_vigueur", "historique"]
STATUSES: tuple[Status, ...] = ("en_vigueur", "historique")

# How far one wording can be trusted: « officiel » copied from the official text (JORF
# annex, RNCP fiche); « transcription » a public copy of the official text, to check;
# « secondaire » a third party's list (training provider, Carif-Oref); « deduit » completed
# by reasoning (e.g. the end of a cut wording). Never show the last three as official.
Reliability = Literal["officiel", "transcription", "secondaire", "deduit"]
RELIABILITIES: tuple[Reliability, ...] = ("officiel", "transcription", "secondaire", "deduit")

# An id imported by a platform's coordinateur lives in that platform's namespace:
# « p<platform>~ » before it (integration.parcours.catalog), e.g. « p3~RNCP34947 ».
ID_PATTERN = re.compile(r"(?:p[0-9]{1,9}~)?[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
RNCP_PATTERN = re.compile(r"RNCP[0-9]{1,6}")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a référentiel comes from and how far it was checked.

    `version` is the date of the official text (``YYYY-MM-DD``) when known, else a
    short label. `verified` says what was seen and where; `notes` hold the
    remarks a reader must know (inferred codes, missing parts). `complete` is
    False when some blocs or compétences were not seen. `echeance` is the end of
    the RNCP registration (``YYYY-MM-DD``) when known, `active` the fiche's « actif »
    flag in the RNCP when known, `successors` the RNCP numbers (``RNCPnnnnn``) or
    référentiel ids that replace it.
    """

    version: str
    status: Status
    sources: tuple[str, ...] = ()
    verified: str = ""
    notes: tuple[str, ...] = ()
    complete: bool = True
    echeance: str | None = None
    active: bool | None = None
    successors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Competence:
    """One compétence: its code and official wording, never rewritten.

    `falc` is an optional wording « en mots simples » shown beside the official
    one, `picto` a key of `referentiels.pictos.PICTOS`. `truncated` marks an
    official wording known to be cut in the source that was read. `source` names
    the document the wording was read in, `reliability` how far it can be trusted.
    """

    code: str
    intitule: str
    falc: str | None = None
    picto: str | None = None
    truncated: bool = False
    note: str | None = None
    source: str | None = None
    reliability: Reliability | None = None


@dataclass(frozen=True, slots=True)
class Bloc:
    """A bloc de compétences (a CCP or activité type for a titre professionnel)."""

    code: str
    intitule: str
    competences: tuple[Competence, ...] = ()
    falc: str | None = None
    picto: str | None = None
    note: str | None = None
    source: str | None = None
    reliability: Reliability | None = None


@dataclass(frozen=True, slots=True)
class Referentiel:
    """An official competency framework in one version."""

    id: str
    intitule: str
    certificateur: str
    niveau: str
    provenance: Provenance
    blocs: tuple[Bloc, ...] = ()
    rncp: str | None = None
    _index: dict[str, Competence] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        index = {c.code: c for b in self.blocs for c in b.competences}
        object.__setattr__(self, "_index", index)

    @property
    def version(self) -> str:
        return self.provenance.version

    @property
    def status(self) -> Status:
        return self.provenance.status

    @property
    def key(self) -> tuple[str, str]:
        """(id, version): what a tag keeps to find its référentiel again."""
        return (self.id, self.provenance.version)

    def competences(self) -> Iterator[Competence]:
        """Every compétence, bloc after bloc, in the official order."""
        for bloc in self.blocs:
            yield from bloc.competences

    def competence(self, code: str) -> Competence:
        """The compétence with this code; `ReferentielError` if there is none."""
        try:
            return self._index[code]
        except KeyError:
            raise ReferentielError(
                f"compétence inconnue « {code} » dans {self.id}@{self.version}"
            ) from None

    def has_competence(self, code: str) -> bool:
        return code in self._index

    def bloc_of(self, code: str) -> Bloc:
        """The bloc that holds the compétence `code`."""
        for bloc in self.blocs:
            if any(c.code == code for c in bloc.competences):
                return bloc
        raise ReferentielError(f"compétence inconnue « {code} » dans {self.id}@{self.version}")

    def address(self, code: str) -> str:
        """The stable address of one of this référentiel's compétences."""
        self.competence(code)
        return make_address(self.id, self.version, code)


def make_address(ref_id: str, version: str, code: str) -> str:
    return f"{ref_id}@{version}#{code}"


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed compétence address: ``id@version#code``."""

    id: str
    version: str
    code: str

    def __str__(self) -> str:
        return make_address(self.id, self.version, self.code)


def parse_address(text: str) -> Address:
    """Read ``id@version#code``; `ReferentielError` when it is not one."""
    ref_id, at, rest = text.partition("@")
    version, sharp, code = rest.partition("#")
    if not (at and sharp):
        raise ReferentielError(
            f"adresse de compétence invalide « {text} » (attendu : id@version#code)"
        )
    for what, value, pattern in (
        ("identifiant", ref_id, ID_PATTERN),
        ("version", version, VERSION_PATTERN),
        ("code", code, CODE_PATTERN),
    ):
        if not pattern.fullmatch(value):
            raise ReferentielError(
                f"adresse de compétence invalide « {text} » : {what} « {value} »"
            )
    return Address(ref_id, version, code)


_CHUNK = re.compile(r"[0-9]+|[^0-9]+")


def version_order(version: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for versions: numbers compare as numbers (dates, 1 < 2 < 10)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower())
        for part in _CHUNK.findall(version)
    )
