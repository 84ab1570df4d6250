"""The coordinateur's settings of a course: which référentiels it offers, and importing one.

There is no course service in `integration.parcours` yet: these small functions keep the
same habits (the actor's right checked first, the caller owns the transaction, a plain
French message on refusal) until one exists.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel, ReferentielError
from referentiels.errors import Problem
from referentiels.importers import FORMATS, guess_format, import_file

from ..actor import Actor
from ..models import Course, Platform
from ..parcours.access import may_choose_course_referentiels
from ..parcours.catalog import import_referentiels, load_catalog, resolve
from ..parcours.errors import Forbidden, Invalid, NotFound
from ..platform_settings import PlatformSettings
from .referentiel_status import ReferentielState, states_of

log = logging.getLogger(__name__)

MAX_OFFERED = 20
MAX_IMPORT_BYTES = 25 * 1024 * 1024
FORMAT_WORDS = {
    "rncp-xml": "fiche RNCP (XML de France Compétences)",
    "moodle-csv": "compétences Moodle (CSV)",
    "case": "CASE (JSON)",
}


def _course(db: Session, who: Actor, *, to_choose: bool = False) -> Course:
    """The actor's course: for its coordinateur; with `to_choose`, also for an
    accompagnateur when the coordinateur allows them to choose the référentiels."""
    allowed = who.is_coordinateur or (to_choose and may_choose_course_referentiels(
        who, accompagnateurs_choose(db, who)))
    if not allowed:
        raise Forbidden("Seul un coordinateur choisit les référentiels du cours.")
    course = db.get(Course, who.course_id)
    if course is None or course.platform_id != who.platform_id:
        raise NotFound("Ce cours n’existe pas ici. Relancez Repères depuis Moodle.")
    return course


def accompagnateurs_choose(db: Session, who: Actor) -> bool:
    """The platform's setting: may accompagnateurs choose the course's référentiels?"""
    return PlatformSettings.of(db.get(Platform, who.platform_id)
                               ).accompagnateurs_choose_referentiels


def set_accompagnateurs_choose(db: Session, who: Actor, allowed: bool) -> None:
    """The coordinateur allows (or not) the accompagnateurs to choose the référentiels."""
    _course(db, who)
    platform = db.get(Platform, who.platform_id)
    if platform is None:
        raise NotFound("Cette plateforme n’existe pas ici. Relancez Repères depuis Moodle.")
    settings = replace(PlatformSettings.of(platform), accompagnateurs_choose_referentiels=allowed)
    if settings.to_json() != (platform.settings or {}):
        platform.settings = settings.to_json()
        log.info("platform %s: accompagnateurs choose référentiels = %s (by person %s)",
                 platform.id, allowed, who.person_id)
        db.flush()


@dataclass
class OfferScreen:
    course: Course
    referentiels: list[Referentiel]
    offered: set[str]  # "id@version"
    unknown: list[str]  # entries of the course no longer found
    states: dict[str, ReferentielState] = field(default_factory=dict)  # by "id@version"
    may_choose: bool = True  # this actor may change what the course offers
    accompagnateurs_choose: bool = False  # the platform's setting


def offer_screen(db: Session, who: Actor) -> OfferScreen:
    """What the course offers; an accompagnateur reads it (and changes it if allowed)."""
    if who.is_candidat:
        raise Forbidden("Les référentiels du cours sont choisis par le coordinateur.")
    course = db.get(Course, who.course_id)
    if course is None or course.platform_id != who.platform_id:
        raise NotFound("Ce cours n’existe pas ici. Relancez Repères depuis Moodle.")
    allowed = accompagnateurs_choose(db, who)
    catalog = load_catalog(db, platform_id=who.platform_id, fresh=True)
    offered: set[str] = set()
    unknown: list[str] = []
    for entry in course.referentiels or []:
        try:
            ref = resolve(catalog, str(entry))
        except ReferentielError:
            unknown.append(str(entry))
            continue
        offered.add(f"{ref.id}@{ref.version}")
    refs = sorted(catalog, key=lambda r: (r.status != "en_vigueur", r.intitule.lower(),
                                          r.version))
    return OfferScreen(course, refs, offered, unknown, states_of(refs),
                       may_choose_course_referentiels(who, allowed), allowed)


def set_offer(db: Session, who: Actor, entries: Sequence[str], catalog: Catalog) -> Course:
    """The référentiels the course offers (none: every shipped one in force)."""
    course = _course(db, who, to_choose=True)
    wanted: list[str] = []
    for entry in entries:
        ref_id, _, version = entry.partition("@")
        if catalog.find(ref_id, version or None) is None:
            raise Invalid(f"Le référentiel « {entry} » n’existe pas ici.", field="referentiels")
        if entry not in wanted:
            wanted.append(entry)
    if len(wanted) > MAX_OFFERED:
        raise Invalid(f"Choisissez {MAX_OFFERED} référentiels au plus.", field="referentiels")
    if list(course.referentiels or []) != wanted:
        log.info("course %s offers %s (by person %s)", course.id, wanted, who.person_id)
        course.referentiels = wanted
        db.flush()
    return course


class ImportRefused(Exception):
    """A file that cannot be imported, with every problem found and where it is."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


@dataclass(frozen=True)
class Imported:
    added: int
    unchanged: int
    names: list[str]


def import_upload(
    db: Session, who: Actor, data: bytes, filename: str, fmt: str | None, fiche: str | None
) -> Imported:
    """Import the référentiel(s) of an uploaded file, all or nothing."""
    _course(db, who)
    if not data:
        raise ImportRefused("Choisissez un fichier.")
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused("Le fichier est trop gros (25 Mo au plus). Pour un export "
                            "national, utilisez la commande « reperes referentiels import ».")
    fmt = fmt or None
    if fmt is not None and fmt not in FORMATS:
        raise ImportRefused("Choisissez le format dans la liste.")
    name = Path(filename or "referentiel").name
    try:
        fmt = fmt or guess_format(name)
    except ReferentielError:
        raise ImportRefused(
            "Le format n’est pas reconnu d’après le nom du fichier (.xml, .csv ou .json). "
            "Choisissez le format dans la liste."
        ) from None
    fiche = (fiche or "").strip() or None
    if fiche is not None and fmt != "rncp-xml":
        raise ImportRefused("Le numéro de fiche ne sert que pour une fiche RNCP (XML).")
    suffix = {"rncp-xml": ".xml", "moodle-csv": ".csv", "case": ".json"}[fmt]
    try:
        with tempfile.TemporaryDirectory(prefix="reperes-import-") as folder:
            path = Path(folder) / f"import{suffix}"
            path.write_bytes(data)
            refs = import_file(path, fmt, fiche)
            if not refs:
                raise ImportRefused("Ce fichier ne contient aucun référentiel.")
            # Stored in this platform's namespace (« p<platform>~<id> »): never in the way
            # of the operator's référentiels nor of another platform's.
            stored: list[Referentiel] = []
            added, unchanged = import_referentiels(db, refs, fmt, who.platform_id,
                                                   stored=stored)
    except ReferentielError as error:
        problems = [Problem(p.message, name if p.file else None, p.location)
                    for p in error.problems]
        raise ImportRefused("Rien n’a été importé. Voici ce qui ne va pas :", problems) from None
    log.info("imported %d référentiel(s) from %s (%s) by person %s", added, name, fmt,
             who.person_id)
    return Imported(added, unchanged, [f"{r.intitule} ({r.id}@{r.version})" for r in stored])
