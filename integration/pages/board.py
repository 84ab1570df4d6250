"""What the accompagnateur's screens show: the candidats of a course, where each stands,
the coverage of the whole course, one candidat's file, one compétence to review.

The course-wide views read the whole course in a fixed number of queries (a course of
60 candidats with thousands of tasks is one page): the per-parcours `coverage` service
would cost one round of queries per candidat. Who may see what stays the parcours
services' rule (`visible_parcours`); these pages narrow it to the course of the launch.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from referentiels import Catalog, Referentiel

from .. import parcours as services
from ..actor import Actor
from ..db import transaction
from ..lti.errors import ServiceError
from ..lti.services import Member, list_members
from ..models import (
    Course,
    Evidence,
    HistoryEntry,
    Membership,
    Parcours,
    ParcoursStatus,
    Person,
    Platform,
    Review,
    Role,
    Tag,
    Task,
)
from ..parcours.access import require_accompagnateur, visible_parcours
from ..parcours.errors import NotFound
from ..parcours.items import Item, find_item
from ..parcours.progress import (
    CompetenceProgress,
    ParcoursProgress,
    Totals,
    chosen_referentiels,
    decide,
    load_facts,
)
from ..parcours.readiness import Readiness, readiness
from ..parcours.worklist import to_look_at
from ..runtime import current_runtime
from .screens import Photo, TaskCard, task_cards

log = logging.getLogger(__name__)

NOT_FOUND = "Ce parcours n’existe pas dans ce cours, ou vous ne pouvez pas le voir."

# --- names and roles: who is in the course -----------------------------------------------------

ROSTER_SECONDS = 120.0
_roster_lock = threading.Lock()


def _roster_cache() -> dict[int, tuple[float, list[Member]]]:
    # Per app (its runtime), in this process only: another instance asks Moodle itself.
    cache: dict[int, tuple[float, list[Member]]] = current_runtime().extras.setdefault(
        "pages.roster", {})
    return cache


@dataclass(frozen=True)
class Roster:
    members: list[Member] | None  # None: the platform's list could not be read
    asked: bool  # whether the course offers names and roles at all


def course_roster(who: Actor) -> Roster:
    """The platform's list of the course's people (NRPS), kept two minutes in this process.

    Never fails: a platform that does not answer leaves the page with who has launched.
    Runs outside the page's transaction (an HTTP call must not hold the database).
    """
    now = time.monotonic()
    cache = _roster_cache()
    with _roster_lock:
        cached = cache.get(who.course_id)
    if cached and now - cached[0] < ROSTER_SECONDS:
        return Roster(cached[1], True)
    with transaction(current_runtime().sessions) as db:
        course = db.get(Course, who.course_id)
        platform = db.get(Platform, who.platform_id)
    if course is None or platform is None or not course.nrps_url:
        return Roster(None, False)
    try:
        members = list_members(platform, course)
    except (ServiceError, OSError, ValueError) as error:
        log.warning("names and roles of course %s unavailable: %s", who.course_id, error)
        return Roster(None, True)
    with _roster_lock:
        cache[who.course_id] = (now, members)
    return Roster(members, True)


def forget_roster(course_id: int | None = None) -> None:
    cache = _roster_cache()
    with _roster_lock:
        if course_id is None:
            cache.clear()
        else:
            cache.pop(course_id, None)


# --- the course, candidat by candidat -------------------------------------------------------------


# One bloc of one candidat: how many of its compétences show what (the progress model's).
Cell = Totals


@dataclass(frozen=True)
class Column:
    referentiel_id: str
    referentiel_version: str
    code: str
    intitule: str
    falc: str | None
    number: int  # 1, 2, … within its référentiel: short headers on small screens


@dataclass
class Row:
    name: str
    person_id: int | None
    parcours: Parcours | None
    launched: bool
    task_count: int = 0
    last_activity: datetime | None = None
    totals: Cell = field(default_factory=Cell)
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)
    referentiels: list[Referentiel] = field(default_factory=list)
    to_look_at: int = 0  # activities waiting for this accompagnateur (« À regarder »)

    @property
    def percent(self) -> int:
        return self.totals.percent

    @property
    def step(self) -> str:
        """The filter's step: a parcours status, or « pas_commence » (no métier yet)."""
        if self.parcours is None or not self.referentiels:
            return "pas_commence"
        return self.parcours.status.value

    @property
    def waiting(self) -> str:
        """What this candidat waits for, in a few plain words."""
        if not self.launched:
            return "Pas encore venu dans Repères"
        if self.parcours is None or not self.referentiels:
            return "Doit choisir son métier"
        if self.to_look_at:
            return "Attend votre regard"
        if self.parcours.status is ParcoursStatus.PRET_POUR_LE_JURY:
            return "Attend le jury"
        if self.parcours.status is not ParcoursStatus.EN_PREPARATION:
            return "Parcours présenté au jury"
        if not self.task_count:
            return "Doit écrire une première activité"
        if self.parcours.modalite is None:
            return "Doit choisir sa façon de montrer"
        return "Continue ses activités"


