"""The coordinateur's page of a course: the référentiels it offers, and importing one."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..auth import require_actor, signed_in
from ..models import Role
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, NotFound, ParcoursError
from . import course_admin
from .forms import Form
from .web import bp, form, page, run

coordinateur_only = require_actor(Role.COORDINATEUR)


def _offer_page(status: int = 200, *, offer_form: Form | None = None,
                import_form: Form | None = None,
                problems: list[object] | None = None) -> ResponseReturnValue:
    who = signed_in()
    screen = run(lambda db: course_admin.offer_screen(db, who))
    return page("pages/referentiels.html", status=status, screen=screen,
                offer_form=offer_form or Form(), import_form=import_form or Form(),
                problems=problems or [], formats=course_admin.FORMAT_WORDS)


@bp.route("/cours/referentiels", methods=["GET", "POST"])
@require_actor(Role.COORDINATEUR, Role.ACCOMPAGNATEUR)
def course_referentiels() -> ResponseReturnValue:
    who = signed_in()
    if request.method == "GET":
        return _offer_page()
    chosen = request.form.getlist("referentiels")
    try:
        run(lambda db: course_admin.set_offer(db, who, chosen, catalog_for(db, who)))
    except ParcoursError as error:
        if isinstance(error, NotFound | Forbidden):
            raise
        return _offer_page(error.status,
                           offer_form=Form.of({"referentiels": ",".join(chosen)}).refuse(
                               error, "referentiels"))
    flash("C’est enregistré : les candidats choisissent parmi ces référentiels."
          if chosen else "C’est enregistré : les candidats choisissent parmi tous les "
          "référentiels en vigueur.", "ok")
    return redirect(url_for("pages.course_referentiels"), code=303)


@bp.post("/cours/referentiels/importer")
@coordinateur_only
def course_referentiels_import() -> ResponseReturnValue:
    who = signed_in()
    values = form()
    upload = request.files.get("fichier")
    data = upload.stream.read(course_admin.MAX_IMPORT_BYTES + 1) if upload else b""
    filename = upload.filename or "" if upload else ""
    try:
        done = run(lambda db: course_admin.import_upload(
            db, who, data, filename, values.get("format") or None, values.get("fiche")))
    except course_admin.ImportRefused as refused:
        filled = Form.of(values)
        filled.errors["fichier"] = refused.message
        return _offer_page(422, import_form=filled, problems=list(refused.problems))
    if done.added:
        flash(f"Importé : {', '.join(done.names)}. Cochez-le pour le proposer dans ce cours.",
              "ok")
    else:
        flash("Ce référentiel était déjà là : rien n’a changé.", "ok")
    return redirect(url_for("pages.course_referentiels") + "#proposes", code=303)


@bp.post("/cours/referentiels/qui-choisit")
@coordinateur_only
def course_referentiels_who_chooses() -> ResponseReturnValue:
    who = signed_in()
    allowed = form().get("accompagnateurs") == "oui"
    run(lambda db: course_admin.set_accompagnateurs_choose(db, who, allowed))
    flash("C’est enregistré : les accompagnateurs choisissent aussi les référentiels."
          if allowed else "C’est enregistré : seul le coordinateur choisit les référentiels.",
          "ok")
    return redirect(url_for("pages.course_referentiels") + "#qui-choisit", code=303)
