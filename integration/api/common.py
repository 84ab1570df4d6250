"""What every API view shares: the blueprint, the actor, transactions, bodies, versions."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import RequestEntityTooLarge

from .. import csrf
from ..auth import signed_in
from ..db import id_from, transaction
from ..errors import problem
from ..parcours.catalog import catalog_for
from ..parcours.errors import Conflict, Invalid, ParcoursError, StaleVersion
from ..parcours.text import parse_date
from ..runtime import current_runtime

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

T = TypeVar("T")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A JSON body holds a few short texts: its size and nesting are bounded before it costs much.
MAX_JSON_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
# If-Match names a version: a few digits, optionally quoted and weak.
MAX_IF_MATCH_CHARS = 64
_IF_MATCH = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')
# Paths a request may reach without a launch.
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document"})


class ApiError(Exception):
    """An HTTP-level refusal (401, 403 for CSRF, 412, 415, 428) with a plain message."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


# --- the actor and CSRF ------------------------------------------------------------------




def check_csrf() -> None:
    """Writes must come from our own pages: same origin, and the session's token sent back."""
    try:
        csrf.check(form=False)
    except csrf.CsrfRefused as refused:
        if refused.reason == "origin":
            raise ApiError(
                403, "Demande refusée.", "Cette demande vient d’un autre site.", reason="origin"
            ) from None
        raise ApiError(
            403,
            "Demande refusée.",
            "La page est trop ancienne. Rechargez-la et recommencez.",
            reason="csrf",
        ) from None


@bp.before_request
def _guard() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    signed_in()
    if request.method in UNSAFE_METHODS:
        check_csrf()


@bp.after_request
def _no_store(response):  # type: ignore[no-untyped-def]
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> ResponseReturnValue:
    return problem(error.status, error.title, error.detail, **error.extra)


@bp.errorhandler(ParcoursError)
def _service_error(error: ParcoursError) -> ResponseReturnValue:
    extra = dict(error.extra)
    if error.field:
        extra["field"] = error.field
    return problem(error.status, error.title, error.message, **extra)


# --- database ------------------------------------------------------------------------------


def _retryable(error: OperationalError) -> bool:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in ("40001", "40P01")


def read(fn: Callable[[Session], T]) -> T:
    """Run `fn` in a transaction that changes nothing."""
    with transaction(current_runtime().sessions) as db:
        return fn(db)


def write(fn: Callable[[Session], T], *, retry_stale: bool = True) -> T:
    """Run `fn` and commit. A write that raced another is run again (when `retry_stale`)
    or answered 409: never silently lost."""
    attempts = 3
    for attempt in range(attempts):
        try:
            with transaction(current_runtime().sessions) as db:
                return fn(db)
        except StaleDataError:
            if not retry_stale or attempt == attempts - 1:
                raise StaleVersion(
                    "Quelqu’un a changé cette fiche en même temps. "
                    "Rechargez la page : vos changements ne sont pas enregistrés.",
                    current_version=-1,
                ) from None
        except IntegrityError:
            # Another request wrote the same thing at the same moment: look again once.
            if attempt == attempts - 1:
                raise Conflict(
                    "Quelqu’un a fait la même chose en même temps. Rechargez la page."
                ) from None
        except OperationalError as error:
            if not _retryable(error) or attempt == attempts - 1:
                raise
        log.info("write raced another one; trying again (%d)", attempt + 1)
    raise AssertionError("unreachable")


catalog = catalog_for


# --- request bodies --------------------------------------------------------------------------


def _too_large() -> ApiError:
    return ApiError(
        413,
        "La demande est trop grosse.",
        f"Le JSON envoyé dépasse {MAX_JSON_BYTES // 1024} Ko. Envoyez des textes plus courts.",
    )


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_body() -> dict[str, Any]:
    """The request's JSON object; its size is checked before it is read, its depth after."""
    if not request.is_json:
        raise ApiError(
            415, "Format non accepté.", "Envoyez du JSON (Content-Type: application/json)."
        )
    declared = request.content_length
    if declared is not None and declared > MAX_JSON_BYTES:
        raise _too_large()
    unreadable = ApiError(
        400, "La demande n’est pas correcte.", "Le JSON envoyé n’est pas lisible."
    )
    try:
        # Bounded read, even for a body sent without Content-Length.
        if request.max_content_length is None or request.max_content_length > MAX_JSON_BYTES:
            request.max_content_length = MAX_JSON_BYTES
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large() from None
    if len(raw) > MAX_JSON_BYTES:
        raise _too_large()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise unreadable from None
    if not isinstance(data, dict):
        raise unreadable
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise ApiError(
            400, "La demande n’est pas correcte.", "Le JSON envoyé est trop imbriqué."
        )
    return data


def text_field(data: dict[str, Any], name: str, *, required: bool = True) -> Any:
    if name not in data:
        if required:
            raise Invalid(f"Il manque « {name} ».", field=name)
        return None
    return data[name]


def str_field(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = text_field(data, name, required=required)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise Invalid(f"« {name} » doit être un texte court.", field=name)
    return value


def date_field(data: dict[str, Any], name: str) -> date | None:
    return parse_date(data.get(name), name)


def id_arg(name: str) -> int | None:
    """An optional id in the query string; a clear 422 when it is not one."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    value = id_from(raw)
    if value is None:
        raise Invalid(f"« {name} » doit être un numéro.", field=name)
    return value


def int_arg(name: str, default: int, *, low: int = 1, high: int = 200) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"« {name} » doit être un nombre.", field=name) from None
    return max(low, min(high, value))


# --- versions (optimistic locking) ----------------------------------------------------------


def etag_for(version: int) -> str:
    return f'"{version}"'


def if_match_version() -> int | None:
    """The version named by If-Match (`"3"`, `W/"3"` or `3`), or None without the header."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    # The length is checked first: a 5,000-digit version is refused, never converted.
    match = _IF_MATCH.fullmatch(header.strip()) if len(header) <= MAX_IF_MATCH_CHARS else None
    if match is None:
        raise ApiError(
            412, "Version inconnue.", "L’en-tête If-Match doit porter la version lue, comme \"3\"."
        )
    return int(match.group(1))


def expected_version(
    data: dict[str, Any] | None, *, required: bool = False
) -> tuple[int | None, bool]:
    """(version, from_header): the version the client read, from If-Match or the body."""
    header = if_match_version()
    if header is not None:
        return header, True
    if data is not None and "version" in data:
        value = data["version"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid("« version » doit être un nombre.", field="version")
        return value, False
    if required:
        raise ApiError(
            428,
            "Version manquante.",
            "Envoyez la version lue (en-tête If-Match ou champ « version ») "
            "pour ne pas écraser le travail d’un autre.",
        )
    return None, False


def versioned(fn: Callable[[], T], from_header: bool) -> T:
    """Run `fn`; a stale version is 412 when it came from If-Match, 409 from the body."""
    try:
        return fn()
    except StaleVersion as error:
        if from_header:
            raise ApiError(
                412,
                "Quelqu’un a changé cette fiche en même temps.",
                error.message,
                current_version=error.current_version,
            ) from None
        raise
