"""API views: the session, référentiels, parcours, their steps, reviews, coverage, history."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from referentiels.completeness import is_complete

from .. import parcours as services
from ..auth import signed_in
from ..csrf import csrf_token
from ..models import Course, ParcoursStatus, Person
from ..moodle import notify
from ..parcours.errors import Invalid, NotFound
from ..parcours.readiness import check_ready_with_care
from ..parcours.text import clean_text
from .common import (
    bp,
    catalog,
    date_field,
    expected_version,
    id_arg,
    int_arg,
    json_body,
    read,
    str_field,
    text_field,
    versioned,
    write,
)
from .serialize import (
    actor_json,
    coverage_json,
    history_json,
    parcours_json,
    person_brief,
    proposal_json,
    referentiel_json,
    referentiel_summary,
    review_json,
)

# --- who am I -----------------------------------------------------------------------------


@bp.get("/session")
def session_info() -> ResponseReturnValue:
    """The actor of this session and the token to send back with every write."""
    return jsonify(actor=actor_json(signed_in()), csrf_token=csrf_token())


@bp.get("/me")
def me() -> ResponseReturnValue:
    who = signed_in()

    def run(db: Session) -> dict[str, Any]:
        person = db.get(Person, who.person_id)
        course = db.get(Course, who.course_id)
        return {
            **actor_json(who),
            "person": person_brief(person),
            "course": {"id": course.id, "title": course.title} if course else None,
        }

    return jsonify(read(run))


# --- référentiels ----------------------------------------------------------------------------


@bp.get("/referentiels")
def referentiels_list() -> ResponseReturnValue:
    """Every référentiel known here (shipped and imported), each version.

    A candidat sees only whole référentiels: one « à compléter » (a bloc without
    compétences, a cut wording) is listed for the staff, with what is missing.
    """
    who = signed_in()
    return jsonify(referentiels=read(lambda db: [
        referentiel_summary(r) for r in catalog(db, who)
        if not who.is_candidat or is_complete(r)
    ]))


@bp.get("/referentiels/<ref_id>/<version>")
def referentiel_detail(ref_id: str, version: str) -> ResponseReturnValue:
    who = signed_in()

    def run(db: Session) -> dict[str, Any]:
        ref = catalog(db, who).find(ref_id, version)
        if ref is None:
            raise NotFound("Ce référentiel n’existe pas ici.")
        return referentiel_json(ref)

    return jsonify(read(run))


# --- parcours ---------------------------------------------------------------------------------


@bp.get("/parcours")
def parcours_list() -> ResponseReturnValue:
    """The parcours of the course (accompagnateurs); a candidat sees their own."""
    who = signed_in()
    course_id = id_arg("course_id")

    def run(db: Session) -> list[dict[str, Any]]:
        return [parcours_json(db, p, detail=False)
                for p in services.list_parcours(db, who, course_id=course_id)]

    return jsonify(parcours=read(run))


@bp.get("/parcours/mine")
def parcours_mine() -> ResponseReturnValue:
    """The candidat's parcours in this course, made on first visit."""
    who = signed_in()
    return jsonify(write(lambda db: parcours_json(
        db, services.get_or_create_parcours(db, who, catalog=catalog(db, who)))))


