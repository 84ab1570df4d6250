"""What each screen of the candidat shows, gathered from the parcours services.

Each function here is the one call a view makes: it calls the services of
`integration.parcours` (which check who may see what) and adds only what a page needs
beyond them, in a fixed number of queries whatever the number of tasks (no N+1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel, ReferentielError, load_shipped
from referentiels.completeness import is_complete

from .. import parcours as services
from ..actor import Actor
from ..models import Course, Evidence, Parcours, Person, Review, Tag, Task, TaskSource
from ..parcours.catalog import resolve
from ..parcours.errors import Invalid
from ..parcours.items import Item, find_item, items_of
from ..parcours.progress import CompetenceProgress, ParcoursProgress, chosen_referentiels
from .words import SOURCE_PICTOS, SOURCE_WORDS

MAX_FILES_PER_POST = 10

# --- pieces ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    """What a page shows of one evidence: a preview when it is a photo, else its name."""

    id: int
    kind: str  # photo | pdf | moodle
    caption: str
    name: str
    has_preview: bool
    has_medium: bool
    width: int  # of the preview, for the page to keep its place while it loads
    height: int

    @classmethod
    def of(cls, e: Any) -> Photo:
        w, h = e.width or 0, e.height or 0
        if w and h:
            scale = min(1.0, 400 / max(w, h))
            w, h = max(1, round(w * scale)), max(1, round(h * scale))
        else:
            w, h = 400, 300
        return cls(e.id, e.kind, e.caption or "", e.original_name or "",
                   e.preview_path is not None, e.medium_path is not None, w, h)


@dataclass(frozen=True)
class TaskCard:
    task: Task
    photo: Photo | None
    evidence_count: int
    tag_count: int

    @property
    def source_word(self) -> str:
        return SOURCE_WORDS[self.task.source]

    @property
    def source_picto(self) -> str:
        return SOURCE_PICTOS[self.task.source]


def task_cards(db: Session, tasks: Sequence[Task]) -> list[TaskCard]:
    """Cards for tasks of ONE parcours, in two queries whatever their number."""
    if not tasks:
        return []
    live = select(Task.id).where(Task.parcours_id == tasks[0].parcours_id,
                                 Task.deleted_at.is_(None))
    rows = db.execute(
        select(Evidence.id, Evidence.task_id, Evidence.kind, Evidence.caption,
               Evidence.original_name, Evidence.preview_path, Evidence.medium_path,
               Evidence.width, Evidence.height)
        .where(Evidence.task_id.in_(live), Evidence.deleted_at.is_(None))
        .order_by(Evidence.id)
    ).all()
    first: dict[int, Photo] = {}
    count: dict[int, int] = defaultdict(int)
    for row in rows:
        count[row.task_id] += 1
        if row.task_id not in first and row.preview_path is not None:
            first[row.task_id] = Photo.of(row)
    tags: dict[int, int] = dict(db.execute(
        select(Tag.task_id, func.count(Tag.id)).where(Tag.task_id.in_(live))
        .group_by(Tag.task_id)
    ).all())
    return [TaskCard(t, first.get(t.id), count.get(t.id, 0), tags.get(t.id, 0)) for t in tasks]


def referentiel_options(course: Course, catalog: Catalog) -> list[Referentiel]:
    """What a candidat may choose: what the course offers, or every shipped one in force.

    Only whole référentiels: one « à compléter » (a bloc without compétences, a cut
    wording) is shown to the coordinateur, never offered to a candidat.
    """
    return [r for r in _offered(course, catalog) if is_complete(r)]


def _offered(course: Course, catalog: Catalog) -> list[Referentiel]:
    found: list[Referentiel] = []
    seen: set[tuple[str, str]] = set()
    if course.referentiels:
        for entry in course.referentiels:
            try:
                ref = resolve(catalog, str(entry))
            except ReferentielError:
                continue
            if ref.key not in seen:
                seen.add(ref.key)
                found.append(ref)
        return found
    return sorted((r for r in load_shipped() if r.status == "en_vigueur"),
                  key=lambda r: r.intitule.lower())


# --- the candidat's home: "Ce que je fais" --------------------------------------------------


@dataclass
class MySpace:
    person: Person
    parcours: Parcours
    referentiels: list[Referentiel]
    cards: list[TaskCard]
    removed: int
    can_choose_referentiel: bool

    @property
    def needs_referentiel(self) -> bool:
        return not self.referentiels


def my_space(db: Session, who: Actor, catalog: Catalog) -> MySpace:
    """The candidat's parcours (made on first visit) and the cards of their tasks."""
    parcours = services.get_or_create_parcours(db, who, catalog=catalog)
    tasks = services.list_tasks(db, who, parcours.id)
    removed = db.scalar(select(func.count(Task.id)).where(
        Task.parcours_id == parcours.id, Task.deleted_at.is_not(None))) or 0
    return MySpace(
        person=parcours.person,
        parcours=parcours,
        referentiels=chosen_referentiels(parcours, catalog),
        cards=task_cards(db, tasks),
        removed=removed,
        can_choose_referentiel=len(referentiel_options(parcours.course, catalog)) > 1
        or not parcours.referentiels,
    )


