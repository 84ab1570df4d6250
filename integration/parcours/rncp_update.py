"""Refresh référentiels from the national RNCP export: what changed, fiche by fiche.

`reperes referentiels update FILE.zip|FILE.xml` reads the export as it streams by and keeps
the fiches in use (those of the shipped référentiels, of the operator's imports, and every
one a parcours, a tag or a course names) and those asked for, plus the fiches named as their
successors when they come later in the file. Each fiche read is stored like an operator's
import (every platform sees it) when it is new, and what changed is recorded in its
provenance notes and told in the summary: a new version, wordings changed, added or
removed, no longer delivered, its successors. A parcours keeps the version it uses until a
coordinateur moves it (`migrate_version`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel, ReferentielError
from referentiels.lifecycle import expiry_message
from referentiels.model import version_order

from ..models import Course, ParcoursReferentiel, Tag
from .catalog import (
    EVERY_PLATFORM,
    common_id,
    import_referentiels,
    load_catalog,
    platform_id_of,
)
from .migrate_version import same_words

Kind = Literal["ajoute", "nouvelle_version", "inchange", "refuse"]
KIND_WORDS = {"ajoute": "ajouté", "nouvelle_version": "nouvelle version",
              "inchange": "inchangé", "refuse": "refusé"}


@dataclass
class FicheChange:
    numero: str
    intitule: str
    kind: Kind
    stored: str | None = None  # "id@version" as stored now
    previous: str | None = None  # the latest version held before, "id@version"
    changed: int = 0  # wordings of the previous version not found as they were
    added: int = 0  # wordings that are new
    expired: str | None = None  # « n'est plus délivré après le … »
    successors: tuple[str, ...] = ()
    problem: str | None = None

    def words(self) -> str:
        parts = [KIND_WORDS[self.kind]]
        if self.stored:
            parts[0] += f" {self.stored}"
        if self.previous:
            parts.append(f"avant : {self.previous}")
        if self.changed or self.added:
            parts.append(f"{self.changed} libellé(s) changé(s) ou retiré(s), "
                         f"{self.added} ajouté(s)")
        if self.expired:
            parts.append(self.expired)
        if self.successors:
            parts.append(f"successeur(s) : {', '.join(self.successors)}")
        if self.problem:
            parts.append(self.problem)
        return f"{self.numero} {self.intitule} : " + " ; ".join(parts)


@dataclass
class UpdateReport:
    wanted: set[str]
    changes: list[FicheChange] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    def count(self, kind: Kind) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


def fiches_in_use(session: Session, catalog: Catalog) -> set[str]:
    """RNCP numbers of the référentiels shipped, imported by the operator, or named by a
    parcours, a tag or a course of any platform."""
    keys: set[tuple[str, str | None]] = set()
    keys.update(session.execute(select(ParcoursReferentiel.referentiel_id,
                                       ParcoursReferentiel.referentiel_version).distinct()))
    keys.update(session.execute(select(Tag.referentiel_id, Tag.referentiel_version).distinct()))
    for offered in session.scalars(select(Course.referentiels)):
        for entry in offered or []:
            ref_id, _, version = str(entry).partition("@")
            keys.add((ref_id, version or None))
    numbers: set[str] = set()
    for ref_id, version in keys:
        ref = catalog.find(ref_id, version)
        if ref is not None and ref.rncp:
            numbers.add(ref.rncp)
        elif common_id(ref_id).startswith("RNCP"):
            numbers.add(common_id(ref_id))
    # Shipped and the operator's imports: the common namespace.
    numbers.update(r.rncp for r in catalog if r.rncp and platform_id_of(r.id) is None)
    return numbers


def _wordings(ref: Referentiel) -> set[str]:
    return {same_words(c.intitule) for c in ref.competences()}


def _record(fiche: Referentiel, previous: Referentiel | None, source: str) -> Referentiel:
    note = f"mis à jour depuis l'export RNCP « {source} »"
    if previous is not None:
        old, new = _wordings(previous), _wordings(fiche)
        note += (f" : par rapport à {previous.id}@{previous.version}, "
                 f"{len(old - new)} libellé(s) changé(s) ou retiré(s), {len(new - old)} ajouté(s)")
    prov = dataclasses.replace(fiche.provenance, notes=(*fiche.provenance.notes, note))
    return dataclasses.replace(fiche, provenance=prov)


def apply_fiche(session: Session, catalog: Catalog, fiche: Referentiel,
                source: str) -> FicheChange:
    """Store one fiche read from the export when it is new; what changed."""
    numero = fiche.rncp or fiche.id
    held = [r for r in catalog if r.rncp == fiche.rncp and platform_id_of(r.id) is None]
    previous = max(held, key=lambda r: version_order(r.version), default=None)
    change = FicheChange(numero, fiche.intitule, "ajoute",
                         expired=expiry_message(fiche), successors=fiche.provenance.successors)
    same = catalog.find(fiche.id, fiche.version)
    if same is not None and dataclasses.replace(same, provenance=fiche.provenance) == fiche:
        change.kind, change.stored = "inchange", f"{same.id}@{same.version}"
        return change
    if previous is not None:
        old, new = _wordings(previous), _wordings(fiche)
        change.kind = "nouvelle_version"
        change.previous = f"{previous.id}@{previous.version}"
        change.changed, change.added = len(old - new), len(new - old)
    try:
        with session.begin_nested():
            import_referentiels(session, [_record(fiche, previous, source)], "rncp-xml")
    except ReferentielError as error:
        change.kind, change.problem = "refuse", error.message
        return change
    change.stored = f"{fiche.id}@{fiche.version}"
    catalog.add(fiche)
    return change


def update_from_export(session: Session, fiches: Iterable[Referentiel | ReferentielError],
                       wanted: set[str], source: str) -> UpdateReport:
    """Apply every fiche (or its error) as it streams by; the caller commits."""
    catalog = Catalog(load_catalog(session, platform_id=EVERY_PLATFORM, fresh=True))
    report = UpdateReport(wanted)
    for item in fiches:
        if isinstance(item, ReferentielError):
            if item.message.startswith("fiche(s) absente(s)"):
                report.absent = sorted(item.message.split(" : ", 1)[1].split(", "))
                continue
            where = item.problems[0].location if item.problems else ""
            numero = (where or "").split(" ")[1] if where and where.startswith("FICHE ") else "?"
            report.changes.append(FicheChange(numero, "", "refuse", problem=str(item)))
            continue
        report.changes.append(apply_fiche(session, catalog, item, source))
    return report
