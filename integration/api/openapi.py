"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Written here by hand, next to the views; a test checks that every route of the
blueprint is described and that the document is valid, so none can be forgotten.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from .common import bp

JSON = "application/json"
PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
DATE = _nullable("string", format="date")
DATETIME = {"type": "string", "format": "date-time"}
NDATETIME = _nullable("string", format="date-time")
PERSON = _obj({"id": INT, "name": STR})

SCHEMAS: dict[str, Any] = {
    "Problem": _obj(
        {"type": STR, "title": STR, "status": INT, "detail": STR, "field": STR,
         "current_version": INT, "reason": STR},
        ["title", "status"],
        description="RFC 9457 problem; `detail` says in plain French what to do.",
    ),
    "Actor": _obj(
        {"person_id": INT, "platform_id": INT, "course_id": INT,
         "role": {"enum": ["candidat", "accompagnateur", "coordinateur"]}},
        ["person_id", "platform_id", "course_id", "role"],
    ),
    "Session": _obj({"actor": _ref("Actor"), "csrf_token": STR}, ["actor", "csrf_token"]),
    "Me": _obj(
        {"person_id": INT, "platform_id": INT, "course_id": INT, "role": STR,
         "person": {"oneOf": [PERSON, {"type": "null"}]},
         "course": {"oneOf": [_obj({"id": INT, "title": STR}), {"type": "null"}]}},
    ),
    "ReferentielSummary": _obj(
        {"id": STR, "version": STR, "intitule": STR, "rncp": _nullable("string"),
         "certificateur": STR, "niveau": STR,
         "status": {"enum": ["en_vigueur", "historique"]}, "complete": BOOL,
         "missing": {"type": "array", "items": STR}, "echeance": DATE,
         "active": _nullable("boolean"), "expired": BOOL,
         "successors": {"type": "array", "items": STR}},
        ["id", "version", "intitule"],
    ),
    "Item": _obj(
        {"address": STR, "referentiel_id": STR, "referentiel_version": STR, "code": STR,
         "kind": {"enum": ["competence", "bloc"]}, "intitule": STR,
         "falc": _nullable("string"), "picto": _nullable("string"),
         "bloc": _obj({"code": STR, "intitule": STR, "falc": _nullable("string")})},
        ["address", "code", "intitule"],
    ),
    "Referentiel": {
        "allOf": [
            _ref("ReferentielSummary"),
            _obj({"blocs": {"type": "array", "items": {"type": "object"}},
                  "items": {"type": "array", "items": _ref("Item")}}),
        ]
    },
    "ParcoursSummary": _obj(
        {"id": INT, "person": PERSON, "course": _obj({"id": INT, "title": STR}),
         "modalite": {"enum": ["concret", "abstrait", "transfert", None]},
         "status": {"enum": ["en_preparation", "pret_pour_le_jury", "presente", "reconnu"]},
         "jury_date": DATE,
         "referentiels": {"type": "array", "items": _obj({"id": STR, "version": STR})},
         "accompagnateurs": {"type": "array", "items": PERSON},
         "version": INT, "created_at": DATETIME, "updated_at": DATETIME},
        ["id", "status", "version"],
    ),
    "Parcours": {
        "allOf": [_ref("ParcoursSummary"), _obj({"projet": STR, "task_count": INT})]
    },
    "TaskFields": _obj(
        {"title": {"type": "string", "maxLength": 300},
         "description": {"type": "string", "maxLength": 10000},
         "where": {"type": "string", "maxLength": 300},
         "how": {"type": "string", "maxLength": 10000},
         "tools": {"type": "string", "maxLength": 5000},
         "frequency": {"type": "string", "maxLength": 100},
         "started_on": DATE, "ended_on": DATE,
         "source": {"enum": ["workplace", "coursework"]},
         "out_of_dossier": {"type": "boolean", "description":
                            "« Ne pas mettre dans le dossier »: the candidat only (403 for "
                            "others); false by default."}},
        description="Control characters are removed; texts over the limit are refused (422).",
    ),
    "TaskInput": {"allOf": [_ref("TaskFields"), {"required": ["title"]}]},
    "TaskPatch": {"allOf": [_ref("TaskFields"), _obj({"version": INT})]},
    "Tag": _obj(
        {"id": INT, "task_id": INT, "referentiel_id": STR, "referentiel_version": STR,
         "competence_code": STR, "address": STR, "comment": STR, "created_by": _nullable(
             "integer"), "created_at": DATETIME, "updated_at": DATETIME},
        ["id", "task_id", "address"],
    ),
    "TagInput": _obj(
        {"address": {"type": "string", "description": "ID@VERSION#CODE"},
         "referentiel_id": STR, "referentiel_version": STR, "competence_code": STR,
         "comment": {"type": "string", "maxLength": 5000}},
        description="Either `address`, or `referentiel_id` and `competence_code` "
        "(the version defaults to the one chosen for the parcours).",
    ),
    "Evidence": _obj(
        {"id": INT, "task_id": INT, "kind": {"enum": ["photo", "pdf", "moodle"]},
         "content_type": STR, "size": INT, "sha256": STR,
         "width": _nullable("integer"), "height": _nullable("integer"),
         "original_name": STR, "caption": STR, "created_by": _nullable("integer"),
         "created_at": DATETIME, "deleted_at": NDATETIME,
         "links": _obj({"full": _nullable("string"), "medium": _nullable("string"),
                        "preview": _nullable("string")},
                       ["full", "medium", "preview"],
                       description="Where to get each variant of the file; null when "
                       "there is none (all three for `moodle` evidence, which has no file).")},
        ["id", "task_id", "kind", "links"],
    ),
    "Task": {
        "allOf": [
            _ref("TaskFields"),
            _obj({"id": INT, "parcours_id": INT, "version": INT,
                  "source": {"enum": ["workplace", "coursework", "moodle"]},
                  "moodle_cmid": _nullable(
                      "integer", description="The Moodle course module of a `moodle` task."),
                  "moodle_completed": _nullable(
                      "boolean", description="For a `moodle` task: false when Moodle no "
                      "longer counts the module as completed (the task is kept)."),
                  "moodle_completed_at": _nullable(
                      "string", format="date-time",
                      description="For a `moodle` task: when Moodle says it was completed."),
                  "created_by": _nullable("integer"), "created_at": DATETIME,
                  "updated_at": DATETIME, "deleted_at": NDATETIME,
                  "tags": {"type": "array", "items": _ref("Tag")},
                  "evidence": {"type": "array", "items": _ref("Evidence")}},
                 ["id", "parcours_id", "version"]),
        ]
    },
    "Review": _obj(
        {"id": INT, "parcours_id": INT, "referentiel_id": STR, "referentiel_version": STR,
         "competence_code": STR, "verdict": {"enum": ["oui", "non", "partiellement"]},
         "comment": STR, "reviewer": _obj({"id": _nullable("integer"), "name": STR}),
         "created_at": DATETIME},
        ["id", "verdict", "reviewer", "created_at"],
    ),
    "ReviewInput": _obj(
        {"referentiel_id": STR, "referentiel_version": STR, "competence_code": STR,
         "verdict": {"enum": ["oui", "non", "partiellement"]},
         "comment": {"type": "string", "maxLength": 5000}},
        ["referentiel_id", "competence_code", "verdict"],
    ),
    "Proposal": {
        "allOf": [_ref("Item"), _obj({"score": {"type": "number"}, "already_tagged": BOOL})]
    },
    "HistoryEntry": _obj(
        {"id": INT, "action": STR, "detail": {"type": "object"},
         "actor": _obj({"id": _nullable("integer"), "name": STR}), "at": DATETIME},
        ["id", "action", "at"],
    ),
    "Coverage": _obj(
        {"parcours_id": INT, "tags_elsewhere": INT, "activity_count": INT,
         "untagged_task_ids": {"type": "array", "items": INT},
         "last_activity_at": _nullable("string", format="date-time"),
         "referentiels": {"type": "array", "items": _obj({
             "referentiel_id": STR, "referentiel_version": STR, "intitule": STR,
             "complete": BOOL,
             "totals": _obj({k: INT for k in ("items", "with_tasks", "with_evidence",
                                               "reviewed", "oui", "partiellement", "non")}),
             "blocs": {"type": "array", "items": _obj({
                 "code": STR, "intitule": STR, "falc": _nullable("string"),
                 "recognised": _nullable("boolean"),
                 "items": {"type": "array", "items": _obj({
                     "code": STR, "intitule": STR, "kind": STR,
                     "task_ids": {"type": "array", "items": INT},
                     "activity_count": INT,
                     "own_task_ids": {"type": "array", "items": INT},
                     "module_task_ids": {"type": "array", "items": INT},
                     "file_count": INT,
                     "evidence_count": {"type": "integer",
                                        "description": "files and completed Moodle modules"},
                     "recognised": _nullable("boolean"),
                     "review": {"oneOf": [{"type": "null"}, _obj({
                         "verdict": STR, "comment": STR, "reviewer_name": STR,
                         "reviewer_id": _nullable("integer"), "at": DATETIME})]},
                 })},
             })},
         })}},
    ),
    "Comment": _obj(
        {"id": INT, "task_id": INT, "parcours_id": INT, "comment": STR,
         "author": _obj({"id": _nullable("integer"), "name": STR}), "created_at": DATETIME},
        ["id", "task_id", "comment", "author", "created_at"],
        description="An accompagnateur's words on one activity (its candidat reads them).",
    ),
    "TagProposal": _obj(
        {"id": INT, "task_id": INT, "referentiel_id": STR, "referentiel_version": STR,
         "competence_code": STR, "address": STR,
         "proposed_by": _obj({"id": _nullable("integer"), "name": STR}),
         "status": {"enum": ["pending", "accepted", "declined"]},
         "created_at": DATETIME, "decided_at": NDATETIME},
        ["id", "task_id", "address", "status"],
        description="A compétence an accompagnateur proposes for an activity; the candidat "
        "accepts it (the link is made, as theirs) or declines it.",
    ),
    "Recognition": _obj(
        {"referentiel_id": STR, "referentiel_version": STR,
         "code": {"type": "string", "description": "a bloc or a compétence code"},
         "recognised": BOOL, "note": STR},
        ["referentiel_id", "referentiel_version", "code"],
    ),
}

