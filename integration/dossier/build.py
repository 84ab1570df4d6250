"""The dossier de preuves: a parcours -> `DossierContext` -> a Word file -> a `Dossier` row.

`generate_dossier` gathers what the parcours holds (read through the parcours services,
so the reader's rights are the parcours' read rights), reads the reduced copies of the
photos through the store (never the 4000 px originals when a reduced one exists),
renders the structure's template (or the default one), records the new version with its
template, checksum and bytes, then hands it to `integration.dossier.publication` to be written
into the shared folder. No database transaction is held while photos are read, while
the document is rendered or while the store is written: SQLite would lock every other
writer meanwhile.

A structure's own template comes from its platform (`reperes dossier template`) or from
``REPERES_DOSSIER_TEMPLATE``; it is checked when it is given, in a separate process with a
time and memory limit, because a hostile template can loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.storage import StorageError, Store
from docx_templates import DEFAULT_TEMPLATE, TemplateError, render
from docx_templates.context import (
    MODALITES,
    SOURCE_LIBELLES,
    VERDICT_LIBELLES,
    Accompagnateur,
    Bloc,
    Candidat,
    Competence,
    DossierContext,
    Modalite,
    Photo,
    Referentiel,
    RemainingItem,
    Review,
    Task,
    TrainingModule,
    date_fr,
)
from referentiels import Catalog

from ..actor import Actor
from ..db import transaction
from ..models import (
    Course,
    Dossier,
    DossierFolder,
    DossierTemplate,
    Evidence,
    EvidenceKind,
    Membership,
    Parcours,
    Person,
    Platform,
    Role,
    Tag,
    utcnow,
)
from ..models import Task as TaskRow
from ..parcours import list_tasks, parcours_progress
from ..parcours.access import parcours_for
from ..parcours.catalog import catalog_for
from ..parcours.errors import NotFound, ParcoursError
from ..parcours.progress import FILE_KINDS
from ..platform_settings import PlatformSettings
from .publication import (
    FAILED,
    QUEUED,
    WRITTEN,
    PublishOutcome,
    ensure_folder,
    person_name,
    publish_dossier,
    queue_dossier,
)

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CHECK_TIMEOUT = 60.0  # seconds for checking an uploaded template
CHECK_MEMORY = 1024 * 1024 * 1024  # bytes of address space for that check
_PHOTO_READERS = 4


class DossierGone(ParcoursError):
    """This version's bytes are no longer kept (a newer one replaced it)."""

    status = 410
    title = "Cette version n’est plus gardée."


# --- gathering the context ---------------------------------------------------------------


@dataclass
class PhotoSlot:
    """A photo of the context whose bytes are read from the store after the transaction."""

    evidence_id: int
    path: str
    photo: Photo


@dataclass
class Gathered:
    """The context (photos still empty), and what is needed to finish and file it."""

    context: DossierContext
    photos: list[PhotoSlot]
    parcours_id: int
    platform_id: int
    person_name: str
    version: int


def _full_name(person: Person) -> str:
    given, family = person.given_name.strip(), person.family_name.strip()
    return f"{given} {family}".strip() or person.name.strip() or f"Personne {person.id}"


def _review(verdict: str, comment: str, author: str, when: str) -> Review:
    return Review(verdict=verdict, verdict_libelle=VERDICT_LIBELLES.get(verdict, ""),
                  commentaire=comment, auteur=author, date=when)


_EMPTY_REVIEW = _review("", "", "", "")


