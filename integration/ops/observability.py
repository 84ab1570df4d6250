"""Logs an operator can use: a request id on every line, JSON when configured, no secrets.

Log lines carry ids (person 12, parcours 4), never names, emails, tokens or file contents.
Three layers keep it so:

- our own code logs ids only;
- `configure_logging` keeps the libraries that log data (SQL parameters, URLs with the
  Nextcloud folder of a person) out of the output below WARNING, whatever level the root
  logger has;
- every formatted line goes through `redact`, a last net for what slips through
  (tokens in query strings, JWTs, SQL parameters in exceptions, `RAE/…` folder paths).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# A request id from the proxy is kept when it cannot smuggle anything into a log line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# Libraries that log data at INFO or DEBUG: SQL statements with their parameters
# (names, emails, file bytes), URLs whose path names a person's folder. Their lines below
# these levels never reach Repères' log output, even under `reperes -v`; an operator who
# needs them configures logging himself.
QUIET_LOGGERS = {
    "alembic": logging.WARNING,  # migrations narrate every step at INFO
    "sqlalchemy": logging.WARNING,
    "urllib3": logging.ERROR,  # its retry warnings carry the URL path
    "PIL": logging.WARNING,
    "docxtpl": logging.WARNING,
    "wsgidav": logging.WARNING,
}
# These are not even made (their level is set): SQLAlchemy formats every statement and
# row it logs, which costs, and nothing else needs them.
SILENCED_LOGGERS = ("alembic", "sqlalchemy")


class LibraryFloorFilter(logging.Filter):
    """Drop the lines of QUIET_LOGGERS below their floor (on Repères' handler only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == "werkzeug" and _is_request_line(record):
            # The development server's own line for each request; ours (reperes.access)
            # says the same with the request id, and without the query string.
            return False
        for library, floor in QUIET_LOGGERS.items():
            if name == library or name.startswith(library + "."):
                return record.levelno >= floor
        return True


_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Secrets as name=value (query strings, form bodies, repr of dicts in URLs).
    (
        re.compile(
            r"((?:id_token|access_token|refresh_token|registration_token|client_assertion|"
            r"wstoken|token|password|passwd|secret|state|code|nonce|ticket|invite|"
            r"lti_message_hint|login_hint)=)[^&\s'\"]*",
            re.I,
        ),
        r"\1***",
    ),
    # Authorization headers.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I), r"\1 ***"),
    # Any JWT (id_token, registration token, client assertion): header.payload.signature.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "<jwt>"),
    # Credentials in a URL.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.I), r"\1***@"),
    # A request line's query string: "GET /path?x=y HTTP/1.1" -> "GET /path HTTP/1.1".
    (
        re.compile(
            r"\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|PROPFIND|MKCOL|MOVE|COPY) "
            r"([^\s?\"]*)\?[^\s\"]*"
        ),
        r"\1 \2",
    ),
    # SQLAlchemy errors print the statement's parameters; PostgreSQL its row values.
    (re.compile(r"\[parameters: .*?\](?=\n|$)", re.S), "[parameters: hidden]"),
    (re.compile(r"(Key \([^)\n]*\)=)\([^\n]*?\)(?= |$|\n)"), r"\1(***)"),
    (re.compile(r"(Failing row contains )\([^\n]*\)"), r"\1(***)"),
    # Shared storage: RAE/<course>/<Nom Prénom>/… names the person (dossier/folders.py).
    (re.compile(r"\bRAE/[^'\"\n]*"), "RAE/***"),
    # The same below another top folder (a platform's own): a quoted path of three
    # segments or more, as storage errors quote it, keeps only its first segment.
    (re.compile(r"(['\"])([^'\"/\n]+)/[^'\"/\n]+/[^'\"\n]*\1"), r"\1\2/***\1"),
    # WebDAV addresses: what follows a user's files folder names courses and people.
    (re.compile(r"(/remote\.php/(?:dav/files/[^/\s'\"]+|webdav)/[^/\s'\"]*)/[^\s'\"]+"),
     r"\1/***"),
    # A dossier's file name carries the person's name.
    (re.compile(r"(Dossier de preuves - )[^'\"»\n/]*?(?=\.docx|\s»|['\"\n]|$)"), r"\1***"),
)


def redact(text: str) -> str:
    """`text` without the secrets and personal paths a log line must not carry."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


# Kept in the request's WSGI environ, not in `g`: a request served inside another one
# (the demo platform answers the tool in-process) shares the app context, hence `g`.
_ENVIRON_ID = "reperes.request_id"
_ENVIRON_STARTED = "reperes.started"


def current_request_id() -> str:
    """The id of the request being served, or "-" outside a request."""
    if has_request_context():
        return str(request.environ.get(_ENVIRON_ID, "-"))
    return "-"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class RedactingFormatter(logging.Formatter):
    """Plain text lines, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, pid."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
            "pid": record.process,
        }
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d [%(request_id)s] %(name)s: %(message)s"


def make_formatter(json_lines: bool) -> logging.Formatter:
    return JsonFormatter() if json_lines else RedactingFormatter(TEXT_FORMAT)


def configure_logging(json_lines: bool, level: int = logging.INFO) -> None:
    """Install one handler on the root logger (idempotent) and quiet the chatty libraries."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_reperes", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._reperes = True  # type: ignore[attr-defined]
    handler.addFilter(LibraryFloorFilter())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(make_formatter(json_lines))
    root.addHandler(handler)
    root.setLevel(level)
    for name in SILENCED_LOGGERS:
        logging.getLogger(name).setLevel(max(QUIET_LOGGERS[name], level))


def _is_request_line(record: logging.LogRecord) -> bool:
    # werkzeug's WSGIRequestHandler.log_request: '<addr> - - [<date>] "%s" %s %s'.
    return isinstance(record.msg, str) and '] "%s" %s %s' in record.msg


def _new_request_id() -> str:
    return secrets.token_hex(8)


def init_app(app: Flask) -> None:
    """A request id for each request (the proxy's X-Request-ID when safe), one access line."""
    access = logging.getLogger("reperes.access")

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_ID.match(incoming) else _new_request_id()
        request.environ[_ENVIRON_ID] = request_id
        request.environ[_ENVIRON_STARTED] = time.perf_counter()
        g.request_id = request_id  # for templates and views that want to show it

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = current_request_id()
        started = request.environ.get(_ENVIRON_STARTED) or time.perf_counter()
        elapsed = (time.perf_counter() - started) * 1000
        # The path only: query strings may carry tokens (LTI state, registration tokens).
        access.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed)
        return response
