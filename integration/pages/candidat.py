"""The candidat's pages (`/moi`): what I do, my photos, my compétences, my choices."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from .. import parcours as services
from ..auth import require_actor, signed_in
from ..models import Role
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, NotFound, ParcoursError
from ..parcours.files import MAX_BYTES
from ..runtime import current_runtime
from . import screens
from .forms import Form
from .web import bp, form, page, run
from .words import FREQUENCIES, MODALITES

candidat_only = require_actor(Role.CANDIDAT)
# The writes below are guarded by the services' one rule (the candidat owns their words,
# parcours/access.py: may_change_own_words), the same for the API: no second check here.
launched = require_actor()
_ANCHOR = re.compile(r"[^A-Za-z0-9._-]")


def _uploads(*names: str) -> list[screens.Upload]:
    """The files sent, without the empty inputs a form posts when nothing was chosen."""
    found = []
    for name in names:
        for upload in request.files.getlist(name):
            if not isinstance(upload, FileStorage) or not upload.filename:
                continue
            data = upload.stream.read(MAX_BYTES + 1)
            found.append(screens.Upload(data, upload.filename))
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
    space = run(lambda db: screens.my_space(db, who, catalog_for(db, who)))
    return page("pages/moi.html", space=space)


@bp.route("/moi/activites/nouvelle", methods=["GET", "POST"])
@candidat_only
def task_new() -> ResponseReturnValue:
    who = signed_in()
    if request.method == "GET":
        return page("pages/task_form.html", form=Form.of({"source": "workplace"}), task=None,
                    frequencies=FREQUENCIES)
    values = form()
    uploads = _uploads("photo", "file")
    store = current_runtime().store
    try:
        task = run(lambda db: screens.add_task(db, who, store, catalog_for(db, who), values,
                                               uploads))
    except ParcoursError as error:
        if not _shown_to_person(error):
            raise
        filled = Form.of(values).refuse(error)
        if uploads and error.field != "file":
            filled.general.append("Choisissez à nouveau la photo : elle n’est pas encore "
                                  "enregistrée.")
        return page("pages/task_form.html", status=filled.status, form=filled, task=None,
                    frequencies=FREQUENCIES)
    flash("C’est enregistré." + (" Avec la photo." if uploads else ""), "ok")
    return redirect(url_for("pages.task_view", task_id=task.id), code=303)


@bp.get("/moi/activites/<int:task_id>")
@candidat_only
def task_view(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    screen = run(lambda db: screens.task_screen(db, who, task_id, catalog_for(db, who)))
    return page("pages/task.html", screen=screen, form=Form())


@bp.route("/moi/activites/<int:task_id>/modifier", methods=["GET", "POST"])
@candidat_only
def task_edit(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    if request.method == "GET":
        task = run(lambda db: services.get_task(db, who, task_id))
        values = {name: getattr(task, name) or "" for name in screens.TASK_FIELDS[:-1]}
        values["source"] = task.source.value
        values["version"] = str(task.version)
        return page("pages/task_form.html", form=Form.of(values), task=task,
                    frequencies=FREQUENCIES)
    values = form()
    data = screens.task_data(values)
    if data.get("source") == "moodle":
        data.pop("source")
    try:
        run(lambda db: services.update_task(db, who, task_id, data,
                                            expected_version=_int(values.get("version"))))
    except ParcoursError as error:
        if not _shown_to_person(error):
            raise
        task = run(lambda db: services.get_task(db, who, task_id))
        filled = Form.of(values).refuse(error)
        filled.values["version"] = str(task.version)
        return page("pages/task_form.html", status=filled.status, form=filled, task=task,
                    frequencies=FREQUENCIES)
    flash("C’est enregistré.", "ok")
    return redirect(url_for("pages.task_view", task_id=task_id), code=303)


@bp.post("/moi/activites/<int:task_id>/photos")
@launched
def task_photos(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    uploads = _uploads("photo", "file")
    store = current_runtime().store
    filled = Form()
    if not uploads:
        filled.errors["file"] = "Choisissez une photo ou un fichier PDF."
        filled.refused_status = 422
    else:
        try:
            count = run(lambda db: screens.attach(db, who, store, task_id, uploads))
        except ParcoursError as error:
            if not _shown_to_person(error):
                raise
            filled.refuse(error, "file")
        else:
            flash("La photo est ajoutée." if count == 1 else f"{count} fichiers sont ajoutés.",
                  "ok")
            return redirect(url_for("pages.task_view", task_id=task_id) + "#preuves", code=303)
    screen = run(lambda db: screens.task_screen(db, who, task_id, catalog_for(db, who)))
    return page("pages/task.html", status=filled.status, screen=screen, form=filled)


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
    return page("pages/tags.html", screen=screen)


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