@bp.get("/parcours/<int:parcours_id>")
def parcours_detail(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    return jsonify(read(lambda db: parcours_json(db, services.get_parcours(db, who, parcours_id))))


def _parcours_change(parcours_id: int, change: Any) -> ResponseReturnValue:
    """Run a change of the parcours with the version the client read, if it sent one."""
    who = signed_in()
    data = json_body()
    version, from_header = expected_version(data)

    def run(db: Session) -> dict[str, Any]:
        change(db, who, data, version)
        return parcours_json(db, services.get_parcours(db, who, parcours_id))

    body = versioned(lambda: write(run), from_header)
    response = jsonify(body)
    response.headers["ETag"] = f'"{body["version"]}"'
    return response


@bp.put("/parcours/<int:parcours_id>/modalite")
def parcours_modalite(parcours_id: int) -> ResponseReturnValue:
    def change(db: Session, who: Any, data: dict[str, Any], version: int | None) -> None:
        value = text_field(data, "modalite")
        if value is not None and not isinstance(value, str):
            raise Invalid("Choisissez une modalité : concret, abstrait ou transfert.",
                          field="modalite")
        services.set_modalite(db, who, parcours_id, value, expected_version=version)

    return _parcours_change(parcours_id, change)


@bp.put("/parcours/<int:parcours_id>/referentiels")
def parcours_referentiels(parcours_id: int) -> ResponseReturnValue:
    def change(db: Session, who: Any, data: dict[str, Any], version: int | None) -> None:
        raw = text_field(data, "referentiels")
        if not isinstance(raw, list):
            raise Invalid("« referentiels » doit être une liste.", field="referentiels")
        choices = []
        for entry in raw:
            if isinstance(entry, str):
                ref_id, _, ref_version = entry.partition("@")
                choices.append(services.ReferentielChoice(ref_id, ref_version or None))
            elif isinstance(entry, dict) and isinstance(entry.get("id"), str):
                v = entry.get("version")
                if v is not None and not isinstance(v, str):
                    raise Invalid("La version doit être un texte.", field="referentiels")
                choices.append(services.ReferentielChoice(entry["id"], v))
            else:
                raise Invalid("Chaque référentiel s’écrit {\"id\": …, \"version\": …}.",
                              field="referentiels")
        known = catalog(db, who)
        if who.is_candidat:
            for choice in choices:
                chosen = known.find(choice.referentiel_id, choice.version)
                if chosen is not None and not is_complete(chosen):
                    raise Invalid("Ce métier n’est pas encore prêt. Choisissez un autre métier.",
                                  field="referentiels")
        services.set_referentiels(db, who, parcours_id, choices, catalog=known,
                                  expected_version=version)

    return _parcours_change(parcours_id, change)


@bp.put("/parcours/<int:parcours_id>/projet")
def parcours_projet(parcours_id: int) -> ResponseReturnValue:
    def change(db: Session, who: Any, data: dict[str, Any], version: int | None) -> None:
        services.set_projet(db, who, parcours_id, text_field(data, "projet"),
                            expected_version=version)

    return _parcours_change(parcours_id, change)


@bp.put("/parcours/<int:parcours_id>/jury-date")
def parcours_jury_date(parcours_id: int) -> ResponseReturnValue:
    def change(db: Session, who: Any, data: dict[str, Any], version: int | None) -> None:
        text_field(data, "jury_date")
        services.set_jury_date(db, who, parcours_id, date_field(data, "jury_date"),
                               expected_version=version)

    return _parcours_change(parcours_id, change)


@bp.put("/parcours/<int:parcours_id>/accompagnateurs")
def parcours_accompagnateurs(parcours_id: int) -> ResponseReturnValue:
    def change(db: Session, who: Any, data: dict[str, Any], version: int | None) -> None:
        ids = text_field(data, "person_ids")
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise Invalid("« person_ids » doit être une liste de numéros.", field="person_ids")
        services.set_accompagnateurs(db, who, parcours_id, ids, expected_version=version)

    return _parcours_change(parcours_id, change)


@bp.put("/parcours/<int:parcours_id>/status")
def parcours_status(parcours_id: int) -> ResponseReturnValue:
    """The next step; reaching « prêt pour le jury » tells the candidat in Moodle (when the
    platform's token allows it), after the change is saved."""
    became_ready: list[bool] = []  # the last try of the write counts

    def change(db: Session, who: Any, data: dict[str, Any], version: int | None) -> None:
        status = str_field(data, "status")
        assert status is not None
        kwargs: dict[str, Any] = {}
        if "jury_date" in data:
            kwargs["jury_date"] = date_field(data, "jury_date")
        recognitions = []
        raw = data.get("recognitions") or []
        if not isinstance(raw, list):
            raise Invalid("« recognitions » doit être une liste.", field="recognitions")
        for entry in raw:
            if not isinstance(entry, dict):
                raise Invalid("Chaque reconnaissance est un objet.", field="recognitions")
            recognised = entry.get("recognised", True)
            if not isinstance(recognised, bool):
                raise Invalid("« recognised » vaut true ou false.", field="recognitions")
            recognitions.append(services.RecognitionInput(
                referentiel_id=str_field(entry, "referentiel_id") or "",
                referentiel_version=str_field(entry, "referentiel_version") or "",
                code=str_field(entry, "code") or "",
                recognised=recognised,
                note=entry.get("note") or "",
            ))
        before = services.get_parcours(db, who, parcours_id).status
        changed = services.change_status(db, who, parcours_id, status,
                                         recognitions=recognitions, catalog=catalog(db, who),
                                         expected_version=version, **kwargs)
        ready_now = (before is not ParcoursStatus.PRET_POUR_LE_JURY
                     and changed.status is ParcoursStatus.PRET_POUR_LE_JURY)
        if ready_now:  # with care: blocs without proof need `confirme: true` (as the page)
            check_ready_with_care(
                services.parcours_progress(db, who, parcours_id, catalog=catalog(db, who)),
                became_ready=True, confirmed=data.get("confirme") is True)
        became_ready.append(ready_now)

    response = _parcours_change(parcours_id, change)
    if became_ready and became_ready[-1]:
        notify.ready_for_jury(signed_in(), parcours_id)
    return response


# --- reviews, coverage, history, suggestions for a text --------------------------------------


@bp.get("/parcours/<int:parcours_id>/reviews")
def reviews_list(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    latest = request.args.get("latest", "") in ("1", "true", "yes")
    return jsonify(reviews=read(lambda db: [
        review_json(r)
        for r in services.list_reviews(db, who, parcours_id, latest_only=latest)
    ]))


@bp.post("/parcours/<int:parcours_id>/reviews")
def reviews_add(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    data = json_body()

    def run(db: Session) -> dict[str, Any]:
        review = services.add_review(
            db, who, parcours_id,
            referentiel_id=str_field(data, "referentiel_id") or "",
            referentiel_version=str_field(data, "referentiel_version", required=False),
            competence_code=str_field(data, "competence_code") or "",
            verdict=str_field(data, "verdict") or "",
            comment=data.get("comment", ""),
            catalog=catalog(db, who),
        )
        return review_json(review)

    body = write(run)
    notify.avis_given(who, parcours_id)  # after the commit; a refusal is only logged
    return jsonify(body), 201


@bp.get("/parcours/<int:parcours_id>/coverage")
def parcours_coverage(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    return jsonify(read(lambda db: coverage_json(
        services.parcours_progress(db, who, parcours_id, catalog=catalog(db, who)))))


@bp.get("/parcours/<int:parcours_id>/history")
def parcours_history(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    limit = int_arg("limit", 50)
    before = id_arg("before")
    return jsonify(history=read(lambda db: [
        history_json(entry, name)
        for entry, name in services.history(db, who, parcours_id, limit=limit, before_id=before)
    ]))


@bp.post("/parcours/<int:parcours_id>/suggestions")
def parcours_suggestions(parcours_id: int) -> ResponseReturnValue:
    """Compétences for words being typed (before the task is saved)."""
    who = signed_in()
    data = json_body()
    text = clean_text(text_field(data, "text"), "text", required=True)
    limit = data.get("limit", 5)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise Invalid("« limit » doit être un nombre.", field="limit")
    return jsonify(suggestions=read(lambda db: [
        proposal_json(p)
        for p in services.suggest_for_text(db, who, parcours_id, text, catalog=catalog(db, who),
                                           limit=limit)
    ]))


