"""What a dossier shows: a parcours read with the reader's rights -> `DossierContext`, photos.

Every activity the candidat wrote is in it (issue 16), unless the candidat switched
« ne pas mettre dans le dossier » on: those tagged under their compétences, the others
under « Ce que je fais aussi »; voice notes and documents named; every Moodle module
completed under « Formation ». What remains to show is the accompagnateur's business:
it goes in only as an annex the accompagnateur adds (`Parcours.dossier_remaining_annex`).
Photos are read from the copies kept on this machine (`integration.parcours.kept`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.storage import StorageError, Store
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
    OtherProof,
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
from ..models import (
    Course,
    Evidence,
    EvidenceKind,
    Membership,
    Person,
    Platform,
    Role,
    Tag,
    TaskSource,
)
from ..models import Task as TaskRow
from ..parcours import kept, list_tasks, parcours_progress
from ..parcours.access import parcours_for
from ..parcours.progress import FILE_KINDS
from ..platform_settings import PlatformSettings
from .folders import person_name

log = logging.getLogger(__name__)



_PHOTO_READERS = 4
# Photos are read locally; one that must come from the shared store waits this long at most
# for all of them together: the dossier is made all the same (building never waits).
PHOTO_DEADLINE = 8.0
_OTHER_PROOFS = {EvidenceKind.AUDIO: "Note vocale", EvidenceKind.PDF: "Document"}
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

    # What the candidat chose to leave out is not read at all.
    tasks = {t.id: t for t in list_tasks(session, actor, parcours.id) if not t.out_of_dossier}
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
            autres_preuves=[
                OtherProof(sorte=_OTHER_PROOFS[EvidenceKind(e.kind)],
                           nom=e.caption or e.original_name or _OTHER_PROOFS[EvidenceKind(e.kind)])
                for e in evidence.get(t.id, []) if e.kind in (EvidenceKind.AUDIO, EvidenceKind.PDF)
            ],
            commentaire=said.get((t.id, *address), ""),
        )

    def progress_files(task_id: int) -> bool:
        return any(e.kind in FILE_KINDS for e in evidence.get(task_id, []))

    progress = parcours_progress(session, actor, parcours.id, catalog=catalog)
    referentiels: list[Referentiel] = []
    blocs: list[Bloc] = []
    remaining: list[RemainingItem] = []
    shown_ids: set[int] = set()
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
                shown_ids.update(t.id for t in shown)
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

    # Every activity in the candidat's words tied to no compétence shown here.
    others = [task_entry(t, ("", "", "")) for t in tasks.values()
              if t.source is not TaskSource.MOODLE and t.id not in shown_ids]
    training = [
        TrainingModule(nom=t.title, date=day(t.moodle_completed_at))
        for t in sorted(tasks.values(), key=lambda t: (t.moodle_completed_at is None,
                                                       t.moodle_completed_at, t.id))
        if t.source is TaskSource.MOODLE and t.moodle_completed
    ]
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
        autres_activites=others,
        formation=training,
        reste_a_montrer=remaining if parcours.dossier_remaining_annex else [],
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


def read_photos(store: Store, slots: Iterable[PhotoSlot], *,
                deadline: float = PHOTO_DEADLINE) -> None:
    """Fill the photos' bytes: from the copies kept on this machine, else from the store
    (within `deadline` seconds for all). One that cannot be read stays empty and prints
    « photo illisible » (the dossier is made all the same)."""
    todo = [slot for slot in slots if slot.path]
    local = kept.kept_for(store)
    remote: list[PhotoSlot] = []
    for slot in todo:
        try:
            if local is None:
                raise StorageError("no local copies")
            slot.photo["data"] = local.get(slot.path)
        except StorageError:
            remote.append(slot)
    if not remote:
        return

    def read(slot: PhotoSlot) -> None:
        try:
            data = kept.read(store, slot.path)
        except StorageError as error:
            log.warning("photo of evidence %s unreadable for the dossier: %s",
                        slot.evidence_id, error)
        else:
            slot.photo["data"] = data

    pool = ThreadPoolExecutor(max_workers=_PHOTO_READERS)
    try:
        futures = [pool.submit(read, slot) for slot in remote]
        _done, late = wait(futures, timeout=deadline)
        if late:
            log.warning("%d photo(s) not read from the store within %.0f s: the dossier is "
                        "made without them", len(late), deadline)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


