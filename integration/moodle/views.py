"""Pages of the Moodle sync: linking course modules to compétences, and the last runs.

- ``/sync/courses/<course>/modules``: the modules of the Moodle course and their
  compétences (accompagnateur or coordinateur of that course);
- ``/sync/courses/<course>/modules/<cmid>``: choose a module's compétences;
- ``/sync/runs``: the last runs and their errors (coordinateur).

Views only translate HTTP: the work is in ``integration.moodle.mapping``. Every form carries
the session's CSRF token (the same one the API uses) in a hidden field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.moodle import MoodleClient, MoodleError, MoodleFunctionUnavailable
from referentiels import Catalog

from .. import csrf
from ..auth import Actor, require_actor, signed_in
from ..db import transaction
from ..models import Course, Platform, Role, SyncRun, utcnow
from ..parcours.access import ACCOMPAGNATEUR_ROLES, course_followed_by
from ..parcours.catalog import catalog_for
from ..parcours.errors import NotFound
from ..parcours.items import Item, find_item
from ..runtime import current_runtime
from .connection import (
    ClientFactory,
    has_connection,
    moodle_course_id,
    moodle_token,
    page_client_factory,
)
from .mapping import (
    Address,
    ItemIndex,
    MappingInvalid,
    ModuleInfo,
    Offer,
    accept_proposals,
    address_text,
    course_modules,
    course_offer,
    fetch_proposals,
    item_address,
    mappings_by_module,
    parse_address_text,
    proposals_for_module,
    rejected_by_module,
    save_module_mapping,
)
from .plan import LOCAL_TZ

log = logging.getLogger(__name__)

bp = Blueprint("sync", __name__, url_prefix="/sync")

ACCOMPAGNER = ACCOMPAGNATEUR_ROLES
RUNS_SHOWN = 30
# A run still "running" after this long was interrupted (its process died).
STALE_RUN = timedelta(hours=2)


# --------------------------------------------------------------------------- helpers


def _check_csrf() -> None:
    try:
        csrf.check()
    except csrf.CsrfRefused as refused:
        abort(403 if refused.reason == "origin" else 400)




def _course_for(db: Session, actor: Actor, course_id: int) -> Course:
    try:
        return course_followed_by(db, actor, course_id)
    except NotFound:
        abort(404)


@dataclass(frozen=True)
class _Connection:
    url: str
    token: str
    factory: ClientFactory

    def open(self) -> tuple[MoodleClient, requests.Session]:
        from connectors.outbound import OutboundSession

        http = OutboundSession()  # the outbound policy: REPERES_OUTBOUND_ALLOW
        return self.factory(self.url, self.token, http), http


def _connection(platform: Platform) -> _Connection | None:
    if not has_connection(platform):
        return None
    factory = current_runtime().extras.get("moodle_page_client_factory", page_client_factory)
    return _Connection(str(platform.moodle_url), moodle_token(platform), factory)


def _moodle_modules(
    connection: _Connection | None, moodle_id: int | None
) -> tuple[list[ModuleInfo] | None, str]:
    """The Moodle modules, or None and a plain message saying why not."""
    if connection is None:
        return None, (
            "Repères n’est pas relié à Moodle pour ce cours. "
            "Demandez à la personne qui installe Repères de le relier."
        )
    if moodle_id is None:
        return None, "Repères ne connaît pas le numéro de ce cours dans Moodle."
    client, http = connection.open()
    try:
        return course_modules(client, moodle_id), ""
    except MoodleError as exc:
        log.warning("mapping page: Moodle contents of course %s: %s", moodle_id, exc)
        return None, "Moodle ne répond pas. La liste des modules n’est pas à jour."
    finally:
        http.close()


def _module_proposals(
    connection: _Connection, cmid: int, offer: Offer, rejected: set[Address]
) -> tuple[list[Address], str]:
    """Moodle's proposals for one module, without the refused ones, and a note when
    Moodle could not say."""
    client, http = connection.open()
    try:
        items = proposals_for_module(client, cmid, ItemIndex(offer.items), rejected)
    except MoodleFunctionUnavailable:
        return [], ""
    except MoodleError as exc:
        log.info("mapping page: competency links of module %s: %s", cmid, exc)
        return [], "Moodle n’a pas pu dire quelles compétences il relie à ce module."
    finally:
        http.close()
    return [item_address(i) for i in items], ""


def _label(address: Address, items: dict[Address, Item], catalog: Catalog) -> str:
    item = items.get(address)
    if item is None:
        ref = catalog.find(address[0], address[1])
        item = find_item(ref, address[2]) if ref is not None else None
    if item is None:
        return address_text(address)
    return f"{item.code} – {item.falc or item.intitule}"


@dataclass
class _Bloc:
    code: str
    title: str
    choices: list[dict[str, Any]]


@dataclass
class _Group:
    title: str
    blocs: list[_Bloc]


def _choice_groups(
    offer: Offer,
    checked: set[Address],
    proposed: set[Address],
    extra: Iterable[Address],
    catalog: Catalog,
    refused: Iterable[Address] = (),
) -> list[_Group]:
    """The checkboxes: one group per référentiel, one fieldset per bloc."""
    groups: list[_Group] = []
    items_by_address = {item_address(i): i for i in offer.items}
    refused_set = set(refused)
    for ref in offer.referentiels:
        blocs: dict[str, _Bloc] = {}
        for item in (i for i in offer.items if i.referentiel_id == ref.id
                     and i.referentiel_version == ref.version):
            bloc = blocs.setdefault(
                item.bloc_code,
                _Bloc(item.bloc_code, item.bloc_falc or item.bloc_intitule, []),
            )
            address = item_address(item)
            bloc.choices.append(
                {
                    "value": address_text(address),
                    "code": item.code,
                    "text": item.falc or item.intitule,
                    "official": item.intitule if item.falc else "",
                    "checked": address in checked,
                    "proposed": address in proposed,
                    "refused": address in refused_set and address not in checked,
                }
            )
        groups.append(_Group(f"{ref.intitule} ({ref.id}, version {ref.version})",
                             list(blocs.values())))
    others = [a for a in extra if a not in items_by_address]
    if others:
        groups.append(
            _Group(
                "Compétences d’un référentiel qui n’est plus proposé dans ce cours",
                [
                    _Bloc(
                        "",
                        "Décochez pour retirer",
                        [
                            {
                                "value": address_text(a),
                                "code": a[2],
                                "text": _label(a, items_by_address, catalog),
                                "official": "",
                                "checked": a in checked,
                                "proposed": False,
                                "refused": False,
                            }
                            for a in others
                        ],
                    )
                ],
            )
        )
    return groups


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(LOCAL_TZ).strftime("%d/%m/%Y à %H:%M")


# --------------------------------------------------------------------------- pages


@bp.get("/")
@require_actor(*ACCOMPAGNER)
def start() -> ResponseReturnValue:
    actor = signed_in()
    return redirect(url_for("sync.modules", course_id=actor.course_id), code=303)


@bp.get("/courses/<int:course_id>/modules")
@require_actor(*ACCOMPAGNER)
def modules(course_id: int) -> ResponseReturnValue:
    actor = signed_in()
    runtime = current_runtime()
    with runtime.sessions() as db:
        course = _course_for(db, actor, course_id)
        catalog = catalog_for(db, actor)
        offer = course_offer(course, catalog)
        stored = mappings_by_module(db, course.id)
        rejected = rejected_by_module(db, course.id)
        connection = _connection(course.platform)
        moodle_id = moodle_course_id(course)
        title = course.title or course.label or f"Cours {course.id}"
    found, problem = _moodle_modules(connection, moodle_id)
    items_by_address = {item_address(i): i for i in offer.items}
    proposals = None
    if found and connection is not None and offer.items:
        unmapped = [m.cmid for m in found if m.cmid not in stored and m.tracks_completion]
        proposals = fetch_proposals(
            connection.open, unmapped, ItemIndex(offer.items), rejected=rejected
        )
    rows = []
    for module in found or []:
        links = stored.get(module.cmid, [])
        proposed = proposals.for_module(module.cmid) if proposals else []
        rows.append(
            {
                "module": module,
                "labels": [
                    _label(
                        (r.referentiel_id, r.referentiel_version, r.competence_code),
                        items_by_address, catalog,
                    )
                    for r in links
                ],
                "proposed": [f"{i.code} – {i.falc or i.intitule}" for i in proposed],
            }
        )
    known = {m.cmid for m in found or []}
    gone = [
        {
            "cmid": cmid,
            "name": links[0].module_name or f"Module {cmid}",
            "labels": [
                _label((r.referentiel_id, r.referentiel_version, r.competence_code),
                       items_by_address, catalog)
                for r in links
            ],
        }
        for cmid, links in stored.items()
        if cmid not in known
    ]
    return render_template(
        "sync/modules.html",
        course_id=course_id,
        title=title,
        rows=rows,
        gone=gone,
        problem=problem,
        moodle_listed=found is not None,
        offer=offer,
        proposals_count=sum(1 for r in rows if r["proposed"]),
        proposals_unavailable=proposals is not None and not proposals.available,
        csrf=csrf.csrf_token(),
    )


@bp.post("/courses/<int:course_id>/proposals")
@require_actor(*ACCOMPAGNER)
def accept_all(course_id: int) -> ResponseReturnValue:
    _check_csrf()
    actor = signed_in()
    runtime = current_runtime()
    with runtime.sessions() as db:
        course = _course_for(db, actor, course_id)
        offer = course_offer(course, catalog_for(db, actor))
        stored = mappings_by_module(db, course.id)
        rejected = rejected_by_module(db, course.id)
        connection = _connection(course.platform)
        moodle_id = moodle_course_id(course)
    found, problem = _moodle_modules(connection, moodle_id)
    if found is None or connection is None:
        flash(problem, "error")
        return redirect(url_for("sync.modules", course_id=course_id), code=303)
    # Read again from Moodle: what the page showed may be old, and forms can lie.
    unmapped = [m.cmid for m in found if m.cmid not in stored and m.tracks_completion]
    proposals = fetch_proposals(
        connection.open, unmapped, ItemIndex(offer.items), rejected=rejected
    )
    with transaction(runtime.sessions) as db:
        done = accept_proposals(
            db,
            course_id=course_id,
            proposals=proposals.by_cmid,
            module_names={m.cmid: m.name for m in found},
            allowed=[item_address(i) for i in offer.items],
            person_id=actor.person_id,
        )
    if done:
        flash(f"C’est enregistré : {len(done)} module(s) relié(s) à leurs compétences.", "ok")
    else:
        flash("Il n’y avait rien à accepter.", "ok")
    return redirect(url_for("sync.modules", course_id=course_id), code=303)


@bp.route("/courses/<int:course_id>/modules/<int:cmid>", methods=["GET", "POST"])
@require_actor(*ACCOMPAGNER)
def module(course_id: int, cmid: int) -> ResponseReturnValue:
    if request.method == "POST":
        _check_csrf()
    actor = signed_in()
    runtime = current_runtime()
    with runtime.sessions() as db:
        course = _course_for(db, actor, course_id)
        catalog = catalog_for(db, actor)
        offer = course_offer(course, catalog)
        rows = mappings_by_module(db, course.id).get(cmid, [])
        current = [(r.referentiel_id, r.referentiel_version, r.competence_code) for r in rows]
        stored_name = next((r.module_name for r in rows if r.module_name), "")
        rejected = rejected_by_module(db, course.id).get(cmid, set())
        connection = _connection(course.platform)
        moodle_id = moodle_course_id(course)
    found, problem = _moodle_modules(connection, moodle_id)
    info = next((m for m in found or [] if m.cmid == cmid), None)
    if info is None and found is not None:
        abort(404)  # not a module of this Moodle course
    if info is None and not current:
        abort(503)  # Moodle cannot say whether it is, and nothing is stored
    name = info.name if info is not None else stored_name or f"Module {cmid}"
    allowed = [item_address(i) for i in offer.items] + current
    chosen: list[Address] = []
    if request.method == "POST":
        parsed = [parse_address_text(t) for t in request.form.getlist("competence")]
        if any(p is None for p in parsed):
            abort(400)
        chosen = [p for p in parsed if p is not None]

    # Moodle's proposals: shown for a module without links; read again when saving
    # (whatever the page showed) so that those left unticked are remembered as refused.
    proposed: list[Address] = []
    proposals_note = ""
    if (
        (request.method == "POST" or not current)
        and connection is not None
        and info is not None
        and offer.items
    ):
        proposed, proposals_note = _module_proposals(connection, cmid, offer, rejected)

    error = ""
    if request.method == "POST":
        try:
            with transaction(runtime.sessions) as db:
                change = save_module_mapping(
                    db,
                    course_id=course_id,
                    cmid=cmid,
                    module_name=name,
                    chosen=chosen,
                    allowed=allowed,
                    person_id=actor.person_id,
                    proposed=proposed,
                )
        except MappingInvalid as exc:
            error = str(exc)
        else:
            if change.changed:
                flash(f"C’est enregistré : « {name} » a {len(chosen)} compétence(s).", "ok")
            else:
                flash(f"Rien n’a changé pour « {name} ».", "ok")
            return redirect(url_for("sync.modules", course_id=course_id), code=303)

    if current:
        proposed = []  # the page proposes only for a module without links
    checked = set(chosen) if request.method == "POST" else set(current or proposed)
    return render_template(
        "sync/module.html",
        course_id=course_id,
        cmid=cmid,
        name=name,
        info=info,
        groups=_choice_groups(offer, checked, set(proposed), current, catalog, rejected),
        has_proposals=bool(proposed) and not current,
        proposals_note=proposals_note,
        problem=problem,
        error=error,
        offer=offer,
        csrf=csrf.csrf_token(),
    ), (422 if error else 200)


TRIGGERS = {"cli": "commande", "timer": "automatique", "launch": "à l’ouverture de Repères"}
STATES = {
    "ok": ("✅", "terminée, sans erreur"),
    "partial": ("⚠️", "terminée, avec des erreurs"),
    "failed": ("❌", "échec"),
    "running": ("⏳", "en cours"),
    "interrupted": ("⛔", "interrompue"),
}


@bp.get("/runs")
@require_actor(Role.COORDINATEUR)
def runs() -> ResponseReturnValue:
    actor = signed_in()
    runtime = current_runtime()
    with runtime.sessions() as db:
        found = list(
            db.scalars(
                select(SyncRun)
                .where(SyncRun.platform_id == actor.platform_id)
                .order_by(SyncRun.id.desc())
                .limit(RUNS_SHOWN)
            )
        )
    now = utcnow()
    shown = []
    for run in found:
        state = run.state
        if state == "running" and run.started_at and now - run.started_at > STALE_RUN:
            state = "interrupted"
        icon, words = STATES.get(state, ("•", state))
        shown.append(
            {
                "id": run.id,
                "started": _local(run.started_at),
                "finished": _local(run.finished_at),
                "trigger": TRIGGERS.get(run.trigger, run.trigger),
                "icon": icon,
                "state": words,
                "summary": run.summary or {},
                "errors": list(run.errors or []),
            }
        )
    return render_template("sync/runs.html", runs=shown, course_id=actor.course_id)