def my_parcours(db: Session, who: Actor, catalog: Catalog) -> Parcours:
    return services.get_or_create_parcours(db, who, catalog=catalog)


def removed_tasks(db: Session, who: Actor, catalog: Catalog) -> list[Task]:
    parcours = services.get_or_create_parcours(db, who, catalog=catalog)
    return services.list_tasks(db, who, parcours.id, deleted=True)


# --- adding and changing a task ----------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


TASK_FIELDS = ("title", "where", "tools", "how", "frequency", "source")


def task_data(values: dict[str, str]) -> dict[str, str]:
    """The fields of a task from a posted form (the rest is ignored)."""
    data = {name: values.get(name, "") for name in TASK_FIELDS if name in values}
    if not data.get("source"):
        data.pop("source", None)
    return data


@dataclass
class Attached:
    """What became of the files sent at once: each accepted or refused on its own."""

    accepted: int = 0
    kept_here: int = 0  # accepted while the shared storage did not answer (written later)
    refused: list[str] = field(default_factory=list)
    status: int = 0  # of the first refusal (415 for a file that is not accepted, 413 …)


def add_task(
    db: Session, who: Actor, store: Any, catalog: Catalog, values: dict[str, str],
    uploads: Sequence[Upload],
) -> tuple[Task, Attached]:
    """A new task, then its files one by one: a refused photo never costs the words."""
    parcours = services.get_or_create_parcours(db, who, catalog=catalog)
    task = services.create_task(db, who, parcours.id, task_data(values))
    return task, attach(db, who, store, task.id, uploads)


def _ordinal(index: int, upload: Upload, count: int) -> str:
    kind = "La note de voix" if upload.filename.startswith("voix") else "La photo"
    return kind if count == 1 else f"{kind} {index}"


def attach(db: Session, who: Actor, store: Any, task_id: int,
           uploads: Sequence[Upload]) -> Attached:
    """Attach files to a task, each in its own savepoint: one refused keeps the others.

    A refusal the person can act on is returned with its reason (« La photo 2 : … »);
    not found or forbidden still ends the request (404/403)."""
    done = Attached()
    if len(uploads) > MAX_FILES_PER_POST:
        raise Invalid(f"Envoyez {MAX_FILES_PER_POST} photos au plus à la fois.", field="file")
    for index, upload in enumerate(uploads, start=1):
        try:
            with db.begin_nested():
                evidence = services.attach_evidence(db, who, store, task_id, upload.data,
                                                    filename=upload.filename)
        except (services.NotFound, services.Forbidden):
            raise
        except services.ParcoursError as error:
            done.refused.append(f"{_ordinal(index, upload, len(uploads))} n’est pas "
                                f"gardée : {error.message}")
            done.status = done.status or error.status
        else:
            done.accepted += 1
            done.kept_here += bool(getattr(evidence, "waiting_for_storage", False))
    return done


# --- one task -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Linked:
    tag: Tag
    item: Item | None  # None when its référentiel is no longer known here
    review: Review | None = None  # the accompagnateur's latest word on this compétence


@dataclass
class TaskScreen:
    task: Task
    photos: list[Photo]
    linked: list[Linked]
    has_referentiel: bool

    @property
    def source_word(self) -> str:
        return SOURCE_WORDS[self.task.source]

    @property
    def source_picto(self) -> str:
        return SOURCE_PICTOS[self.task.source]

    @property
    def editable(self) -> bool:
        # A module completed in Moodle keeps Moodle's words: the sync owns them.
        return self.task.source is not TaskSource.MOODLE


def _item_of(catalog: Catalog, ref_id: str, version: str, code: str) -> Item | None:
    ref = catalog.find(ref_id, version)
    return find_item(ref, code) if ref is not None else None


def task_screen(db: Session, who: Actor, task_id: int, catalog: Catalog) -> TaskScreen:
    task = services.get_task(db, who, task_id)
    photos = [Photo.of(e) for e in services.list_evidence(db, who, task_id)]
    latest: dict[tuple[str, str, str], Review] = {}
    for review in db.scalars(select(Review).where(Review.parcours_id == task.parcours_id)
                             .order_by(Review.id)):
        latest[(review.referentiel_id, review.referentiel_version, review.competence_code)] = review
    linked = [
        Linked(tag, _item_of(catalog, tag.referentiel_id, tag.referentiel_version,
                             tag.competence_code),
               latest.get((tag.referentiel_id, tag.referentiel_version, tag.competence_code)))
        for tag in services.list_tags(db, who, task_id)
    ]
    return TaskScreen(task, photos, linked, bool(task.parcours.referentiels))


