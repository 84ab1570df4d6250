"""The accompagnateur's work by activity: « À regarder » (what is new since they last
looked, newest first) and the review of one activity (its words, photos and voice notes,
an avis per compétence, one comment, a compétence to propose, « Enregistrer et suivante »).

Views translate HTTP; what is « to look at » is `parcours/worklist.py`'s, the rules are
`parcours/access.py`'s, the writes `parcours/feedback.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from referentiels import Catalog

from ..actor import Actor
from ..auth import require_actor, signed_in
from ..models import Evidence, EvidenceKind, Parcours, Person, Role, Task
from ..moodle import notify
from ..parcours import feedback
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, Invalid, NotFound, ParcoursError
from ..parcours.items import Item, items_of
from ..parcours.progress import CompetenceProgress, chosen_referentiels, decide, load_facts
from ..parcours.worklist import WorkList, to_look_at
from . import grades
from .board import parcours_in_course
from .forms import Form
from .screens import Photo
from .web import bp, form, page, run
from .words import VERDICT_WORDS

accompagnateur_only = require_actor(Role.ACCOMPAGNATEUR, Role.COORDINATEUR)
SHOWN = 200  # rows of « À regarder » on one page (the count says how many in all)


# --- « À regarder » ---------------------------------------------------------------------------


@bp.get("/cours/a-regarder")
@accompagnateur_only
def a_regarder() -> ResponseReturnValue:
    who = signed_in()
    work = run(lambda db: to_look_at(db, who, rows=SHOWN))
    return page("pages/a_regarder.html", work=work, shown=work.items)


# --- one activity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Linked:
    """A compétence the activity is linked with, and where its avis stands."""

    item: Item
    progress: CompetenceProgress | None
    comment: str  # the candidat's words on the link

    @property
    def field(self) -> str:
        return field_name((self.item.referentiel_id, self.item.referentiel_version,
                           self.item.code))


@dataclass
class ActivityScreen:
    task: Task
    parcours: Parcours
    person: Person
    files: list[Photo]
    voices: list[int]  # evidence ids of voice notes
    linked: list[Linked]
    proposable: list[Item]
    said: feedback.Feedback
    remaining: int  # other activities of this candidat still to look at
    elsewhere: int = 0  # links to a référentiel no longer chosen
    blocs: dict[str, list[Item]] = field(default_factory=dict)


def activity_screen(db: Session, who: Actor, task_id: int, catalog: Catalog) -> ActivityScreen:
    task = feedback.open_activity(db, who, task_id)
    parcours = parcours_in_course(db, who, task.parcours_id)
    refs = chosen_referentiels(parcours, catalog)
    progress = decide(load_facts(db, [parcours.id]), parcours.id, refs)
    found: dict[tuple[str, str, str], CompetenceProgress] = {
        (ref.referentiel_id, ref.referentiel_version, item.code): item
        for ref, _, item in progress.competences()}
    items = {(i.referentiel_id, i.referentiel_version, i.code): i
             for ref in refs for i in items_of(ref)}
    linked, elsewhere = [], 0
    for tag in task.tags:
        address = (tag.referentiel_id, tag.referentiel_version, tag.competence_code)
        if address in items:
            linked.append(Linked(items[address], found.get(address), tag.comment))
        else:
            elsewhere += 1
    said = feedback.feedback_for(db, who, task.id)
    taken = {(i.item.referentiel_id, i.item.referentiel_version, i.item.code) for i in linked}
    taken |= {(p.referentiel_id, p.referentiel_version, p.competence_code) for p in said.pending}
    proposable = [i for address, i in items.items() if address not in taken]
    files, voices = [], []
    for e in db.execute(
        select(Evidence.id, Evidence.task_id, Evidence.kind, Evidence.caption,
               Evidence.original_name, Evidence.preview_path, Evidence.medium_path,
               Evidence.width, Evidence.height)
        .where(Evidence.task_id == task.id, Evidence.deleted_at.is_(None))
        .order_by(Evidence.id)
    ).all():
        if e.kind == EvidenceKind.AUDIO.value:
            voices.append(e.id)
        else:
            files.append(Photo.of(e))
    remaining = to_look_at(db, who, parcours_id=task.parcours_id, exclude=task.id)
    blocs: dict[str, list[Item]] = {}
    for item in proposable:
        blocs.setdefault(item.bloc_falc or item.bloc_intitule, []).append(item)
    return ActivityScreen(task, parcours, parcours.person, files, voices, linked, proposable,
                          said, remaining.count, elsewhere, blocs)


def _show(who: Actor, task_id: int, filled: Form) -> ResponseReturnValue:
    screen = run(lambda db: activity_screen(db, who, task_id, catalog_for(db, who)))
    suite = ",".join(map(str, queue_of(request.values.get("suite"))))
    return page("pages/activite_avis.html", status=filled.status, screen=screen, form=filled,
                suite=suite)


@bp.get("/cours/activites/<int:task_id>")
@accompagnateur_only
def activite(task_id: int) -> ResponseReturnValue:
    return _show(signed_in(), task_id, Form())


def field_name(address: tuple[str, str, str]) -> str:
    return "avis-{}-{}-{}".format(*address)


# « Enregistrer et suivante » goes through the list the accompagnateur opened: its next
# activities travel with the page (`suite`), so the next one is found among a few rows;
# the whole course is searched only when they have all been looked at.
QUEUE_LENGTH = 20


def queue_of(text: str | None) -> list[int]:
    """The ids of `suite` (« 12,15,9 »), at most QUEUE_LENGTH; anything else is dropped."""
    found = []
    for part in (text or "").split(",")[:QUEUE_LENGTH]:
        if part.isdigit() and len(part) < 12:
            found.append(int(part))
    return found


def _next_after(db: Session, who: Actor, task_id: int,
                queue: list[int]) -> tuple[int | None, list[int]]:
    """The next activity to look at, and the list that follows it."""
    if queue:
        found = to_look_at(db, who, rows=1, exclude=task_id, counts=False, only=queue)
        if found.items:
            following = found.items[0].task_id
            return following, [t for t in queue if t not in (following, task_id)]
    # The list was all answered: the course's next ones, the list refilled at once.
    found = to_look_at(db, who, rows=QUEUE_LENGTH + 1, exclude=task_id, counts=False)
    ids = [item.task_id for item in found.items]
    return (ids[0], ids[1:]) if ids else (None, [])


@bp.post("/cours/activites/<int:task_id>")
@accompagnateur_only
def activite_save(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    values = form()

    def save(db: Session) -> tuple[int, tuple[int | None, list[int]], int]:
        catalog = catalog_for(db, who)
        task = feedback.open_activity(db, who, task_id)
        parcours = parcours_in_course(db, who, task.parcours_id)
        known = {(i.referentiel_id, i.referentiel_version, i.code)
                 for ref in chosen_referentiels(parcours, catalog) for i in items_of(ref)}
        addresses = [a for a in ((t.referentiel_id, t.referentiel_version, t.competence_code)
                                 for t in task.tags) if a in known]
        done = feedback.review_activity(
            db, who, task.id, verdicts={a: values.get(field_name(a), "") for a in addresses},
            comment=values.get("comment", ""), catalog=catalog)
        following = (_next_after(db, who, task.id, queue_of(values.get("suite")))
                     if "suivante" in values else (None, []))
        return parcours.id, following, len(done.reviews)

    try:
        parcours_id, (following, rest), given = run(save)
    except ParcoursError as error:
        if isinstance(error, NotFound | Forbidden):
            raise
        return _show(who, task_id, Form.of(values).refuse(error, "comment"))
    words = [VERDICT_WORDS[v] for v in values.values() if v in VERDICT_WORDS]
    if given or values.get("comment", "").strip():
        flash("C’est enregistré" + (f" : {', '.join(words)}." if words else "."), "ok")
    if given:
        if grades.send_progress(who, parcours_id) is False:
            flash(grades.GRADEBOOK_FAILED, "note")
        notify.avis_given(who, parcours_id)
    if "suivante" in values:
        if following is None:
            flash("Il n’y a plus rien à regarder. Bravo !", "ok")
            return redirect(url_for("pages.a_regarder"), code=303)
        return redirect(url_for("pages.activite", task_id=following,
                                suite=",".join(map(str, rest)) or None), code=303)
    return redirect(url_for("pages.activite", task_id=task_id), code=303)


@bp.post("/cours/activites/<int:task_id>/proposer")
@accompagnateur_only
def activite_propose(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    values = form()
    ref_id, _, rest = values.get("competence", "").partition("@")
    version, _, code = rest.partition("#")

    def propose(db: Session) -> None:
        task = feedback.open_activity(db, who, task_id)
        parcours_in_course(db, who, task.parcours_id)
        if not code:
            raise Invalid("Choisissez une compétence dans la liste.", field="competence")
        feedback.propose_tag(db, who, task.id, referentiel_id=ref_id,
                             referentiel_version=version, competence_code=code,
                             catalog=catalog_for(db, who))

    try:
        run(propose)
    except ParcoursError as error:
        if isinstance(error, NotFound | Forbidden):
            raise
        return _show(who, task_id, Form.of(values).refuse(error, "competence"))
    flash("C’est proposé. Le candidat dira si c’est juste.", "ok")
    return redirect(url_for("pages.activite", task_id=task_id) + "#proposer", code=303)


def work_count(db: Session, who: Actor) -> WorkList:
    """« À regarder » for the course page and the menu (the same count everywhere)."""
    return to_look_at(db, who)
