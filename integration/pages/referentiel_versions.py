"""The coordinateur's page of versions: the parcours of the course whose référentiel is no
longer delivered (or has a newer version), what moving each one would carry over, and the
button that moves it. The rules live in `integration.parcours.migrate_version`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from referentiels import Catalog, Referentiel
from referentiels.lifecycle import expiry_message, successors_in

from ..actor import Actor
from ..auth import require_actor, signed_in
from ..models import Parcours, Role
from ..parcours import migrate_version
from ..parcours.access import visible_parcours
from ..parcours.catalog import catalog_for
from ..parcours.errors import Forbidden, NotFound, ParcoursError
from .course_admin import _course
from .web import bp, form, page, run


@dataclass
class Proposal:
    parcours: Parcours
    old: Referentiel
    expiry: str | None
    plans: list[migrate_version.MovePlan]


def versions_screen(db: Session, who: Actor, catalog: Catalog) -> list[Proposal]:
    """Each parcours of the course that uses a référentiel with a successor held here."""
    course = _course(db, who)
    found: list[Proposal] = []
    every = list(catalog)
    rows = db.scalars(
        visible_parcours(who).where(Parcours.course_id == course.id)
        .options(selectinload(Parcours.referentiels), selectinload(Parcours.person))
        .order_by(Parcours.id)
    )
    for parcours in rows:
        for row in parcours.referentiels:
            old = catalog.find(row.referentiel_id, row.referentiel_version)
            if old is None:
                continue
            successors = successors_in(old, every)
            if not successors:
                continue
            plans = [
                migrate_version.plan_move(db, who, parcours.id, f"{old.id}@{old.version}",
                                          f"{new.id}@{new.version}", catalog=catalog)
                for new in successors
            ]
            found.append(Proposal(parcours, old, expiry_message(old), plans))
    return found


@bp.get("/cours/referentiels/versions")
@require_actor(Role.COORDINATEUR)
def referentiel_versions() -> ResponseReturnValue:
    who = signed_in()
    proposals = run(lambda db: versions_screen(db, who, catalog_for(db, who)))
    return page("pages/referentiel_versions.html", proposals=proposals)


@bp.post("/cours/referentiels/versions")
@require_actor(Role.COORDINATEUR)
def referentiel_versions_move() -> ResponseReturnValue:
    who = signed_in()
    values = form()
    try:
        parcours_id = int(values.get("parcours", ""))
    except ValueError:
        raise NotFound("Ce parcours n’existe pas, ou vous ne pouvez pas le voir.") from None
    old_key, new_key = values.get("ancien", ""), values.get("nouveau", "")

    def _move(db: Session) -> tuple[migrate_version.MovePlan, str]:
        _course(db, who)
        plan = migrate_version.move(db, who, parcours_id, old_key, new_key,
                                    catalog=catalog_for(db, who))
        name = db.scalar(select(Parcours).where(Parcours.id == parcours_id)).person.display_name
        return plan, name

    try:
        plan, name = run(_move)
    except ParcoursError as error:
        if isinstance(error, NotFound | Forbidden):
            raise
        flash(error.message, "error")
        return redirect(url_for("pages.referentiel_versions"), code=303)
    words = (f"C’est fait : le parcours de {name} suit maintenant {plan.new.intitule} "
             f"({plan.new.id}@{plan.new.version}). {plan.carried} lien(s) repris.")
    if plan.left:
        words += (f" {plan.left_tags} lien(s) restent sur l’ancienne version, à revoir : "
                  + " ; ".join(f"{item.code} « {item.intitule} »" for item in plan.left) + ".")
    flash(words, "ok")
    return redirect(url_for("pages.referentiel_versions") + f"#parcours-{parcours_id}",
                    code=303)