_ERRORS = {
    "400": "Unreadable request",
    "401": "No launch: open Repères from the course",
    "403": ("Role not allowed (only the candidat changes their own tasks, evidence, links "
            "and projet, and answers proposed compétences; an accompagnateur reviews, comments and "
            "proposes), or a write without the CSRF token / "
            "from another origin"),
    "404": "Does not exist, or not visible to this person (never told apart)",
    "409": "The state does not allow it, or someone saved a newer version",
    "412": "If-Match names an older version",
    "413": "File over 25 MB",
    "415": "Not JSON (or not multipart), or a file type that is not accepted",
    "422": "An input is missing or wrong (`field` says which)",
    "428": "The version read must be sent",
    "503": "The file store is not available",
}


def _problems(*codes: str) -> dict[str, Any]:
    return {
        code: {"description": _ERRORS[code], "content": {PROBLEM: {"schema": _ref("Problem")}}}
        for code in codes
    }


def _ok(schema: dict[str, Any], code: str = "200", description: str = "OK",
        headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return {code: response}


def _list_of(key: str, item: str) -> dict[str, Any]:
    return _obj({key: {"type": "array", "items": _ref(item)}}, [key])


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _path_param(name: str, kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
            "schema": {"type": "string"}, "description": 'The version read, e.g. "3".'}
ETAG = {"ETag": {"schema": {"type": "string"}, "description": "The version, quoted."}}
READ = ("401", "404")
WRITE = ("400", "401", "403", "404", "415", "422")


def _op(summary: str, op_id: str, responses: dict[str, Any], *, tag: str,
        parameters: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
        write: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "operationId": op_id, "tags": [tag],
                          "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    if write:
        op["security"] = [{"session": [], "csrf": []}]
    return op


def _paths() -> dict[str, Any]:
    pid = [_path_param("parcours_id")]
    tid = [_path_param("task_id")]
    eid = [_path_param("evidence_id")]
    gid = [_path_param("tag_id")]
    qid = [_path_param("proposal_id")]

    def change(summary: str, op_id: str, props: dict[str, Any], required: list[str]) -> Any:
        return {"put": _op(
            summary, op_id,
            {**_ok(_ref("Parcours"), headers=ETAG), **_problems(*WRITE, "409", "412")},
            tag="parcours", parameters=[*pid, IF_MATCH],
            body=_body(_obj({**props, "version": INT}, required)), write=True,
        )}

    return {
        "/session": {"get": _op("The actor and the CSRF token for writes", "getSession",
                                {**_ok(_ref("Session")), **_problems("401")}, tag="session")},
        "/me": {"get": _op("Who is acting, in which course", "getMe",
                           {**_ok(_ref("Me")), **_problems("401")}, tag="session")},
        "/openapi.json": {"get": {"summary": "This document", "operationId": "getOpenApi",
                                  "tags": ["session"], "security": [],
                                  "responses": _ok({"type": "object"})}},
        "/referentiels": {"get": _op(
            "Référentiels known here (shipped and imported)", "listReferentiels",
            {**_ok(_list_of("referentiels", "ReferentielSummary")), **_problems("401")},
            tag="referentiels")},
        "/referentiels/{ref_id}/{version}": {"get": _op(
            "One référentiel version with its taggable items", "getReferentiel",
            {**_ok(_ref("Referentiel")), **_problems(*READ)}, tag="referentiels",
            parameters=[_path_param("ref_id", "string"), _path_param("version", "string")])},
        "/parcours": {"get": _op(
            "Parcours of a course (the launch's course by default)", "listParcours",
            {**_ok(_list_of("parcours", "ParcoursSummary")), **_problems("401")},
            tag="parcours",
            parameters=[{"name": "course_id", "in": "query", "required": False,
                         "schema": INT}])},
        "/parcours/mine": {"get": _op(
            "The candidat's own parcours in this course (made on first visit)", "getMyParcours",
            {**_ok(_ref("Parcours")), **_problems("401", "403", "404")}, tag="parcours")},
        "/parcours/{parcours_id}": {"get": _op(
            "One parcours", "getParcours", {**_ok(_ref("Parcours")), **_problems(*READ)},
            tag="parcours", parameters=pid)},
        "/parcours/{parcours_id}/modalite": change(
            "Choose the modalité", "setModalite",
            {"modalite": {"enum": ["concret", "abstrait", "transfert", None]}}, ["modalite"]),
        "/parcours/{parcours_id}/referentiels": change(
            "Choose the référentiel(s), each in one version", "setReferentiels",
            {"referentiels": {"type": "array", "maxItems": 5, "items": {"oneOf": [
                {"type": "string", "description": "ID or ID@VERSION"},
                _obj({"id": STR, "version": STR}, ["id"])]}}}, ["referentiels"]),
        "/parcours/{parcours_id}/projet": change(
            "What the person wants to do next (the candidat)", "setProjet",
            {"projet": {"type": "string", "maxLength": 10000}}, ["projet"]),
        "/parcours/{parcours_id}/jury-date": change(
            "The date of the jury (accompagnateur)", "setJuryDate", {"jury_date": DATE},
            ["jury_date"]),
        "/parcours/{parcours_id}/accompagnateurs": change(
            "Who follows the parcours (accompagnateur)", "setAccompagnateurs",
            {"person_ids": {"type": "array", "items": INT}}, ["person_ids"]),
        "/parcours/{parcours_id}/status": change(
            "Next step, in order, or back to en_preparation (accompagnateur)", "setStatus",
            {"status": {"enum": ["en_preparation", "pret_pour_le_jury", "presente",
                                 "reconnu"]},
             "jury_date": DATE,
             "confirme": {"type": "boolean", "description":
                          "true to go to the jury with blocs that show nothing yet"},
             "recognitions": {"type": "array", "items": _ref("Recognition")}}, ["status"]),
        "/parcours/{parcours_id}/tasks": {
            "get": _op("Tasks of the parcours", "listTasks",
                       {**_ok(_list_of("tasks", "Task")), **_problems(*READ)}, tag="tasks",
                       parameters=[*pid, {"name": "deleted", "in": "query", "required": False,
                                          "schema": BOOL}]),
            "post": _op("Write a new task", "createTask",
                        {**_ok(_ref("Task"), "201", "Created", ETAG), **_problems(*WRITE)},
                        tag="tasks", parameters=pid, body=_body(_ref("TaskInput")), write=True),
        },
        "/parcours/{parcours_id}/suggestions": {"post": _op(
            "Compétences for words being typed", "suggestForText",
            {**_ok(_list_of("suggestions", "Proposal")), **_problems(*WRITE)},
            tag="suggestions", parameters=pid,
            body=_body(_obj({"text": {"type": "string", "maxLength": 10000},
                             "limit": {"type": "integer", "minimum": 1, "maximum": 20}},
                            ["text"])), write=True)},
        "/parcours/{parcours_id}/reviews": {
            "get": _op("Reviews, newest first (latest=true: one per compétence)", "listReviews",
                       {**_ok(_list_of("reviews", "Review")), **_problems(*READ)},
                       tag="reviews",
                       parameters=[*pid, {"name": "latest", "in": "query", "required": False,
                                          "schema": BOOL}]),
            "post": _op("Review a compétence (accompagnateur)", "addReview",
                        {**_ok(_ref("Review"), "201", "Created"), **_problems(*WRITE)},
                        tag="reviews", parameters=pid, body=_body(_ref("ReviewInput")),
                        write=True),
        },
        "/parcours/{parcours_id}/coverage": {"get": _op(
            "Which compétences have tasks, evidence, a review", "getCoverage",
            {**_ok(_ref("Coverage")), **_problems(*READ)}, tag="parcours", parameters=pid)},
        "/parcours/{parcours_id}/history": {"get": _op(
            "What changed, newest first", "getHistory",
            {**_ok(_list_of("history", "HistoryEntry")), **_problems(*READ)}, tag="parcours",
            parameters=[*pid,
                        {"name": "limit", "in": "query", "required": False, "schema": INT},
                        {"name": "before", "in": "query", "required": False, "schema": INT}])},
        "/tasks/{task_id}": {
            "get": _op("One task with its tags and evidence", "getTask",
                       {**_ok(_ref("Task"), headers=ETAG), **_problems(*READ)}, tag="tasks",
                       parameters=tid),
            "patch": _op("Change a task (the candidat; send the version read)", "updateTask",
                         {**_ok(_ref("Task"), headers=ETAG),
                          **_problems(*WRITE, "409", "412", "428")},
                         tag="tasks", parameters=[*tid, IF_MATCH],
                         body=_body(_ref("TaskPatch")), write=True),
            "delete": _op("Remove a task (it can be restored)", "deleteTask",
                          {**_ok(_ref("Task"), headers=ETAG),
                           **_problems("401", "403", "404", "409", "412")},
                          tag="tasks", parameters=[*tid, IF_MATCH], write=True),
        },
        "/tasks/{task_id}/restore": {"post": _op(
            "Bring back a removed task", "restoreTask",
            {**_ok(_ref("Task"), headers=ETAG), **_problems("401", "403", "404")},
            tag="tasks", parameters=tid, write=True)},
        "/tasks/{task_id}/tags": {
            "get": _op("Compétences linked to the task", "listTags",
                       {**_ok(_list_of("tags", "Tag")), **_problems(*READ)}, tag="tags",
                       parameters=tid),
            "post": _op("Link the task to a compétence, with a comment", "addTag",
                        {**_ok(_ref("Tag"), "201", "Created"),
                         **_ok(_ref("Tag"), "200", "Already linked (comment updated)"),
                         **_problems(*WRITE)},
                        tag="tags", parameters=tid, body=_body(_ref("TagInput")), write=True),
        },
        "/tasks/{task_id}/suggestions": {"get": _op(
            "Compétences the task's words point to", "suggestForTask",
            {**_ok(_list_of("suggestions", "Proposal")), **_problems(*READ)},
            tag="suggestions",
            parameters=[*tid, {"name": "limit", "in": "query", "required": False,
                               "schema": {"type": "integer", "minimum": 1, "maximum": 20}}])},
        "/tags/{tag_id}": {
            "patch": _op("Change the comment of a link", "updateTag",
                         {**_ok(_ref("Tag")), **_problems(*WRITE)}, tag="tags",
                         parameters=gid,
                         body=_body(_obj({"comment": {"type": "string", "maxLength": 5000}},
                                         ["comment"])), write=True),
            "delete": _op("Unlink (the comment stays in the history)", "deleteTag",
                          {"204": {"description": "Removed"},
                           **_problems("401", "403", "404")},
                          tag="tags", parameters=gid, write=True),
        },
        "/tasks/{task_id}/evidence": {
            "get": _op("Evidence of the task", "listEvidence",
                       {**_ok(_list_of("evidence", "Evidence")), **_problems(*READ)},
                       tag="evidence",
                       parameters=[*tid, {"name": "deleted", "in": "query", "required": False,
                                          "schema": BOOL}]),
            "post": _op(
                "Attach a photo (JPEG, PNG, HEIC if readable) or a PDF, 25 MB at most",
                "uploadEvidence",
                {**_ok(_ref("Evidence"), "201", "Created"),
                 **_problems(*WRITE, "413", "503")},
                tag="evidence", parameters=tid, write=True,
                body={"required": True, "content": {"multipart/form-data": {"schema": _obj(
                    {"file": {"type": "string", "contentMediaType": "application/octet-stream"},
                     "caption": {"type": "string", "maxLength": 500}}, ["file"])}}},
            ),
        },
        "/tasks/{task_id}/comments": {
            "get": _op("Comments on the activity, oldest first (its candidat and "
                       "accompagnateurs)", "listComments",
                       {**_ok(_list_of("comments", "Comment")), **_problems(*READ)},
                       tag="feedback", parameters=tid),
            "post": _op("Comment the activity (accompagnateur)", "addComment",
                        {**_ok(_ref("Comment"), "201", "Created"), **_problems(*WRITE)},
                        tag="feedback", parameters=tid,
                        body=_body(_obj({"comment": {"type": "string", "minLength": 1,
                                                     "maxLength": 5000}}, ["comment"])),
                        write=True),
        },
        "/tasks/{task_id}/proposals": {
            "get": _op("Compétences proposed for the activity, oldest first",
                       "listProposals",
                       {**_ok(_list_of("proposals", "TagProposal")), **_problems(*READ)},
                       tag="feedback", parameters=tid),
            "post": _op("Propose a compétence; the candidat will decide (accompagnateur)",
                        "proposeTag",
                        {**_ok(_ref("TagProposal"), "201", "Created"),
                         **_problems(*WRITE, "409")},
                        tag="feedback", parameters=tid,
                        body=_body(_obj(
                            {"address": {"type": "string", "description": "ID@VERSION#CODE"},
                             "referentiel_id": STR, "referentiel_version": STR,
                             "competence_code": STR},
                            description="Either `address`, or `referentiel_id` and "
                            "`competence_code`. 409 when the activity already has it or it "
                            "is already proposed.")),
                        write=True),
        },
        "/proposals/{proposal_id}/accept": {"post": _op(
            "Accept a proposed compétence: the activity is linked to it (the candidat)",
            "acceptProposal",
            {**_ok(_ref("TagProposal")), **_problems("401", "403", "404", "409", "422")},
            tag="feedback", parameters=qid, write=True)},
        "/proposals/{proposal_id}/decline": {"post": _op(
            "Decline a proposed compétence (the candidat)", "declineProposal",
            {**_ok(_ref("TagProposal")), **_problems("401", "403", "404", "409")},
            tag="feedback", parameters=qid, write=True)},
        "/tasks/{task_id}/seen": {"post": _op(
            "Mark the activity as looked at now (accompagnateur; « À regarder »)",
            "markTaskSeen",
            {"204": {"description": "Marked"}, **_problems("401", "403", "404")},
            tag="feedback", parameters=tid, write=True)},
        "/evidence/{evidence_id}": {
            "get": _op("One evidence", "getEvidence",
                       {**_ok(_ref("Evidence")), **_problems(*READ)}, tag="evidence",
                       parameters=eid),
            "patch": _op("Change the caption", "updateEvidence",
                         {**_ok(_ref("Evidence")), **_problems(*WRITE)}, tag="evidence",
                         parameters=eid,
                         body=_body(_obj({"caption": {"type": "string", "maxLength": 500}},
                                         ["caption"])), write=True),
            "delete": _op("Remove (it can be restored; files are kept)", "deleteEvidence",
                          {"204": {"description": "Removed"},
                           **_problems("401", "403", "404")},
                          tag="evidence", parameters=eid, write=True),
        },
        "/evidence/{evidence_id}/restore": {"post": _op(
            "Bring back removed evidence", "restoreEvidence",
            {**_ok(_ref("Evidence")), **_problems("401", "403", "404")},
            tag="evidence", parameters=eid, write=True)},
        "/evidence/{evidence_id}/file": {"get": _op(
            "The file: full (default), medium (1600 px JPEG) or preview (400 px JPEG)",
            "getEvidenceFile",
            {"200": {"description": "The bytes", "content": {
                "image/jpeg": {}, "image/png": {}, "application/pdf": {}}},
             "304": {"description": "Not modified"},
             **_problems("401", "404", "422", "503")},
            tag="evidence",
            parameters=[*eid, {"name": "variant", "in": "query", "required": False,
                               "schema": {"enum": ["full", "medium", "preview"]}}])},
    }


def document() -> dict[str, Any]:
    """The whole description, as a JSON-ready dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Repères API",
            "version": "1.0.0",
            "summary": ("Parcours, tasks, evidence, tags, reviews, suggestions, and the "
                        "accompagnateur's comments and proposed compétences."),
            "description": (
                "Authenticated by the session cookie a launch from the course opens. "
                "Every write (POST, PUT, PATCH, DELETE) sends back the token of "
                "GET /session in the X-CSRF-Token header and comes from the same origin. "
                "Errors are application/problem+json with a plain French `detail`. "
                "What a person may not see answers 404, like what does not exist."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"session": []}],
        "tags": [{"name": n} for n in ("session", "referentiels", "parcours", "tasks", "tags",
                                         "evidence", "reviews", "suggestions",
                                         "feedback")],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "Opened by an LTI launch."},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                         "description": "From GET /session; required on every write."},
            },
        },
    }


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(document())