# --- tagging: which compétences a task shows -----------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One compétence offered for a task: its words, what it already has, whether linked."""

    item: Item
    coverage: CompetenceProgress | None
    tag_id: int | None  # the link with this task, when there is one

    @property
    def linked(self) -> bool:
        return self.tag_id is not None


@dataclass
class BlocChoices:
    code: str
    intitule: str
    falc: str | None
    choices: list[Choice] = field(default_factory=list)

    @property
    def linked_count(self) -> int:
        return sum(c.linked for c in self.choices)


@dataclass
class RefChoices:
    referentiel: Referentiel
    blocs: list[BlocChoices] = field(default_factory=list)


@dataclass
class TagScreen:
    task: Task
    suggestions: list[Choice]
    referentiels: list[RefChoices]
    linked_count: int


def _coverage_index(
    cov: ParcoursProgress,
) -> dict[tuple[str, str, str], CompetenceProgress]:
    index = {}
    for ref in cov.referentiels:
        for bloc in ref.blocs:
            for item in bloc.items:
                index[(ref.referentiel_id, ref.referentiel_version, item.code)] = item
    return index


def tag_screen(db: Session, who: Actor, task_id: int, catalog: Catalog) -> TagScreen:
    """Suggested compétences first, then every compétence by bloc, each with what it has."""
    task = services.get_task(db, who, task_id)
    tags = {(t.referentiel_id, t.referentiel_version, t.competence_code): t.id
            for t in services.list_tags(db, who, task_id)}
    covered = _coverage_index(
        services.parcours_progress(db, who, task.parcours_id, catalog=catalog))

    def choice(item: Item) -> Choice:
        key = (item.referentiel_id, item.referentiel_version, item.code)
        return Choice(item, covered.get(key), tags.get(key))

    suggestions = [choice(p.item) for p in
                   services.suggest_for_task(db, who, task_id, catalog=catalog, limit=5)]
    referentiels = []
    for ref in chosen_referentiels(task.parcours, catalog):
        blocs: dict[str, BlocChoices] = {}
        for item in items_of(ref):
            bloc = blocs.setdefault(
                item.bloc_code, BlocChoices(item.bloc_code, item.bloc_intitule, item.bloc_falc))
            bloc.choices.append(choice(item))
        referentiels.append(RefChoices(ref, list(blocs.values())))
    return TagScreen(task, suggestions, referentiels, len(tags))


# --- "Mon référentiel" ----------------------------------------------------------------------------


@dataclass
class ReferentielScreen:
    parcours: Parcours
    coverage: ParcoursProgress
    can_choose: bool


def referentiel_screen(db: Session, who: Actor, catalog: Catalog) -> ReferentielScreen:
    parcours = services.get_or_create_parcours(db, who, catalog=catalog)
    cov = services.parcours_progress(db, who, parcours.id, catalog=catalog)
    return ReferentielScreen(parcours, cov, len(referentiel_options(parcours.course, catalog)) > 0)


@dataclass
class ChooseReferentielScreen:
    parcours: Parcours
    options: list[Referentiel]
    chosen: set[tuple[str, str]]


def choose_referentiel_screen(db: Session, who: Actor, catalog: Catalog
                              ) -> ChooseReferentielScreen:
    parcours = services.get_or_create_parcours(db, who, catalog=catalog)
    return ChooseReferentielScreen(
        parcours,
        referentiel_options(parcours.course, catalog),
        {(r.referentiel_id, r.referentiel_version) for r in parcours.referentiels},
    )


def choose_referentiel(db: Session, who: Actor, catalog: Catalog, value: str,
                       version: int | None) -> Parcours:
    """Choose one référentiel ("id@version") for the candidat's parcours."""
    parcours = services.get_or_create_parcours(db, who, catalog=catalog)
    ref_id, _, ref_version = value.partition("@")
    if not ref_id:
        raise Invalid("Choisissez un métier dans la liste.", field="referentiel")
    chosen = catalog.find(ref_id, ref_version or None)
    if chosen is not None and not is_complete(chosen):
        raise Invalid("Ce métier n’est pas encore prêt. Choisissez un autre métier.",
                      field="referentiel")
    return services.set_referentiels(
        db, who, parcours.id, [services.ReferentielChoice(ref_id, ref_version or None)],
        catalog=catalog, expected_version=version,
    )


def choose_modalite(db: Session, who: Actor, catalog: Catalog, value: str,
                    version: int | None) -> Parcours:
    parcours = services.get_or_create_parcours(db, who, catalog=catalog)
    if not value:
        raise Invalid("Choisissez une des trois phrases.", field="modalite")
    return services.set_modalite(db, who, parcours.id, value, expected_version=version)
