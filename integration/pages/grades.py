"""Progress sent to Moodle's gradebook (LTI AGS) after a review or a change of step.

Scores go to the activity's own column when the launch carried its line item
(`endpoint.lineitem`), else to a « Repères » line item of the course (lti/services.py).

The score is the share of compétences the accompagnateur said « Oui » to (« Partiellement »
counts half), over every compétence of the chosen référentiels. It is sent after the
change is saved, outside its transaction: a platform that does not answer is logged and
told discreetly, and never undoes or blocks the work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from referentiels import Catalog

from .. import parcours as services
from ..actor import Actor
from ..db import transaction
from ..lti import claims as c
from ..lti.errors import ServiceError
from ..lti.services import post_score
from ..models import Course, ParcoursStatus, Person, Platform
from ..parcours.access import ACCOMPAGNATEUR_ROLES
from ..parcours.catalog import catalog_for
from ..parcours.worklist import to_look_at
from ..runtime import current_runtime

log = logging.getLogger(__name__)

GRADEBOOK_FAILED = ("Le carnet de notes de Moodle n’a pas répondu. Ce n’est pas grave : "
                    "tout est enregistré ici, la note suivra au prochain changement.")

ACTIVITY = {
    ParcoursStatus.EN_PREPARATION: "InProgress",
    ParcoursStatus.PRET_POUR_LE_JURY: "Submitted",
    ParcoursStatus.PRESENTE: "Completed",
    ParcoursStatus.RECONNU: "Completed",
}


@dataclass(frozen=True)
class Progress:
    given: float
    maximum: float
    activity: str
    grading: str
    comment: str


def progress_of(db: Session, who: Actor, parcours_id: int, catalog: Catalog) -> Progress:
    """The score of one parcours, from the progress model."""
    parcours = services.get_parcours(db, who, parcours_id)
    cov = services.parcours_progress(db, who, parcours_id, catalog=catalog)
    total = sum(r.totals.items for r in cov.referentiels)
    oui = sum(r.totals.oui for r in cov.referentiels)
    part = sum(r.totals.partiellement for r in cov.referentiels)
    evidence = sum(r.totals.with_evidence for r in cov.referentiels)
    given = oui + 0.5 * part
    # The same count as « À regarder » and the course page, for who sends it.
    waiting = (to_look_at(db, who, course_id=parcours.course_id, parcours_id=parcours.id).count
               if who.role in ACCOMPAGNATEUR_ROLES else 0)
    return Progress(
        given=given,
        maximum=float(total or 1),
        activity=ACTIVITY[parcours.status],
        # Moodle writes a grade only when it is "FullyGraded": the score is the state of the
        # reviews now, sent again at each change.
        grading="FullyGraded",
        comment=(f"{oui} compétence(s) « oui », {part} « partiellement », "
                 f"{evidence} avec une preuve, sur {total}. "
                 f"{waiting} activité(s) à regarder."),
    )


def offers_grades(course: Course) -> bool:
    scopes = set(course.ags_scopes or [])
    return bool(course.ags_lineitems_url or course.ags_lineitem_url) and c.SCOPE_SCORE in scopes


def send_progress(who: Actor, parcours_id: int) -> bool | None:
    """Send the parcours' progress to the gradebook of its course.

    None when the launch offers no grades; True when sent; False when it failed (logged).
    """
    sessions = current_runtime().sessions
    try:
        with transaction(sessions) as db:
            parcours = services.get_parcours(db, who, parcours_id)
            course = db.get(Course, parcours.course_id)
            platform = db.get(Platform, who.platform_id)
            person = db.get(Person, parcours.person_id)
            if course is None or platform is None or person is None or not offers_grades(
                course
            ):
                return None
            progress = progress_of(db, who, parcours_id, catalog_for(db, who))
    except services.ParcoursError:
        return None
    try:
        post_score(platform, course, person, progress.given, progress.maximum,
                   activity_progress=progress.activity, grading_progress=progress.grading,
                   comment=progress.comment)
    except (ServiceError, OSError, ValueError) as error:
        log.warning("progress of parcours %s not sent to the gradebook: %s", parcours_id, error)
        return False
    log.info("progress of parcours %s sent: %.1f/%.0f", parcours_id, progress.given,
             progress.maximum)
    return True