def gather(
    session: Session,
    actor: Actor,
    parcours_id: int,
    *,
    catalog: Catalog,
    version: int,
    now: datetime,
) -> Gathered:
    """Everything the dossier shows, read with the actor's rights (NotFound otherwise)."""
    parcours = parcours_for(session, actor, parcours_id)
    course = session.get(Course, parcours.course_id)
    person = session.get(Person, parcours.person_id)
    assert course is not None and person is not None
    platform = session.get(Platform, course.platform_id)
    structure = PlatformSettings.of(platform)

    def day(moment: datetime | None) -> str:
        return structure.day(moment)

    candidat = Candidat(
        nom=person.family_name.strip() or (person.name.strip() if not person.given_name else ""),
        prenom=person.given_name.strip(),
        nom_complet=_full_name(person),
        structure=structure.structure or (platform.name if platform else "") or course.title,
    )
    accompagnateurs = [
        Accompagnateur(nom_complet=_full_name(a.person), fonction="")
        for a in parcours.accompagnateurs
    ]
    if not accompagnateurs:
        # Nobody follows this parcours by name yet: the course's accompagnateurs do.
        accompagnateurs = [
            Accompagnateur(nom_complet=_full_name(p), fonction="")
            for p in session.scalars(
                select(Person).join(Membership, Membership.person_id == Person.id)
                .where(Membership.course_id == course.id,
                       Membership.role == Role.ACCOMPAGNATEUR)
                .order_by(Person.id)
            )
        ]

    tasks = {t.id: t for t in list_tasks(session, actor, parcours.id)}
    evidence: dict[int, list[Evidence]] = defaultdict(list)
    # What the candidat says of a task for one compétence: (task, ref, version, code).
    said: dict[tuple[int, str, str, str], str] = {}
    if tasks:
        live = select(TaskRow.id).where(
            TaskRow.parcours_id == parcours.id, TaskRow.deleted_at.is_(None)
        )
        for row in session.scalars(
            select(Evidence)
            .where(Evidence.task_id.in_(live), Evidence.deleted_at.is_(None))
            .order_by(Evidence.id)
        ):
            evidence[row.task_id].append(row)
        for tag in session.scalars(
            select(Tag).where(Tag.task_id.in_(live), Tag.comment != "")
        ):
            said[(tag.task_id, tag.referentiel_id, tag.referentiel_version,
                  tag.competence_code)] = tag.comment

    slots: dict[int, PhotoSlot] = {}

    def photo(ev: Evidence) -> Photo:
        if ev.id not in slots:
            # The reduced copy; the original only when no copy was made.
            path = ev.medium_path or ev.storage_path or ""
            slots[ev.id] = PhotoSlot(ev.id, path, Photo(data=b"", legende=ev.caption))
        return slots[ev.id].photo

    def task_entry(t: TaskRow, address: tuple[str, str, str]) -> Task:
        """The task as shown under the compétence at ``address`` (ref, version, code)."""
        return Task(
            titre=t.title,
            description=t.description,
            lieu=t.where,
            comment=t.how,
            avec_quoi=t.tools,
            frequence=t.frequency,
            date_debut=date_fr(t.started_on) if t.started_on else "",
            date_fin=date_fr(t.ended_on) if t.ended_on else "",
            source=t.source.value,
            source_libelle=SOURCE_LIBELLES.get(t.source.value, ""),
            photos=[photo(e) for e in evidence.get(t.id, []) if e.kind == EvidenceKind.PHOTO],
            commentaire=said.get((t.id, *address), ""),
        )

    def progress_files(task_id: int) -> bool:
        return any(e.kind in FILE_KINDS for e in evidence.get(task_id, []))

    progress = parcours_progress(session, actor, parcours.id, catalog=catalog)
    referentiels: list[Referentiel] = []
    blocs: list[Bloc] = []
    remaining: list[RemainingItem] = []
    for chosen in parcours.referentiels:
        ref = catalog.find(chosen.referentiel_id, chosen.referentiel_version)
        referentiels.append(Referentiel(
            id=chosen.referentiel_id,
            version=chosen.referentiel_version,
            intitule=ref.intitule if ref else "Référentiel introuvable dans Repères",
            rncp=(ref.rncp or "") if ref else "",
            certificateur=ref.certificateur if ref else "",
            niveau=ref.niveau if ref else "",
            statut=("en vigueur" if ref.status == "en_vigueur" else "historique")
            if ref else "",
        ))
    for ref_cov in progress.referentiels:
        for bloc_cov in ref_cov.blocs:
            competences: list[Competence] = []
            bloc_review = (
                _review(bloc_cov.review.verdict, bloc_cov.review.comment,
                        bloc_cov.review.reviewer_name, day(bloc_cov.review.at))
                if bloc_cov.review else _EMPTY_REVIEW
            )
            for item in bloc_cov.items:
                address = (ref_cov.referentiel_id, ref_cov.referentiel_version, item.code)
                # Activities in the candidat's words, and Moodle modules the candidat
                # illustrated with a file; every completed module is listed as training.
                shown = [tasks[i] for i in item.task_ids if i in tasks and (
                    i in item.own_task_ids or progress_files(i))]
                modules = [
                    TrainingModule(nom=tasks[i].title, date=day(tasks[i].moodle_completed_at))
                    for i in item.module_task_ids if i in tasks
                ]
                proofs = item.evidence_count
                review = (
                    _review(item.review.verdict, item.review.comment, item.review.reviewer_name,
                            day(item.review.at))
                    if item.review else _EMPTY_REVIEW
                )
                if shown or modules or item.review:
                    competences.append(Competence(
                        code=item.code, intitule=item.intitule, falc=item.falc or "",
                        nb_taches=len(shown), nb_preuves=proofs,
                        taches=[task_entry(t, address) for t in shown],
                        modules=modules, revue=review,
                    ))
                note = _still_to_show(item.shown, proofs, review)
                if note:
                    remaining.append(RemainingItem(code=item.code, intitule=item.intitule,
                                                   falc=item.falc or "", note=note))
            if competences:
                blocs.append(Bloc(
                    referentiel_id=ref_cov.referentiel_id, code=bloc_cov.code,
                    intitule=bloc_cov.intitule, falc=bloc_cov.falc or "",
                    competences=competences, revue=bloc_review,
                ))

    modalite = (
        MODALITES[parcours.modalite.value] if parcours.modalite
        else Modalite(code="", phrase="Pas encore choisie", intitule="")
    )
    context = DossierContext(
        candidat=candidat,
        accompagnateurs=accompagnateurs,
        referentiels=referentiels,
        modalite=modalite,
        blocs=blocs,
        reste_a_montrer=remaining,
        projet=parcours.projet,
        generated_at=date_fr(structure.local(now)),
        dossier_version=version,
    )
    return Gathered(context, list(slots.values()), parcours.id,
                    course.platform_id, person_name(person), version)


