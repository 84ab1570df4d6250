"""The dossier for people: make it (POST) and download it (GET), from the pages.

- ``POST /dossier/<parcours id>``: make a new version (form with the session's CSRF
  token, the one the API and the pages use), then go to its download (303);
- ``GET /dossier/<parcours id>[?version=N]``: the latest version, or version N, as
  ``Dossier de preuves - <Nom Prénom>.docx``.

Who may: exactly who may read the parcours (`integration.parcours.access`): the candidat
in their course, the accompagnateurs of the course, the coordinateur. Others get 404.
The pages include ``dossier/_links.html`` (it reads `dossier_panel`, given here to every
template).
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from .. import csrf
from ..auth import Actor, current_actor, signed_in
from ..db import id_from, transaction
from ..errors import error_page
from ..parcours.access import parcours_for, require_accompagnateur
from ..parcours.errors import ParcoursError
from ..parcours.tasks import update_task
from ..runtime import current_runtime
from . import pdf
from .build import (
    DossierStatus,
    dossier_bytes,
    dossier_status,
    download_name,
    find_dossier,
    generate_dossier,
    person_of,
)
from .folders import DOCX_TYPE, person_name
from .later import publish_soon

log = logging.getLogger(__name__)

bp = Blueprint("dossier", __name__)





def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the real name in RFC 5987 (filename*)."""
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(c for c in fallback if c.isprintable() and c not in '"\\') or "dossier.docx"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@bp.post("/dossier/<int:parcours_id>")
def generate(parcours_id: int) -> ResponseReturnValue:
    """Make a new version of the dossier, then download it."""
    who = signed_in()
    csrf.check()
    runtime = current_runtime()
    # Recorded now, written to the store after the answer: a slow or hanging store never
    # holds the request (the page says « sera copié dès que possible »).
    made = generate_dossier(runtime, who, parcours_id, publish=False)
    publish_soon(runtime, made.dossier_id, made.data)
    return redirect(
        url_for("dossier.download", parcours_id=parcours_id, version=made.version), code=303
    )


@bp.get("/dossier/<int:parcours_id>")
def download(parcours_id: int) -> ResponseReturnValue:
    """The latest dossier (or ?version=N) as a Word file."""
    who = signed_in()
    raw_version = request.args.get("version")
    version = id_from(raw_version)
    if raw_version is not None and version is None:
        abort(404)
    runtime = current_runtime()
    with transaction(runtime.sessions) as db:
        dossier = find_dossier(db, who, parcours_id, version)
        name = download_name(person_name(person_of(db, parcours_id)))
        db.expunge(dossier)
    data = dossier_bytes(runtime.store, dossier)
    response = Response(data, mimetype=DOCX_TYPE)
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.set_etag(dossier.checksum)
    return response


@bp.get("/dossier/<int:parcours_id>/pdf")
def download_pdf(parcours_id: int) -> ResponseReturnValue:
    """The latest dossier (or ?version=N) as PDF, converted once per version (issue 16)."""
    who = signed_in()
    raw_version = request.args.get("version")
    version = id_from(raw_version)
    if (raw_version is not None and version is None) or not pdf.available():
        abort(404)
    runtime = current_runtime()
    with transaction(runtime.sessions) as db:
        dossier = find_dossier(db, who, parcours_id, version)
        name = download_name(person_name(person_of(db, parcours_id)))
        db.expunge(dossier)
    data = pdf.dossier_pdf(runtime.settings.var_dir, parcours_id, dossier.id, dossier.checksum,
                           dossier_bytes(runtime.store, dossier))
    response = Response(data, mimetype=pdf.PDF_TYPE)
    response.headers["Content-Disposition"] = content_disposition(
        name.removesuffix(".docx") + ".pdf")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/dossier/activite/<int:task_id>")
def switch(task_id: int) -> ResponseReturnValue:
    """« Ne pas mettre dans le dossier » / « Remettre dans le dossier »: the candidat only."""
    who = signed_in()
    csrf.check()
    inside = request.form.get("dans_le_dossier", "")
    if inside not in ("0", "1"):
        abort(400)
    runtime = current_runtime()
    with transaction(runtime.sessions) as db:
        update_task(db, who, task_id, {"out_of_dossier": inside == "0"})
    return redirect(url_for("pages.task_view", task_id=task_id), code=303)


@bp.post("/dossier/<int:parcours_id>/annexe")
def annex(parcours_id: int) -> ResponseReturnValue:
    """The accompagnateur adds (or removes) the annex « ce qui reste à montrer »."""
    who = signed_in()
    csrf.check()
    wanted = request.form.get("annexe", "")
    if wanted not in ("0", "1"):
        abort(400)
    runtime = current_runtime()
    with transaction(runtime.sessions) as db:
        parcours = parcours_for(db, who, parcours_id)  # NotFound for anyone else
        require_accompagnateur(who, "Seul l’accompagnateur ajoute cette annexe.")
        parcours.dossier_remaining_annex = wanted == "1"
    return redirect(request.referrer or url_for("dossier.download", parcours_id=parcours_id),
                    code=303)


@bp.errorhandler(ParcoursError)
def _service_error(error: ParcoursError) -> ResponseReturnValue:
    return error_page(error.status, error.message)


@bp.errorhandler(csrf.CsrfRefused)
def _csrf_refused(_error: csrf.CsrfRefused) -> ResponseReturnValue:
    log.info("dossier form refused (CSRF) on %s", request.path)
    return error_page(403, "La page est trop ancienne. Revenez en arrière, rechargez-la "
                           "et recommencez.")


# --- what the pages' template `dossier/_links.html` reads ------------------------------------


def dossier_panel(parcours: Any, actor: Actor | None = None) -> dict[str, Any] | None:
    """The dossier's state for one parcours, for the links template (None: not visible)."""
    who = actor or current_actor()
    parcours_id = getattr(parcours, "id", parcours)
    if who is None or not isinstance(parcours_id, int):
        return None
    runtime = current_runtime()
    in_nextcloud = bool(getattr(runtime.store, "is_nextcloud", False))
    try:
        with transaction(runtime.sessions) as db:
            status: DossierStatus = dossier_status(db, who, parcours_id,
                                                   in_nextcloud=in_nextcloud)
            name = person_name(person_of(db, parcours_id))
    except ParcoursError:
        return None
    return {
        "status": status,
        "mine": who.is_candidat,
        "name": name,
        "csrf_field": csrf.FIELD,
        "csrf_token": csrf.csrf_token(),
        "generate_url": url_for("dossier.generate", parcours_id=parcours_id),
        "download_url": url_for("dossier.download", parcours_id=parcours_id,
                                version=status.version) if status.version else None,
        # Where LibreOffice is installed: the same version as PDF (the Word file stays the
        # editable original).
        "annex": _annex_of(parcours_id) if not who.is_candidat else None,
        "annex_url": url_for("dossier.annex", parcours_id=parcours_id),
        "pdf_url": url_for("dossier.download_pdf", parcours_id=parcours_id,
                           version=status.version)
        if status.version and pdf.available() else None,
    }


def _annex_of(parcours_id: int) -> bool:
    from ..models import Parcours

    with transaction(current_runtime().sessions) as db:
        return bool(db.scalar(select(Parcours.dossier_remaining_annex)
                              .where(Parcours.id == parcours_id)))


@bp.app_context_processor
def _links_context() -> dict[str, Any]:
    return {"dossier_panel": dossier_panel}
