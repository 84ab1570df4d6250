"""API views: evidence files (upload, list, download, caption, remove, restore)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from .. import parcours as services
from ..auth import signed_in
from ..parcours.errors import Invalid
from ..parcours.files import MAX_BYTES
from ..runtime import current_runtime
from .common import ApiError, bp, json_body, read, write
from .serialize import evidence_json


@bp.get("/tasks/<int:task_id>/evidence")
def evidence_list(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    deleted = request.args.get("deleted", "") in ("1", "true", "yes")
    return jsonify(evidence=read(lambda db: [
        evidence_json(e) for e in services.list_evidence(db, who, task_id, deleted=deleted)
    ]))


@bp.post("/tasks/<int:task_id>/evidence")
def evidence_upload(task_id: int) -> ResponseReturnValue:
    """Attach a photo or a PDF (multipart/form-data: `file`, optional `caption`)."""
    who = signed_in()
    if request.mimetype != "multipart/form-data":
        raise ApiError(
            415,
            "Format non accepté.",
            "Envoyez le fichier en multipart/form-data (champ « file »).",
        )
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("Choisissez un fichier à envoyer.", field="file")
    data = upload.stream.read(MAX_BYTES + 1)
    caption = request.form.get("caption", "")
    store = current_runtime().store

    def run(db: Session) -> dict[str, Any]:
        evidence = services.attach_evidence(
            db, who, store, task_id, data, filename=upload.filename or "", caption=caption
        )
        return evidence_json(evidence)

    body = write(run)
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/evidence/{body['id']}"
    return response


@bp.get("/evidence/<int:evidence_id>")
def evidence_detail(evidence_id: int) -> ResponseReturnValue:
    who = signed_in()
    return jsonify(read(lambda db: evidence_json(services.get_evidence(db, who, evidence_id))))


@bp.patch("/evidence/<int:evidence_id>")
def evidence_update(evidence_id: int) -> ResponseReturnValue:
    """Change the caption."""
    who = signed_in()
    data = json_body()
    if "caption" not in data:
        raise Invalid("Il manque « caption ».", field="caption")
    return jsonify(write(lambda db: evidence_json(
        services.set_caption(db, who, evidence_id, data["caption"]))))


@bp.delete("/evidence/<int:evidence_id>")
def evidence_delete(evidence_id: int) -> ResponseReturnValue:
    """Hide the evidence (restore brings it back; the files are kept)."""
    who = signed_in()
    write(lambda db: services.delete_evidence(db, who, evidence_id))
    return "", 204


@bp.post("/evidence/<int:evidence_id>/restore")
def evidence_restore(evidence_id: int) -> ResponseReturnValue:
    who = signed_in()
    return jsonify(write(lambda db: evidence_json(
        services.restore_evidence(db, who, evidence_id))))


@bp.get("/evidence/<int:evidence_id>/file")
def evidence_file(evidence_id: int) -> ResponseReturnValue:
    """The file: `variant=full` (default), `medium` (1600 px) or `preview` (400 px)."""
    who = signed_in()
    variant = request.args.get("variant", "full")
    store = current_runtime().store
    found = read(lambda db: services.open_evidence_file(db, who, store, evidence_id, variant))
    etag = f'"{found.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
        "Content-Disposition": (
            f'{"attachment" if found.content_type == "application/pdf" else "inline"}; '
            f'filename="{found.download_name}"'
        ),
    }
    if request.if_none_match.contains(found.etag):
        close = getattr(found.chunks, "close", None)
        if close is not None:
            close()
        return Response(status=304, headers=headers)
    return Response(
        found.chunks, mimetype=found.content_type, headers=headers, direct_passthrough=True
    )