def _still_to_show(has_tasks: bool, proofs: int, review: Review) -> str:
    """What is missing for a compétence, in plain words ('' when nothing is)."""
    verdict = review["verdict"]
    if has_tasks and proofs and verdict == "oui":
        return ""
    notes = []
    if not has_tasks:
        notes.append("Pas encore d’activité.")
    elif not proofs:
        notes.append("Pas encore de preuve (photo ou fichier).")
    if verdict in ("non", "partiellement"):
        said = f"L’accompagnateur a dit : {review['verdict_libelle']}."
        if review["commentaire"]:
            said += f" {review['commentaire']}"
        notes.append(said)
    elif has_tasks and not verdict:
        notes.append("Pas encore vu par l’accompagnateur.")
    return " ".join(notes)


def read_photos(store: Store, slots: Iterable[PhotoSlot]) -> None:
    """Fill the photos' bytes from the store; one that cannot be read stays empty and
    prints « photo illisible » (the dossier is made all the same)."""
    todo = [slot for slot in slots if slot.path]

    def read(slot: PhotoSlot) -> None:
        try:
            slot.photo["data"] = store.get(slot.path)
        except StorageError as error:
            log.warning("photo of evidence %s unreadable for the dossier: %s",
                        slot.evidence_id, error)

    if len(todo) <= 1:
        for slot in todo:
            read(slot)
        return
    with ThreadPoolExecutor(max_workers=_PHOTO_READERS) as pool:
        list(pool.map(read, todo))


# --- templates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChosenTemplate:
    name: str  # what Dossier.template records
    data: bytes
    custom: bool


def _template_label(kind: str, name: str, data: bytes) -> str:
    return f"{kind} : {name} · {hashlib.sha256(data).hexdigest()[:12]}"[:300]


