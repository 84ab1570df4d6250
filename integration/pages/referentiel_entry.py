"""The coordinateur's page to enter a référentiel by hand (`parcours.manual_referentiel`).

The whole draft travels in the form. « Ajouter un bloc » and « Ajouter une compétence »
post it back and draw it again with one more row (the new row gets the focus); «
Enregistrer » checks it with the validator and stores it for this platform only. Works
without JavaScript, with the keyboard only.
"""

from __future__ import annotations

import re

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from referentiels import PICTOS

from ..auth import require_actor, signed_in
from ..models import Role
from ..parcours import manual_referentiel as manual
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, NotFound, ParcoursError
from .course_admin import _course
from .forms import Form
from .web import bp, form, page, run

_META = ("code", "intitule", "certificateur", "niveau", "rncp", "version", "source",
         "fiabilite")
_ADD_COMPETENCE = re.compile(r"competence-([0-9]{1,3})")


def _count(values: dict[str, str], name: str, default: int, limit: int) -> int:
    try:
        return max(0, min(int(values.get(name, default)), limit))
    except ValueError:
        return default


def draft_from_form(values: dict[str, str]) -> manual.Draft:
    """The draft as posted (rows by their rank on the form)."""
    draft = manual.Draft(**{name: values.get(name, "").strip() for name in _META})
    draft.blocs = []
    for b in range(1, _count(values, "nb-blocs", 1, manual.MAX_FORM_BLOCS) + 1):
        rows = [
            manual.CompetenceRow(*(values.get(f"b{b}-c{c}-{part}", "").strip()
                                   for part in ("code", "intitule", "falc", "picto")))
            for c in range(1, _count(values, f"b{b}-nb", manual.ROWS_PER_BLOC,
                                     manual.MAX_FORM_COMPETENCES) + 1)
        ]
        draft.blocs.append(manual.BlocRow(values.get(f"b{b}-code", "").strip(),
                                          values.get(f"b{b}-intitule", "").strip(), rows))
    if not draft.blocs:
        draft.blocs.append(manual.BlocRow())
    return draft


def values_of(draft: manual.Draft) -> dict[str, str]:
    """The draft as form values (what `Form` draws the fields with)."""
    values = {name: getattr(draft, name) for name in _META}
    values["nb-blocs"] = str(len(draft.blocs))
    for b, bloc in enumerate(draft.blocs, 1):
        values[f"b{b}-code"], values[f"b{b}-intitule"] = bloc.code, bloc.intitule
        values[f"b{b}-nb"] = str(len(bloc.competences))
        for c, row in enumerate(bloc.competences, 1):
            for part in ("code", "intitule", "falc", "picto"):
                values[f"b{b}-c{c}-{part}"] = getattr(row, part)
    return values


def _entry_page(draft: manual.Draft, *, status: int = 200, filled: Form | None = None,
                focus: str | None = None) -> ResponseReturnValue:
    shown = filled or Form()
    shown.values = values_of(draft)
    return page("pages/referentiel_entry.html", status=status, draft=draft, entry_form=shown,
                focus=focus, pictos=PICTOS, reliabilities=manual.RELIABILITY_WORDS)


@bp.get("/cours/referentiels/saisir")
@require_actor(Role.COORDINATEUR)
def referentiel_entry() -> ResponseReturnValue:
    who = signed_in()
    start = request.args.get("depuis", "").strip()

    def _draft(db):  # type: ignore[no-untyped-def]
        _course(db, who)
        if not start:
            return manual.Draft()
        ref_id, _, version = start.partition("@")
        ref = catalog_for(db, who).find(ref_id, version or None)
        if ref is None:
            raise NotFound("Ce référentiel n’existe pas ici.")
        return manual.draft_of(ref)

    return _entry_page(run(_draft))


@bp.post("/cours/referentiels/saisir")
@require_actor(Role.COORDINATEUR)
def referentiel_entry_post() -> ResponseReturnValue:
    who = signed_in()
    values = form()
    draft = draft_from_form(values)
    action = values.get("faire", "enregistrer")
    if action == "bloc":
        draft.add_bloc()
        return _entry_page(draft, focus=f"f-b{len(draft.blocs)}-intitule")
    if found := _ADD_COMPETENCE.fullmatch(action):
        index = int(found.group(1)) - 1
        draft.add_competence(index)
        rows = len(draft.blocs[index].competences) if index < len(draft.blocs) else 0
        return _entry_page(draft, focus=f"f-b{index + 1}-c{rows}-intitule" if rows else None)
    try:
        ref = run(lambda db: manual.save(db, who, draft))
    except manual.DraftRefused as refused:
        filled = Form(errors=refused.errors, general=refused.general or (
            [] if refused.errors else [refused.message]), refused_status=422)
        return _entry_page(draft, status=422, filled=filled)
    except ParcoursError as error:
        if isinstance(error, NotFound | Forbidden):
            raise
        return _entry_page(draft, status=error.status, filled=Form().refuse(error, "version"))
    flash(f"Enregistré : {ref.intitule} ({ref.id}@{ref.version}). "
          "Cochez-le pour le proposer dans ce cours.",
          "ok")
    return redirect(url_for("pages.course_referentiels") + "#proposes", code=303)
