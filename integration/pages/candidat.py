"""The candidat's pages (`/moi`): what I do, my photos, my compétences, my choices."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from referentiels.pictos import metier_picto

from .. import parcours as services
from ..auth import require_actor, signed_in
from ..models import Role
from ..parcours import drafts
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, NotFound, ParcoursError
from ..parcours.files import MAX_BYTES
from ..runtime import current_runtime
from . import screens
from .avis import Avis, avis_for
from .drafts import form_key_edit, form_key_new, person_key
from .forms import Form
from .web import bp, form, page, run
from .words import FREQUENCIES, MODALITES, family_of, plain_metier, plain_name

candidat_only = require_actor(Role.CANDIDAT)
bp.add_app_template_filter(plain_name, "plain_name")
bp.add_app_template_filter(plain_metier, "plain_metier")
bp.add_app_template_global(metier_picto, "metier_picto")
# The writes below are guarded by the services' one rule (the candidat owns their words,
# parcours/access.py: may_change_own_words), the same for the API: no second check here.
launched = require_actor()
_ANCHOR = re.compile(r"[^A-Za-z0-9._-]")


def _uploads(*names: str) -> list[screens.Upload]:
    """The files sent, without the empty inputs a form posts when nothing was chosen.

    A body over the limit raises ParcoursError (the caller says it on the form)."""
    try:
        files = request.files
    except RequestEntityTooLarge:
        raise ParcoursError("Les fichiers sont trop gros.") from None
    found = []
    for name in names:
        for upload in files.getlist(name):
            if not isinstance(upload, FileStorage) or not upload.filename:
                continue
            data = upload.stream.read(MAX_BYTES + 1)
            filename = "voix" if name == "voice" else upload.filename
            found.append(screens.Upload(data, filename))
    return found


def _shown_to_person(error: ParcoursError) -> bool:
    """Refusals shown beside the form; 404 and 403 become their own page."""
    return not isinstance(error, NotFound | Forbidden)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


# --- Ce que je fais ---------------------------------------------------------------------------


@bp.get("/moi")
@candidat_only
def moi() -> ResponseReturnValue:
    who = signed_in()

    def load(db: Session) -> tuple[screens.MySpace, Avis, list[str]]:
        space = screens.my_space(db, who, catalog_for(db, who))
        return space, avis_for(db, space.parcours), drafts.draft_keys(db, who)

    space, avis, unfinished = run(load)
    return page("pages/moi.html", space=space, avis=avis, unfinished=unfinished,
                family=family_of(space.referentiels), draft_person=person_key(who))


def _task_form(filled: Form, *, task: Any = None, status: int = 200,
               has_draft: bool = False, start: int = 1) -> ResponseReturnValue:
    who = signed_in()
    key = form_key_edit(task.id) if task is not None else form_key_new()
    return page("pages/task_form.html", status=status, form=filled, task=task,
                frequencies=FREQUENCIES, draft_key=key, draft_person=person_key(who),
                has_draft=has_draft, start=start)


KEPT_HERE = ("Le dossier partagé ne répond pas pour le moment. Rien n’est perdu : "
             "c’est gardé ici et ce sera copié dès qu’il répond.")


def _refused_files(done: screens.Attached) -> None:
    if done.kept_here:
        flash(KEPT_HERE, "note")
    for message in done.refused:
        flash(message + " Vous pouvez la choisir à nouveau.", "warn")


@bp.route("/moi/activites/nouvelle", methods=["GET", "POST"])
@candidat_only
def task_new() -> ResponseReturnValue:
    who = signed_in()
    key = form_key_new()
    if request.method == "GET":
        saved = run(lambda db: drafts.get_draft(db, who, key))
        values = {"source": "workplace"}
        title = request.args.get("title", "").strip()[:300]
        if request.args.get("reprendre") and saved:
            values.update(saved)
        elif title:
            values["title"] = title
        # Coming from the first screen with « Ce que je fais » written: the next question.
        return _task_form(Form.of(values), has_draft=bool(saved) and "reprendre" not in
                          request.args, start=2 if title else 1)
    try:
        values = form()
        uploads = _uploads("photo", "file", "voice")
    except ParcoursError:
        # The body is too big to read (photos sent all at once without the page's script):
        # the words come back from the draft kept as the person typed.
        saved = run(lambda db: drafts.get_draft(db, who, key)) or {}
        filled = Form.of({"source": "workplace", **saved})
        filled.errors["file"] = ("Les photos sont trop grosses pour partir ensemble. "
                                 "Vos mots sont gardés. Choisissez une photo à la fois.")
        filled.refused_status = 413
        return _task_form(filled, status=413, start=5)
    store = current_runtime().store
    try:
        def save(db: Session) -> tuple[Any, screens.Attached]:
            made = screens.add_task(db, who, store, catalog_for(db, who), values, uploads)
            drafts.drop_draft(db, who, key)
            return made

        task, done = run(save)
    except ParcoursError as error:
        if not _shown_to_person(error):
            raise
        filled = Form.of(values).refuse(error)
        if uploads and error.field != "file":
            filled.general.append("Choisissez à nouveau la photo : elle n’est pas encore "
                                  "enregistrée.")
        return _task_form(filled, status=filled.status)
    with_photo = " Avec la photo." if done.accepted == 1 else (
        f" Avec {done.accepted} photos." if done.accepted > 1 else "")
    flash("C’est enregistré." + with_photo, "ok")
    _refused_files(done)
    # One flow: the next screen asks what the activity shows.
    return redirect(url_for("pages.task_tags", task_id=task.id, nouvelle=1), code=303)


@bp.get("/moi/activites/<int:task_id>")
@candidat_only
def task_view(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    screen = run(lambda db: screens.task_screen(db, who, task_id, catalog_for(db, who)))
    return page("pages/task.html", screen=screen, form=Form(), draft_person=person_key(who))


@bp.route("/moi/activites/<int:task_id>/modifier", methods=["GET", "POST"])
@candidat_only
def task_edit(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    key = form_key_edit(task_id)
    if request.method == "GET":
        task = run(lambda db: services.get_task(db, who, task_id))
        values = {name: getattr(task, name) or "" for name in screens.TASK_FIELDS[:-1]}
        values["source"] = task.source.value
        saved = run(lambda db: drafts.get_draft(db, who, key))
        if request.args.get("reprendre") and saved:
            values.update(saved)
        values["version"] = str(task.version)
        return _task_form(Form.of(values), task=task,
                          has_draft=bool(saved) and "reprendre" not in request.args)
    values = form()
    data = screens.task_data(values)
    if data.get("source") == "moodle":
        data.pop("source")
    try:
        def save(db: Session) -> None:
            services.update_task(db, who, task_id, data,
                                 expected_version=_int(values.get("version")))
            drafts.drop_draft(db, who, key)

        run(save)
    except ParcoursError as error:
        if not _shown_to_person(error):
            raise
        task = run(lambda db: services.get_task(db, who, task_id))
        filled = Form.of(values).refuse(error)
        filled.values["version"] = str(task.version)
        return _task_form(filled, task=task, status=filled.status)
    flash("C’est enregistré.", "ok")
    return redirect(url_for("pages.task_view", task_id=task_id, enregistre=1), code=303)


@bp.post("/moi/activites/<int:task_id>/photos")
@launched
def task_photos(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    filled = Form()
    try:
        uploads = _uploads("photo", "file", "voice")
    except ParcoursError:
        uploads = []
        filled.errors["file"] = ("Les photos sont trop grosses pour partir ensemble. "
                                 "Choisissez une photo à la fois.")
        filled.refused_status = 413
    store = current_runtime().store
    if not uploads and filled.ok:
        filled.errors["file"] = "Choisissez une photo."
        filled.refused_status = 422
    elif uploads:
        done = run(lambda db: screens.attach(db, who, store, task_id, uploads))
        if done.accepted:
            voice = all(u.filename.startswith("voix") for u in uploads)
            flash("La note de voix est gardée." if voice else "La photo est ajoutée."
                  if done.accepted == 1 else f"{done.accepted} fichiers sont ajoutés.", "ok")
            _refused_files(done)
            return redirect(url_for("pages.task_view", task_id=task_id) + "#preuves",
                            code=303)
        filled.errors["file"] = " ".join(done.refused)
        filled.refused_status = done.status or 422
    screen = run(lambda db: screens.task_screen(db, who, task_id, catalog_for(db, who)))
    return page("pages/task.html", status=filled.status, screen=screen, form=filled,
                draft_person=person_key(who))


@bp.post("/moi/activites/<int:task_id>/retirer")
@launched
def task_remove(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    task = run(lambda db: services.delete_task(db, who, task_id))
    flash(f"L’activité « {task.title} » est retirée. Vous pouvez la remettre.", "undo")
    return redirect(url_for("pages.tasks_removed"), code=303)


@bp.post("/moi/activites/<int:task_id>/remettre")
@launched
def task_restore(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    run(lambda db: services.restore_task(db, who, task_id))
    flash("L’activité est de retour.", "ok")
    return redirect(url_for("pages.task_view", task_id=task_id), code=303)


@bp.get("/moi/activites/retirees")
@candidat_only
def tasks_removed() -> ResponseReturnValue:
    who = signed_in()
    tasks = run(lambda db: screens.removed_tasks(db, who, catalog_for(db, who)))
    return page("pages/removed.html", tasks=tasks)


@bp.post("/moi/preuves/<int:evidence_id>/retirer")
@launched
def evidence_remove(evidence_id: int) -> ResponseReturnValue:
    who = signed_in()
    evidence = run(lambda db: services.delete_evidence(db, who, evidence_id))
    flash("La photo est retirée.", "ok")
    return redirect(url_for("pages.task_view", task_id=evidence.task_id) + "#preuves",
                    code=303)


# --- the compétences of a task -----------------------------------------------------------------


@bp.get("/moi/activites/<int:task_id>/competences")
@candidat_only
def task_tags(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    screen = run(lambda db: screens.tag_screen(db, who, task_id, catalog_for(db, who)))
    return page("pages/tags.html", screen=screen, draft_person=person_key(who))


@bp.post("/moi/activites/<int:task_id>/competences")
@launched
def task_tag_add(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    values = form()
    try:
        run(lambda db: services.add_tag(
            db, who, task_id,
            referentiel_id=values.get("referentiel_id", ""),
            referentiel_version=values.get("referentiel_version") or None,
            competence_code=values.get("competence_code", ""),
            catalog=catalog_for(db, who),
        ))
    except ParcoursError as error:
        if not _shown_to_person(error):
            raise
        flash(error.message, "error")
        return redirect(url_for("pages.task_tags", task_id=task_id), code=303)
    flash("C’est noté : cette activité montre cette compétence.", "ok")
    anchor = _ANCHOR.sub("", values.get("anchor", ""))[:100]
    return redirect(url_for("pages.task_tags", task_id=task_id)
                    + (f"#{anchor}" if anchor else ""), code=303)


@bp.post("/moi/liens/<int:tag_id>/retirer")
@launched
def tag_remove(tag_id: int) -> ResponseReturnValue:
    who = signed_in()
    task = run(lambda db: services.remove_tag(db, who, tag_id))
    flash("Le lien est retiré.", "ok")
    back = request.form.get("back") == "task"
    target = "pages.task_view" if back else "pages.task_tags"
    return redirect(url_for(target, task_id=task.id), code=303)


# --- Mon référentiel, my choices ----------------------------------------------------------------


@bp.get("/moi/referentiel")
@candidat_only
def my_referentiel() -> ResponseReturnValue:
    who = signed_in()
    screen = run(lambda db: screens.referentiel_screen(db, who, catalog_for(db, who)))
    return page("pages/referentiel.html", screen=screen)


def _save_choice(
    field: str, choose: Any, done: str, next_page: str
) -> Form | ResponseReturnValue:
    """POST of a one-question form: save `field` with `choose`, then go on; else refill."""
    who = signed_in()
    values = form()
    try:
        run(lambda db: choose(db, who, catalog_for(db, who), values.get(field, ""),
                              _int(values.get("version"))))
    except ParcoursError as error:
        if not _shown_to_person(error):
            raise
        return Form.of(values).refuse(error, field)
    flash(done, "ok")
    return redirect(url_for(next_page), code=303)


@bp.route("/moi/referentiel/choisir", methods=["GET", "POST"])
@candidat_only
def choose_referentiel() -> ResponseReturnValue:
    who = signed_in()
    filled = Form()
    if request.method == "POST":
        saved = _save_choice("referentiel", screens.choose_referentiel,
                             "C’est enregistré : voici votre référentiel.", "pages.my_referentiel")
        if not isinstance(saved, Form):
            return saved
        filled = saved
    screen = run(lambda db: screens.choose_referentiel_screen(db, who, catalog_for(db, who)))
    return page("pages/choose_referentiel.html", status=filled.status, screen=screen,
                form=filled)


@bp.route("/moi/modalite", methods=["GET", "POST"])
@candidat_only
def modalite() -> ResponseReturnValue:
    who = signed_in()
    filled = Form()
    if request.method == "POST":
        saved = _save_choice("modalite", screens.choose_modalite, "C’est enregistré.",
                             "pages.moi")
        if not isinstance(saved, Form):
            return saved
        filled = saved
    parcours = run(lambda db: screens.my_parcours(db, who, catalog_for(db, who)))
    return page("pages/modalite.html", status=filled.status, parcours=parcours,
                choices=MODALITES, form=filled)