def default_template() -> ChosenTemplate:
    data = DEFAULT_TEMPLATE.read_bytes()
    return ChosenTemplate(_template_label("modèle Repères", DEFAULT_TEMPLATE.name, data), data,
                          custom=False)


def choose_template(session: Session, platform_id: int, configured: Path | None) -> ChosenTemplate:
    """The platform's own template, else the server's (REPERES_DOSSIER_TEMPLATE), else ours."""
    own = session.scalar(select(DossierTemplate).where(DossierTemplate.platform_id == platform_id))
    if own is not None:
        return ChosenTemplate(_template_label("modèle de la structure", own.name, own.content),
                              own.content, custom=True)
    if configured is not None:
        try:
            data = Path(configured).read_bytes()
        except OSError as error:
            log.error("REPERES_DOSSIER_TEMPLATE %s unreadable (%s): default template used",
                      configured, error.strerror)
        else:
            return ChosenTemplate(_template_label("modèle du serveur", Path(configured).name, data),
                                  data, custom=True)
    return default_template()


def render_with(template: ChosenTemplate, context: DossierContext) -> tuple[bytes, str]:
    """(docx bytes, template name). A structure's template that fails falls back to ours,
    so that a candidat always gets a dossier; the failure is logged for the coordinateur."""
    try:
        return render(template.data, context), template.name
    except TemplateError as error:
        if not template.custom:
            raise
        log.error("dossier template %r failed (%s): default template used", template.name, error)
        fallback = default_template()
        return render(fallback.data, context), f"{fallback.name} (le modèle de la structure " \
            f"n’a pas marché)"[:300]


_CHECK_SCRIPT = """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from docx_templates import check_template
print(json.dumps(check_template(sys.stdin.buffer.read())))
"""