@dataclass
class Board:
    course: Course
    rows: list[Row]
    columns: list[Column]
    referentiels: list[Referentiel]
    roster_failed: bool
    roster_used: bool
    to_look_at: int = 0  # the same count as « À regarder »

    @property
    def ready_count(self) -> int:
        return sum(1 for r in self.rows if r.parcours is not None
                   and r.parcours.status is ParcoursStatus.PRET_POUR_LE_JURY)


def _course_parcours(db: Session, who: Actor) -> list[Parcours]:
    stmt = (
        visible_parcours(who)
        .where(Parcours.course_id == who.course_id)
        .options(joinedload(Parcours.person), selectinload(Parcours.referentiels))
        .order_by(Parcours.id)
    )
    return list(db.scalars(stmt).unique())


def course_board(db: Session, who: Actor, catalog: Catalog, roster: Roster) -> Board:
    """Every candidat of the course of the launch, with their progress bloc by bloc."""
    require_accompagnateur(
        who, "Cette page est pour les accompagnateurs du cours.")
    course = db.get(Course, who.course_id)
    if course is None:
        raise NotFound("Ce cours n’existe pas ici. Relancez Repères depuis Moodle.")
    parcours = _course_parcours(db, who)
    ids = [p.id for p in parcours]
    facts = load_facts(db, ids, detail=False)  # counts: a course is thousands of activities
    history: dict[int, datetime] = dict(db.execute(
        select(HistoryEntry.parcours_id, func.max(HistoryEntry.at))
        .where(HistoryEntry.parcours_id.in_(ids)).group_by(HistoryEntry.parcours_id)
    ).all()) if ids else {}

    columns: dict[tuple[str, str, str], Column] = {}
    referentiels: dict[tuple[str, str], Referentiel] = {}
    rows: list[Row] = []
    seen_people: set[int] = set()
    for p in parcours:
        refs = chosen_referentiels(p, catalog)
        progress = decide(facts, p.id, refs)
        row = Row(p.person.display_name, p.person_id, p, True, progress.activity_count,
                  _latest(history.get(p.id), progress.last_activity_at), referentiels=refs)
        for ref in refs:
            referentiels.setdefault(ref.key, ref)
            for number, bloc in enumerate(ref.blocs, start=1):
                columns.setdefault((ref.id, ref.version, bloc.code), Column(
                    ref.id, ref.version, bloc.code, bloc.intitule, bloc.falc, number))
        for ref_progress in progress.referentiels:
            for bloc_progress in ref_progress.blocs:
                row.cells[(ref_progress.referentiel_id, ref_progress.referentiel_version,
                           bloc_progress.code)] = bloc_progress.totals
            row.totals.add(ref_progress.totals)
        rows.append(row)
        seen_people.add(p.person_id)

    rows.extend(_not_started(db, who, roster, seen_people))
    rows.sort(key=lambda r: (r.parcours is None, r.name.lower()))
    work = to_look_at(db, who)
    for row in rows:
        if row.parcours is not None:
            row.to_look_at = work.of(row.parcours.id)
    return Board(course, rows, list(columns.values()), list(referentiels.values()),
                 roster_failed=roster.asked and roster.members is None,
                 roster_used=roster.members is not None, to_look_at=work.count)


