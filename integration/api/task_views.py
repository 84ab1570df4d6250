"""API views: tasks, their tags and the compétences suggested for them."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from .. import parcours as services
from ..auth import signed_in
from ..parcours.errors import Invalid
from .common import (
    bp,
    catalog,
    etag_for,
    expected_version,
    int_arg,
    json_body,
    read,
    str_field,
    versioned,
    write,
)
from .serialize import proposal_json, tag_json, task_json


def _task_response(body: dict[str, Any], status: int = 200) -> ResponseReturnValue:
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = etag_for(body["version"])
    return response


def _task_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "version"}


@bp.get("/parcours/<int:parcours_id>/tasks")
def tasks_list(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    deleted = request.args.get("deleted", "") in ("1", "true", "yes")
    return jsonify(tasks=read(lambda db: [
        task_json(t) for t in services.list_tasks(db, who, parcours_id, deleted=deleted)
    ]))


@bp.post("/parcours/<int:parcours_id>/tasks")
def tasks_create(parcours_id: int) -> ResponseReturnValue:
    who = signed_in()
    data = json_body()
    body = write(lambda db: task_json(
        services.create_task(db, who, parcours_id, _task_fields(data))))
    response = _task_response(body, 201)
    response.headers["Location"] = f"/api/v1/tasks/{body['id']}"  # type: ignore[union-attr]
    return response


@bp.get("/tasks/<int:task_id>")
def task_detail(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    return _task_response(read(lambda db: task_json(services.get_task(db, who, task_id))))


@bp.patch("/tasks/<int:task_id>")
def task_update(task_id: int) -> ResponseReturnValue:
    """Change some fields; the version read must be sent (If-Match or `version`)."""
    who = signed_in()
    data = json_body()
    version, from_header = expected_version(data, required=True)
    fields = _task_fields(data)

    def run(db: Session) -> dict[str, Any]:
        return task_json(services.update_task(db, who, task_id, fields,
                                              expected_version=version))

    return _task_response(versioned(lambda: write(run), from_header))


@bp.delete("/tasks/<int:task_id>")
def task_delete(task_id: int) -> ResponseReturnValue:
    """Hide a task (restore brings it back)."""
    who = signed_in()
    version, from_header = expected_version(None)

    def run(db: Session) -> dict[str, Any]:
        return task_json(services.delete_task(db, who, task_id, expected_version=version),
                         detail=False)

    return _task_response(versioned(lambda: write(run), from_header))


@bp.post("/tasks/<int:task_id>/restore")
def task_restore(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    return _task_response(write(lambda db: task_json(services.restore_task(db, who, task_id))))


# --- tags -------------------------------------------------------------------------------------


@bp.get("/tasks/<int:task_id>/tags")
def tags_list(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    return jsonify(tags=read(lambda db: [tag_json(t)
                                         for t in services.list_tags(db, who, task_id)]))


def _address(data: dict[str, Any]) -> tuple[str, str | None, str]:
    """(référentiel, version, code) from `address` (ID@VERSION#CODE) or from three fields."""
    address = data.get("address")
    if address is not None:
        if not isinstance(address, str) or "#" not in address or len(address) > 300:
            raise Invalid("L’adresse s’écrit RÉFÉRENTIEL@VERSION#CODE.", field="address")
        head, _, code = address.partition("#")
        ref_id, _, version = head.partition("@")
        return ref_id, version or None, code
    return (
        str_field(data, "referentiel_id") or "",
        str_field(data, "referentiel_version", required=False),
        str_field(data, "competence_code") or "",
    )


@bp.post("/tasks/<int:task_id>/tags")
def tags_add(task_id: int) -> ResponseReturnValue:
    """Link the task to a compétence (again: keeps one link, updates the comment)."""
    who = signed_in()
    data = json_body()
    ref_id, version, code = _address(data)

    def run(db: Session) -> tuple[dict[str, Any], bool]:
        tag, created = services.add_tag(
            db, who, task_id, referentiel_id=ref_id, referentiel_version=version,
            competence_code=code, comment=data.get("comment"), catalog=catalog(db, who),
        )
        return tag_json(tag), created

    body, created = write(run)
    return jsonify(body), 201 if created else 200


@bp.patch("/tags/<int:tag_id>")
def tag_update(tag_id: int) -> ResponseReturnValue:
    """Change the comment of a link."""
    who = signed_in()
    data = json_body()
    if "comment" not in data:
        raise Invalid("Il manque « comment ».", field="comment")

    return jsonify(write(lambda db: tag_json(
        services.update_tag_comment(db, who, tag_id, data["comment"]))))


@bp.delete("/tags/<int:tag_id>")
def tag_delete(tag_id: int) -> ResponseReturnValue:
    who = signed_in()
    write(lambda db: services.remove_tag(db, who, tag_id))
    return "", 204


@bp.get("/tasks/<int:task_id>/suggestions")
def task_suggestions(task_id: int) -> ResponseReturnValue:
    who = signed_in()
    limit = int_arg("limit", 5, high=20)
    return jsonify(suggestions=read(lambda db: [
        proposal_json(p)
        for p in services.suggest_for_task(db, who, task_id, catalog=catalog(db, who), limit=limit)
    ]))