def check_template_isolated(
    data: bytes, *, timeout: float = CHECK_TIMEOUT, memory: int = CHECK_MEMORY
) -> list[str]:
    """`docx_templates.check_template` in a child process with a time and memory limit.

    A hostile template (a loop without end, a bomb of pictures) is refused with a message
    instead of holding a worker.
    """
    root = Path(__file__).resolve().parents[1]
    try:
        result = subprocess.run(
            [sys.executable, "-c", _CHECK_SCRIPT, str(memory)],
            input=bytes(data),
            capture_output=True,
            timeout=timeout,
            cwd=root,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [
            f"Le modèle met plus de {timeout:g} secondes à se remplir avec un dossier "
            "d’exemple : une boucle sans fin ? Vérifiez les balises {% for %} et {%p for %}."
        ]
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        log.warning("template check failed in its process: %s", tail)
        if "MemoryError" in " ".join(tail):
            return ["Le modèle demande trop de mémoire pour être rempli. "
                    "Vérifiez les boucles et la taille des images."]
        return ["Le modèle n’a pas pu être vérifié : le fichier est peut-être abîmé."]
    try:
        problems = json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ["Le modèle n’a pas pu être vérifié : le fichier est peut-être abîmé."]
    return [str(p) for p in problems]


def set_platform_template(
    session: Session, platform_id: int, data: bytes, name: str, *,
    timeout: float = CHECK_TIMEOUT,
) -> list[str]:
    """Check a structure's template and keep it for its platform; the problems otherwise."""
    if session.get(Platform, platform_id) is None:
        return [f"La plateforme {platform_id} n’existe pas."]
    problems = check_template_isolated(data, timeout=timeout)
    if problems:
        return problems
    row = session.scalar(select(DossierTemplate).where(DossierTemplate.platform_id == platform_id))
    if row is None:
        row = DossierTemplate(platform_id=platform_id)
        session.add(row)
    row.name = (Path(name).name or "modele.docx")[:255]
    row.content = bytes(data)
    row.checksum = hashlib.sha256(data).hexdigest()
    row.size = len(data)
    row.uploaded_at = utcnow()
    session.flush()
    return []


def clear_platform_template(session: Session, platform_id: int) -> bool:
    """Go back to the default template for this platform. False when it had none."""
    row = session.scalar(select(DossierTemplate).where(DossierTemplate.platform_id == platform_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# --- generating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedDossier:
    dossier_id: int
    parcours_id: int
    version: int
    data: bytes
    download_name: str
    template: str
    outcome: PublishOutcome | None = None
    timings: dict[str, float] = field(default_factory=dict)


def download_name(name: str) -> str:
    """`Dossier de preuves - <Nom Prénom>.docx`."""
    return f"Dossier de preuves - {name}.docx"


def generate_dossier(
    runtime: Runtime,
    actor: Actor,
    parcours_id: int,
    *,
    publish: bool = True,
    store: Store | None = None,
    now: datetime | None = None,
) -> GeneratedDossier:
    """Make a new version of the parcours' dossier, record it, and write it to the store.

    NotFound when the actor may not read the parcours. A storage outage does not fail
    this: the dossier is kept in the database and queued (see `integration.dossier.publication`).
    """
    store = store if store is not None else runtime.store
    moment = now or utcnow()
    timings: dict[str, float] = {}
    for _attempt in range(3):
        started = time.perf_counter()
        with transaction(runtime.sessions) as session:
            catalog = catalog_for(session, actor)
            version = _next_version(session, parcours_id)
            gathered = gather(session, actor, parcours_id, catalog=catalog, version=version,
                              now=moment)
            template = choose_template(session, gathered.platform_id,
                                       runtime.settings.dossier_template)
        timings["gather"] = time.perf_counter() - started
        started = time.perf_counter()
        read_photos(store, gathered.photos)
        timings["photos"] = time.perf_counter() - started
        started = time.perf_counter()
        data, template_name = render_with(template, gathered.context)
        timings["render"] = time.perf_counter() - started
        with transaction(runtime.sessions) as session:
            # One version number per dossier: the parcours row serialises concurrent makers
            # (SQLite's BEGIN IMMEDIATE does the same).
            session.execute(select(Parcours.id).where(Parcours.id == parcours_id)
                            .with_for_update())
            if _next_version(session, parcours_id) != version:
                continue  # another dossier took this number meanwhile: make it again
            parcours = session.get(Parcours, parcours_id)
            assert parcours is not None
            folder = ensure_folder(session, parcours)
            dossier = Dossier(
                parcours_id=parcours_id,
                version=version,
                template=template_name,
                storage_path=f"{folder.path}/{download_name(folder.name)}",
                checksum=hashlib.sha256(data).hexdigest(),
                size=len(data),
                state=QUEUED,
                content=data,
                created_by_id=actor.person_id or None,
                created_at=moment,
            )
            session.add(dossier)
            session.flush()
            queue_dossier(session, dossier, now=moment)
            dossier_id = dossier.id
        outcome = None
        if publish:
            started = time.perf_counter()
            try:
                outcome = publish_dossier(runtime, dossier_id, store=store, now=now,
                                          content=data)
            except Exception:  # the dossier is safe in the queue; never lose the download
                log.exception("dossier %s: writing to the store failed unexpectedly", dossier_id)
            timings["publish"] = time.perf_counter() - started
        return GeneratedDossier(dossier_id, parcours_id, version, data,
                                download_name(gathered.person_name), template_name, outcome,
                                timings)
    raise ParcoursError("Plusieurs dossiers se créent en même temps. Réessayez.")


def _next_version(session: Session, parcours_id: int) -> int:
    current = session.scalar(
        select(func.max(Dossier.version)).where(Dossier.parcours_id == parcours_id)
    )
    return (current or 0) + 1


# --- reading dossiers back ------------------------------------------------------------------


def find_dossier(
    session: Session, actor: Actor, parcours_id: int, version: int | None = None
) -> Dossier:
    """The latest dossier of a parcours (or one version), with the parcours' read rights."""
    parcours_for(session, actor, parcours_id)
    stmt = select(Dossier).where(Dossier.parcours_id == parcours_id)
    if version is not None:
        stmt = stmt.where(Dossier.version == version)
    found = session.scalars(
        stmt.order_by(Dossier.version.desc(), Dossier.id.desc()).limit(1)
    ).first()
    if found is None:
        raise NotFound(
            "Il n’y a pas encore de dossier. Touchez « Télécharger mon dossier (Word) » "
            "pour le créer." if version is None else "Cette version du dossier n’existe pas."
        )
    return found


def dossier_bytes(store: Store, dossier: Dossier) -> bytes:
    """The bytes of a recorded dossier: kept in the database, or read back from the store
    when they are still exactly what was written there (checked by checksum)."""
    if dossier.content is not None:
        return dossier.content
    if dossier.state == WRITTEN and dossier.storage_path:
        try:
            data = store.get(dossier.storage_path)
        except StorageError as error:
            log.info("dossier %s not readable from the store: %s", dossier.id, error)
        else:
            if hashlib.sha256(data).hexdigest() == dossier.checksum:
                return data
    raise DossierGone(
        f"La version {dossier.version} du dossier n’est plus gardée : une version plus "
        "récente l’a remplacée. Téléchargez la dernière version."
    )


def person_of(session: Session, parcours_id: int) -> Person:
    parcours = session.get(Parcours, parcours_id)
    assert parcours is not None
    person = session.get(Person, parcours.person_id)
    assert person is not None
    return person


@dataclass(frozen=True)
class DossierStatus:
    """What the pages show about a parcours' dossier."""

    parcours_id: int
    version: int | None = None
    created_at: str = ""
    state: str = ""
    message: str = ""
    folder_url: str | None = None
    in_nextcloud: bool = False


def dossier_status(
    session: Session, actor: Actor, parcours_id: int, *, in_nextcloud: bool = False
) -> DossierStatus:
    """The latest dossier of the parcours and its state, in plain words (read rights)."""
    parcours = parcours_for(session, actor, parcours_id)
    latest = session.scalars(
        select(Dossier).where(Dossier.parcours_id == parcours.id)
        .order_by(Dossier.version.desc(), Dossier.id.desc()).limit(1)
    ).first()
    folder = session.scalar(select(DossierFolder).where(DossierFolder.parcours_id == parcours.id))
    url = folder.web_url if folder is not None else None
    if latest is None:
        return DossierStatus(parcours.id, folder_url=url, in_nextcloud=in_nextcloud)
    course = session.get(Course, parcours.course_id)
    platform = session.get(Platform, course.platform_id) if course else None
    message = latest.message
    if latest.state in (QUEUED, FAILED) and not message:
        where = "Nextcloud" if in_nextcloud else "le dossier partagé"
        message = f"Le dossier est prêt. Il sera copié dans {where} dès que possible."
    return DossierStatus(
        parcours.id,
        version=latest.version,
        created_at=date_fr(PlatformSettings.of(platform).local(latest.created_at)),
        state=latest.state,
        message=message,
        folder_url=url,
        in_nextcloud=in_nextcloud,
    )


def operator_actor(session: Session, parcours_id: int) -> Actor:
    """An actor for the command line: a coordinateur of the parcours' platform."""
    row = session.execute(
        select(Parcours.id, Course.platform_id, Course.id)
        .join(Course, Course.id == Parcours.course_id)
        .where(Parcours.id == parcours_id)
    ).first()
    if row is None:
        raise NotFound(f"Le parcours {parcours_id} n’existe pas.")
    return Actor(person_id=0, platform_id=row[1], course_id=row[2], role=Role.COORDINATEUR)


def context_for(runtime: Runtime, actor: Actor, parcours_id: int, *,
                store: Store | None = None) -> dict[str, Any]:
    """The context of a new dossier, photos read (for tests and for people writing templates)."""
    with transaction(runtime.sessions) as session:
        gathered = gather(session, actor, parcours_id, catalog=catalog_for(session, actor),
                          version=_next_version(session, parcours_id), now=utcnow())
    read_photos(store if store is not None else runtime.store, gathered.photos)
    return dict(gathered.context)