SORTS = {
    "nom": "le nom",
    "derniere": "la dernière action",
    "a-regarder": "ce qui est à regarder",
    "progression": "la progression",
}
STEPS = {
    "": "toutes les étapes",
    "pas_commence": "pas encore de métier choisi",
    ParcoursStatus.EN_PREPARATION.value: "en préparation",
    ParcoursStatus.PRET_POUR_LE_JURY.value: "prêt pour le jury",
    ParcoursStatus.PRESENTE.value: "présenté au jury",
    ParcoursStatus.RECONNU.value: "reconnu",
}


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def arrange(rows: list[Row], *, search: str = "", sort: str = "nom",
            step: str = "") -> list[Row]:
    """The course list as asked: names containing `search` (accents and case aside),
    at one step, in one order (names otherwise)."""
    wanted = _folded(search.strip())
    found = [r for r in rows if (not wanted or wanted in _folded(r.name))
             and (not step or r.step == step)]
    by_name = sorted(found, key=lambda r: _folded(r.name))
    if sort == "derniere":
        stamp = {id(r): r.last_activity.timestamp() if r.last_activity else 0.0 for r in found}
        return sorted(by_name, key=lambda r: -stamp[id(r)])
    if sort == "a-regarder":
        return sorted(by_name, key=lambda r: -r.to_look_at)
    if sort == "progression":
        return sorted(by_name, key=lambda r: (-r.percent, -r.totals.reviewed))
    return by_name


def _latest(*moments: datetime | None) -> datetime | None:
    found = [m for m in moments if m is not None]
    return max(found) if found else None


def _not_started(db: Session, who: Actor, roster: Roster, seen: set[int]) -> list[Row]:
    """Candidats of the course without a parcours yet: launched once, or listed by Moodle."""
    rows: list[Row] = []
    known: set[str] = set()
    for person, last in db.execute(
        select(Person, Membership.last_launch_at)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.course_id == who.course_id, Membership.role == Role.CANDIDAT)
    ).all():
        known.add(person.sub)
        if person.id not in seen:
            seen.add(person.id)
            rows.append(Row(person.display_name, person.id, None, True, last_activity=last))
    for member in roster.members or []:
        if (member.role is not Role.CANDIDAT or member.status != "Active"
                or member.user_id in known):
            continue
        known.add(member.user_id)
        name = member.name or " ".join(
            p for p in (member.given_name, member.family_name) if p) or member.email
        rows.append(Row(name or "Personne sans nom", None, None, False))
    return rows


# --- one candidat --------------------------------------------------------------------------------


def parcours_in_course(db: Session, who: Actor, parcours_id: int) -> Parcours:
    """The parcours if it belongs to the course of the launch (404 otherwise)."""
    require_accompagnateur(
        who, "Cette page est pour les accompagnateurs du cours.")
    parcours = services.get_parcours(db, who, parcours_id)
    if parcours.course_id != who.course_id:
        raise NotFound(NOT_FOUND)
    return parcours


@dataclass(frozen=True)
class StepChange:
    old: ParcoursStatus
    new: ParcoursStatus
    by: str
    at: datetime


@dataclass
class CandidatFile:
    parcours: Parcours
    person: Person
    coverage: ParcoursProgress
    cards: list[TaskCard]
    photos: dict[int, list[Photo]]
    readiness: Readiness = field(default_factory=Readiness)
    steps: list[StepChange] = field(default_factory=list)  # newest first
    to_look_at: int = 0


