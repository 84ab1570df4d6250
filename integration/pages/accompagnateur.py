"""The accompagnateur's pages (`/cours`): the candidats of the course, one candidat's file,
the review of one compétence, the coverage of the whole course."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from .. import parcours as services
from ..auth import Actor, require_actor, signed_in
from ..models import Parcours, ParcoursStatus, Role
from ..moodle import notify
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, NotFound, ParcoursError
from ..parcours.readiness import check_ready_with_care
from ..parcours.services import STATUS_ORDER, UNSET, _Unset
from ..parcours.text import parse_date
from . import activities, board, feedback, grades  # noqa: F401  (routes)
from .forms import Form
from .web import bp, form, page, run
from .words import STATUS_WORDS, VERDICT_WORDS

accompagnateur_only = require_actor(Role.ACCOMPAGNATEUR, Role.COORDINATEUR)

GRADEBOOK_FAILED = grades.GRADEBOOK_FAILED

def _gradebook(who: Actor, parcours_id: int) -> None:
    """Send progress to Moodle after a change; a failure is told discreetly."""
    if grades.send_progress(who, parcours_id) is False:
        flash(GRADEBOOK_FAILED, "note")


@bp.get("/cours")
@accompagnateur_only
def cours() -> ResponseReturnValue:
    who = signed_in()
    roster = board.course_roster(who)
    found = run(lambda db: board.course_board(db, who, catalog_for(db, who), roster))
    asked = {"q": request.args.get("q", "")[:100],
             "tri": request.args.get("tri", "nom"), "etape": request.args.get("etape", "")}
    if asked["tri"] not in board.SORTS:
        asked["tri"] = "nom"
    if asked["etape"] not in board.STEPS:
        asked["etape"] = ""
    rows = board.arrange(found.rows, search=asked["q"], sort=asked["tri"], step=asked["etape"])
    return page("pages/cours.html", board=found, rows=rows, asked=asked, sorts=board.SORTS,
                steps=board.STEPS)


@bp.get("/cours/tableau")
@accompagnateur_only
def cours_tableau() -> ResponseReturnValue:
    who = signed_in()
    found = run(lambda db: board.course_board(db, who, catalog_for(db, who),
                                              board.Roster(None, False)))
    return page("pages/tableau.html", board=found)


def _next_status(current: ParcoursStatus) -> ParcoursStatus | None:
    index = STATUS_ORDER.index(current)
    return STATUS_ORDER[index + 1] if index + 1 < len(STATUS_ORDER) else None


@bp.get("/cours/candidats/<int:parcours_id>")
@accompagnateur_only
def candidat(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    file = run(lambda db: board.candidat_file(db, who, parcours_id, catalog_for(db, who)))
    return page("pages/candidat.html", file=file, form=Form(),
                next_status=_next_status(file.parcours.status), status_words=STATUS_WORDS)


@bp.post("/cours/candidats/<int:parcours_id>/etape")
@accompagnateur_only
def candidat_status(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    values = form()
    status = values.get("status", "")
    version = int(values["version"]) if values.get("version", "").isdigit() else None
    try:
        jury: date | None | _Unset = UNSET
        if "jury_date" in values:
            jury = parse_date(values.get("jury_date"), "jury_date")

        def change(db: Session) -> Parcours:
            catalog = catalog_for(db, who)
            before = board.parcours_in_course(db, who, parcours_id).status
            changed = services.change_status(db, who, parcours_id, status, jury_date=jury,
                                             catalog=catalog, expected_version=version)
            # Ready for the jury with care: blocs without proof need a confirmation (the
            # step's own rules answer first; raising here undoes the change).
            became_ready = (changed.status is ParcoursStatus.PRET_POUR_LE_JURY
                            and before is not changed.status)
            if became_ready:
                check_ready_with_care(
                    services.parcours_progress(db, who, parcours_id, catalog=catalog),
                    became_ready=True, confirmed=bool(values.get("confirme")))
            return changed

        parcours = run(change)
    except ParcoursError as error:
        if isinstance(error, NotFound | Forbidden):
            raise
        filled = Form.of(values).refuse(error, "status")
        file = run(lambda db: board.candidat_file(db, who, parcours_id, catalog_for(db, who)))
        return page("pages/candidat.html", status=filled.status, file=file, form=filled,
                    next_status=_next_status(file.parcours.status), status_words=STATUS_WORDS)
    flash(f"C’est enregistré : le parcours est « {STATUS_WORDS[parcours.status]} ».", "ok")
    _gradebook(who, parcours_id)
    if parcours.status is ParcoursStatus.PRET_POUR_LE_JURY:
        notify.ready_for_jury(who, parcours_id)
    return redirect(url_for("pages.candidat", parcours_id=parcours_id) + "#etape", code=303)


@bp.route("/cours/candidats/<int:parcours_id>/competences/<ref_id>/<version>/<code>",
          methods=["GET", "POST"])
@accompagnateur_only
def review(parcours_id: int, ref_id: str, version: str, code: str) -> ResponseReturnValue:
    who = signed_in()
    filled = Form()
    if request.method == "POST":
        values = form()
        try:
            run(lambda db: services.add_review(
                db, who, board.parcours_in_course(db, who, parcours_id).id,
                referentiel_id=ref_id, referentiel_version=version, competence_code=code,
                verdict=values.get("verdict", ""), comment=values.get("comment", ""),
                catalog=catalog_for(db, who)))
        except ParcoursError as error:
            if isinstance(error, NotFound | Forbidden):
                raise
            filled = Form.of(values).refuse(error, "verdict")
        else:
            word = VERDICT_WORDS.get(values.get("verdict", "").lower(), "")
            flash(f"Votre avis est enregistré : {word}.", "ok")
            _gradebook(who, parcours_id)
            notify.avis_given(who, parcours_id)
            return redirect(url_for("pages.candidat", parcours_id=parcours_id)
                            + f"#c-{code}", code=303)
    screen = run(lambda db: board.review_screen(db, who, parcours_id, ref_id, version, code,
                                                catalog_for(db, who)))
    if request.method == "GET" and screen.earlier:
        last = screen.earlier[0]
        filled = Form.of({"verdict": last.verdict.value, "comment": last.comment})
    return page("pages/review.html", status=filled.status, screen=screen, form=filled)
