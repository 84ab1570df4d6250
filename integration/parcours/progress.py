"""The one progress model: what a parcours has shown, compétence by compétence.

Every view that says where a candidat stands reads this module: the candidat's
« mon métier » grid, the accompagnateur's course board and matrix, the API's coverage,
the gradebook score and the Word dossier. It has two halves:

- `load_facts` reads what is needed for one parcours or a whole course in a fixed number
  of queries (four, whatever the number of candidats or activities), each scoped to the
  parcours' own activities, so a network-sized database costs no more than one course;
- `decide` is a pure function from those facts and the chosen référentiels to the
  progress of one parcours: per compétence, its activities, its proof, the latest avis and
  the jury's recognition; per bloc and référentiel, the totals.

What counts as proof is decided here and only here:
- an activity in the candidat's own words (workplace or coursework) shows a compétence;
- a photo, a PDF or a voice note on one of its activities is a proof;
- a Moodle module completed (and still complete at the last sync) is a proof; one not
  complete shows nothing yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, case, func, select
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel

from ..actor import Actor
from ..models import (
    Evidence,
    EvidenceKind,
    Parcours,
    Recognition,
    Review,
    Tag,
    Task,
    TaskSource,
    Verdict,
)
from .access import parcours_for
from .items import items_of

Address = tuple[str, str, str]  # (referentiel id, version, compétence or bloc code)

# Kinds of evidence a person adds to an activity (a Moodle completion is not one).
FILE_KINDS = frozenset({EvidenceKind.PHOTO, EvidenceKind.PDF, EvidenceKind.AUDIO})


# --- facts ------------------------------------------------------------------------------------


class ActivityFacts(NamedTuple):
    """One live activity of a parcours, with what it carries (a tuple: a course has
    thousands, made on every page)."""

    id: int
    parcours_id: int
    source: TaskSource
    moodle_completed: bool
    files: int = 0  # photos, PDFs, voice notes

    @property
    def is_module(self) -> bool:
        """A Moodle module completed: a proof by itself."""
        return self.source is TaskSource.MOODLE and self.moodle_completed

    @property
    def in_own_words(self) -> bool:
        return self.source is not TaskSource.MOODLE


class Linked(NamedTuple):
    """A course-wide summary of what points to one compétence of one parcours: the
    activities in own words, the completed Moodle modules, their files, every tag."""

    own: int
    modules: int
    files: int
    tags: int


@dataclass(frozen=True)
class ReviewSummary:
    """The latest avis given on a compétence (or a bloc)."""

    verdict: str
    comment: str
    reviewer_name: str
    reviewer_id: int | None
    at: datetime


@dataclass
class Facts:
    """What the database holds for some parcours, keyed for the pure functions below."""

    activities: dict[int, ActivityFacts] = field(default_factory=dict)
    activities_of: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    # parcours -> address -> activity ids tagged with it
    tags: dict[int, dict[Address, list[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    avis: dict[tuple[int, str, str, str], ReviewSummary] = field(default_factory=dict)
    recognitions: dict[tuple[int, str, str, str], bool] = field(default_factory=dict)
    # parcours -> when one of its live activities last changed
    last_change: dict[int, datetime] = field(default_factory=dict)
    # Course-wide reads (`detail=False`): counts instead of activities.
    summaries: dict[int, dict[Address, Linked]] = field(default_factory=dict)
    activity_count: dict[int, int] = field(default_factory=dict)


def load_facts(session: Session, parcours_ids: Iterable[int], *, detail: bool = True) -> Facts:
    """Read the facts of these parcours in five queries, whatever their size.

    With `detail`, every activity is read (the grid names them); without, the database
    counts them per compétence (a course board needs only the counts: a course holds
    thousands of activities). `decide` gives the same progress from either.
    Rights are the caller's business: pass only parcours the actor may see.
    """
    ids = sorted(set(parcours_ids))
    facts = Facts()
    if not ids:
        return facts
    # Plain rows, not ORM objects: a course is thousands of them (pending changes of the
    # caller's transaction are flushed first, since a plain read does not).
    session.flush()
    db = session.connection()
    # Each activity's files are counted beside it (a correlated count through the
    # evidence.task_id index): a join of the evidence with the course's activities let
    # PostgreSQL scan the whole network's evidence (issue 13, tests/bench/bench_network.py).
    files = (
        select(func.count(Evidence.id))
        .where(Evidence.task_id == Task.id, Evidence.deleted_at.is_(None),
               Evidence.kind.in_([k.value for k in FILE_KINDS]))
        .correlate(Task)
        .scalar_subquery()
    )
    if detail:
        _load_activities(db, ids, files, facts)
    else:
        _load_summaries(db, ids, files, facts)
    for pid, count, at in db.execute(
        select(Task.parcours_id, func.count(Task.id), func.max(Task.updated_at))
        .where(Task.parcours_id.in_(ids), Task.deleted_at.is_(None))
        .group_by(Task.parcours_id)
    ):
        facts.activity_count[pid] = count
        if at is not None:
            facts.last_change[pid] = at
    for review in db.execute(
        select(Review.parcours_id, Review.referentiel_id, Review.referentiel_version,
               Review.competence_code, Review.verdict, Review.comment, Review.reviewer_name,
               Review.reviewer_id, Review.created_at)
        .where(Review.parcours_id.in_(ids)).order_by(Review.id.desc())
    ):
        pid, ref_id, version, code, verdict, comment, name, reviewer_id, at = review
        facts.avis.setdefault((pid, ref_id, version, code), ReviewSummary(
            Verdict(verdict).value, comment, name, reviewer_id, at))
    for pid, ref_id, version, code, recognised in db.execute(
        select(Recognition.parcours_id, Recognition.referentiel_id,
               Recognition.referentiel_version, Recognition.code, Recognition.recognised)
        .where(Recognition.parcours_id.in_(ids))
    ):
        facts.recognitions[(pid, ref_id, version, code)] = recognised
    return facts


def _load_activities(db: Connection, ids: list[int], files: Any, facts: Facts) -> None:
    activities, activities_of = facts.activities, facts.activities_of
    for task_id, parcours_id, source, completed, file_count in db.execute(
        select(Task.id, Task.parcours_id, Task.source, Task.moodle_completed, files)
        .where(Task.parcours_id.in_(ids), Task.deleted_at.is_(None))
        .order_by(Task.id)
    ).all():
        activities[task_id] = ActivityFacts(
            task_id, parcours_id, source, completed is True, file_count or 0)
        activities_of[parcours_id].append(task_id)
    live = select(Task.id).where(Task.parcours_id.in_(ids), Task.deleted_at.is_(None))
    for task_id, ref_id, version, code in db.execute(
        select(Tag.task_id, Tag.referentiel_id, Tag.referentiel_version, Tag.competence_code)
        .where(Tag.task_id.in_(live))
    ).all():
        activity = activities.get(task_id)
        if activity is not None:
            facts.tags[activity.parcours_id][(ref_id, version, code)].append(task_id)


def _load_summaries(db: Connection, ids: list[int], files: Any, facts: Facts) -> None:
    counts = Task.source != TaskSource.MOODLE.value
    module = (Task.source == TaskSource.MOODLE.value) & Task.moodle_completed.is_(True)
    for pid, ref_id, version, code, own, modules, file_count, tags in db.execute(
        select(Task.parcours_id, Tag.referentiel_id, Tag.referentiel_version,
               Tag.competence_code,
               func.sum(case((counts, 1), else_=0)), func.sum(case((module, 1), else_=0)),
               func.sum(case((counts | module, files), else_=0)), func.count(Tag.id))
        .join(Task, Task.id == Tag.task_id)
        .where(Task.parcours_id.in_(ids), Task.deleted_at.is_(None))
        .group_by(Task.parcours_id, Tag.referentiel_id, Tag.referentiel_version,
                  Tag.competence_code)
    ):
        facts.summaries.setdefault(pid, {})[(ref_id, version, code)] = Linked(
            int(own or 0), int(modules or 0), int(file_count or 0), int(tags or 0))


# --- decisions --------------------------------------------------------------------------------


@dataclass
class CompetenceProgress:
    """One compétence (or a bloc known without its compétences) of one parcours."""

    code: str
    intitule: str
    falc: str | None
    picto: str | None
    kind: str
    task_ids: list[int] = field(default_factory=list)  # every activity showing it (with detail)
    activity_count: int = 0  # how many activities show it (also without detail)
    own_task_ids: list[int] = field(default_factory=list)  # in the candidat's own words
    module_task_ids: list[int] = field(default_factory=list)  # Moodle modules completed
    file_count: int = 0  # photos, PDFs, voice notes on those activities
    evidence_count: int = 0  # proofs: files + completed modules
    review: ReviewSummary | None = None
    recognised: bool | None = None

    @property
    def shown(self) -> bool:
        """An activity points to it."""
        return self.activity_count > 0

    @property
    def proven(self) -> bool:
        """A file or a completed Moodle module shows it."""
        return self.evidence_count > 0

    @property
    def verdict(self) -> str | None:
        return self.review.verdict if self.review else None


@dataclass
class Totals:
    items: int = 0
    with_tasks: int = 0
    with_evidence: int = 0
    reviewed: int = 0
    oui: int = 0
    partiellement: int = 0
    non: int = 0

    def count(self, item: CompetenceProgress) -> None:
        self.items += 1
        self.with_tasks += item.shown
        self.with_evidence += item.proven
        if item.review is not None:
            self.reviewed += 1
            setattr(self, item.review.verdict, getattr(self, item.review.verdict) + 1)

    def add(self, other: Totals) -> None:
        for name in ("items", "with_tasks", "with_evidence", "reviewed", "oui",
                     "partiellement", "non"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def percent(self) -> int:
        """Share of compétences with a proof, for a progress bar."""
        return round(100 * self.with_evidence / self.items) if self.items else 0


@dataclass
class BlocProgress:
    code: str
    intitule: str
    falc: str | None
    items: list[CompetenceProgress] = field(default_factory=list)
    recognised: bool | None = None
    totals: Totals = field(default_factory=Totals)
    review: ReviewSummary | None = None  # an avis on the whole bloc, when one was given


@dataclass
class ReferentielProgress:
    referentiel_id: str
    referentiel_version: str
    intitule: str
    complete: bool
    blocs: list[BlocProgress] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)


@dataclass
class ParcoursProgress:
    parcours_id: int
    referentiels: list[ReferentielProgress] = field(default_factory=list)
    # Tags made against a référentiel version no longer chosen (kept, shown apart).
    tags_elsewhere: int = 0
    # Live activities tagged with nothing of the chosen référentiels, oldest first.
    untagged_task_ids: list[int] = field(default_factory=list)
    activity_count: int = 0
    last_activity_at: datetime | None = None

    @property
    def totals(self) -> Totals:
        found = Totals()
        for ref in self.referentiels:
            found.add(ref.totals)
        return found

    def competences(self) -> Iterable[tuple[ReferentielProgress, BlocProgress,
                                            CompetenceProgress]]:
        for ref in self.referentiels:
            for bloc in ref.blocs:
                for item in bloc.items:
                    yield ref, bloc, item


def decide(facts: Facts, parcours_id: int,
           referentiels: Sequence[Referentiel]) -> ParcoursProgress:
    """The progress of one parcours against its chosen référentiels (pure)."""
    tags = facts.tags.get(parcours_id, {})
    summary = facts.summaries.get(parcours_id)
    activity_ids = facts.activities_of.get(parcours_id, [])
    result = ParcoursProgress(parcours_id, activity_count=facts.activity_count.get(
        parcours_id, len(activity_ids)))
    result.last_activity_at = facts.last_change.get(parcours_id)
    used: set[Address] = set()
    for ref in referentiels:
        ref_progress = ReferentielProgress(ref.id, ref.version, ref.intitule,
                                           ref.provenance.complete)
        blocs: dict[str, BlocProgress] = {}
        for bloc in ref.blocs:
            blocs[bloc.code] = BlocProgress(
                bloc.code, bloc.intitule, bloc.falc,
                recognised=facts.recognitions.get((parcours_id, ref.id, ref.version, bloc.code)),
                review=facts.avis.get((parcours_id, ref.id, ref.version, bloc.code)),
            )
            ref_progress.blocs.append(blocs[bloc.code])
        for item in items_of(ref):
            address = (ref.id, ref.version, item.code)
            used.add(address)
            progress = CompetenceProgress(
                item.code, item.intitule, item.falc, item.picto, item.kind,
                review=facts.avis.get((parcours_id, *address)),
                recognised=facts.recognitions.get((parcours_id, *address)),
            )
            if summary is not None:
                counted = summary.get(address, Linked(0, 0, 0, 0))
                progress.activity_count = counted.own + counted.modules
                progress.file_count = counted.files
                modules = counted.modules
            else:
                # A Moodle module not (or no longer) complete shows nothing yet.
                tagged = sorted(set(tags.get(address, [])))
                linked = [a for a in (facts.activities[t] for t in tagged)
                          if a.in_own_words or a.is_module]
                progress.task_ids = [a.id for a in linked]
                progress.own_task_ids = [a.id for a in linked if a.in_own_words]
                progress.module_task_ids = [a.id for a in linked if a.is_module]
                progress.activity_count = len(linked)
                progress.file_count = sum(a.files for a in linked)
                modules = len(progress.module_task_ids)
            progress.evidence_count = progress.file_count + modules
            bloc_progress = blocs[item.bloc_code]
            bloc_progress.items.append(progress)
            bloc_progress.totals.count(progress)
            ref_progress.totals.count(progress)
        result.referentiels.append(ref_progress)
    if summary is not None:
        result.tags_elsewhere = sum(c.tags for a, c in summary.items() if a not in used)
        return result
    tagged_here = {t for address, ids in tags.items() if address in used for t in ids}
    result.untagged_task_ids = [t for t in activity_ids if t not in tagged_here]
    result.tags_elsewhere = sum(len(ids) for address, ids in tags.items() if address not in used)
    return result


# --- the service ------------------------------------------------------------------------------


def chosen_referentiels(parcours: Parcours, catalog: Catalog) -> list[Referentiel]:
    """The parcours' chosen référentiels that the catalog knows, in the order chosen."""
    found = []
    for chosen in parcours.referentiels:
        ref = catalog.find(chosen.referentiel_id, chosen.referentiel_version)
        if ref is not None:
            found.append(ref)
    return found


def parcours_progress(session: Session, actor: Actor, parcours_id: int, *,
                      catalog: Catalog) -> ParcoursProgress:
    """Where one parcours stands, read with the actor's rights (NotFound otherwise)."""
    parcours = parcours_for(session, actor, parcours_id)
    return decide(load_facts(session, [parcours.id]), parcours.id,
                  chosen_referentiels(parcours, catalog))