def candidat_file(db: Session, who: Actor, parcours_id: int, catalog: Catalog) -> CandidatFile:
    """The positionnement grid, the tasks and their photos of one candidat of the course,
    what the parcours has before the jury, and the changes of step (going back included)."""
    parcours = parcours_in_course(db, who, parcours_id)
    cov = services.parcours_progress(db, who, parcours.id, catalog=catalog)
    tasks = services.list_tasks(db, who, parcours.id)
    steps = [StepChange(ParcoursStatus(e.detail["old"]), ParcoursStatus(e.detail["new"]),
                        person.display_name if person is not None else "", e.at)
             for e, person in db.execute(
                 select(HistoryEntry, Person)
                 .outerjoin(Person, Person.id == HistoryEntry.actor_id)
                 .where(HistoryEntry.parcours_id == parcours.id,
                        HistoryEntry.action == "status.changed")
                 .order_by(HistoryEntry.id.desc()).limit(20)).all()]
    work = to_look_at(db, who, course_id=parcours.course_id, parcours_id=parcours.id)
    return CandidatFile(parcours, parcours.person, cov, task_cards(db, tasks),
                        _photos(db, tasks), readiness(cov), steps, work.count)


def _photos(db: Session, tasks: list[Task]) -> dict[int, list[Photo]]:
    found: dict[int, list[Photo]] = defaultdict(list)
    if not tasks:
        return found
    live = select(Task.id).where(Task.parcours_id == tasks[0].parcours_id,
                                 Task.deleted_at.is_(None))
    for e in db.execute(
        select(Evidence.id, Evidence.task_id, Evidence.kind, Evidence.caption,
               Evidence.original_name, Evidence.preview_path, Evidence.medium_path,
               Evidence.width, Evidence.height)
        .where(Evidence.task_id.in_(live), Evidence.deleted_at.is_(None))
        .order_by(Evidence.id)
    ).all():
        found[e.task_id].append(Photo.of(e))
    return found


@dataclass(frozen=True)
class LinkedTask:
    task: Task
    comment: str
    photos: list[Photo]


@dataclass
class ReviewScreen:
    parcours: Parcours
    person: Person
    referentiel: Referentiel
    item: Item
    coverage: CompetenceProgress | None
    tasks: list[LinkedTask]
    earlier: list[Review]


def review_screen(db: Session, who: Actor, parcours_id: int, ref_id: str, version: str,
                  code: str, catalog: Catalog) -> ReviewScreen:
    """One compétence of one candidat: the tasks and photos that show it, and the reviews."""
    parcours = parcours_in_course(db, who, parcours_id)
    ref = catalog.find(ref_id, version)
    item = find_item(ref, code) if ref is not None else None
    if ref is None or item is None or (ref_id, version) not in {
        (r.referentiel_id, r.referentiel_version) for r in parcours.referentiels
    }:
        raise NotFound("Cette compétence n’est pas dans le référentiel de ce parcours.")
    cov = services.parcours_progress(db, who, parcours.id, catalog=catalog)
    found: CompetenceProgress | None = None
    for rc in cov.referentiels:
        if (rc.referentiel_id, rc.referentiel_version) == (ref_id, version):
            for bloc in rc.blocs:
                found = next((i for i in bloc.items if i.code == code), found)
    tasks = services.list_tasks(db, who, parcours.id)
    linked_ids = set(found.task_ids if found else [])
    linked = [t for t in tasks if t.id in linked_ids]
    comments = {t.task_id: t.comment for t in db.scalars(select(Tag).where(
        Tag.task_id.in_(linked_ids), Tag.referentiel_id == ref_id,
        Tag.referentiel_version == version, Tag.competence_code == code))} if linked_ids else {}
    photos = _photos(db, tasks) if linked else {}
    earlier = [r for r in services.list_reviews(db, who, parcours.id)
               if (r.referentiel_id, r.referentiel_version, r.competence_code)
               == (ref_id, version, code)]
    return ReviewScreen(parcours, parcours.person, ref, item, found,
                        [LinkedTask(t, comments.get(t.id, ""), photos.get(t.id, []))
                         for t in linked], earlier)
