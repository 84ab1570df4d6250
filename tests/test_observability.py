"""An operator reads the logs and the probes; a worker's name never shows in them.

- every request gets an id (the proxy's X-Request-ID when it is safe), sent back on the
  answer and written on each log line of that request;
- JSON lines when configured;
- a whole cycle (launch, task, photo, tag, dossier) logs no name, email, id_token, CSRF
  token, session cookie or file content, with the root logger at DEBUG;
- /healthz and /readyz, and /readyz refusing (503) a database down or not migrated.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from integration import create_app
from integration.db import head_revision, make_engine
from integration.demo_platform import PEOPLE
from integration.ops.observability import (
    JsonFormatter,
    RedactingFormatter,
    RequestIdFilter,
    configure_logging,
    redact,
)
from integration.settings import Settings
from tests.support.database import migrate
from tests.support.lti import launch_as, read_form
from tests.support.parcours import jpeg_bytes

# --- capturing every record -----------------------------------------------------------


class _Capture(logging.Handler):
    """Every record that reaches the root logger, raw and as our two formats write it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.addFilter(RequestIdFilter())
        self._json = JsonFormatter()
        self._text = RedactingFormatter("%(name)s %(request_id)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        raw = record.getMessage()
        if record.exc_info:
            raw += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(raw)
        self.lines.append(self._json.format(record))
        self.lines.append(self._text.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def captured() -> Iterator[_Capture]:
    """The logging `reperes -v` sets up (root at DEBUG), plus a handler that keeps all."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    saved_levels = {
        name: logging.getLogger(name).level
        for name in ("alembic", "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool",
                     "urllib3", "werkzeug", "PIL", "docxtpl", "wsgidav")
    }
    configure_logging(json_lines=True, level=logging.DEBUG)
    capture = _Capture()
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        for handler in list(root.handlers):
            if getattr(handler, "_reperes", False):
                root.removeHandler(handler)
        root.setLevel(saved[0])
        for handler in saved[1]:
            if handler not in root.handlers:
                root.addHandler(handler)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def _demo_app(settings: Settings) -> Flask:
    demo = settings.with_changes(demo=True)
    migrate(demo.database_url)
    return create_app(demo)


def test_a_whole_cycle_leaves_no_name_email_or_token_in_the_logs(
    settings: Settings, captured: _Capture
) -> None:
    app = _demo_app(settings)
    client = app.test_client()
    person = PEOPLE["candidat1"]
    launched = launch_as(client, "candidat1")
    assert launched.response.status_code == 303
    _, auth_form = read_form(launched.steps[1].get_data(as_text=True))
    id_token = auth_form["id_token"]
    cookie = client.get_cookie("session")
    assert cookie is not None
    session_cookie = cookie.value

    csrf = client.get("/api/v1/session").get_json()["csrf_token"]
    headers = {"X-CSRF-Token": csrf}
    parcours = client.get("/api/v1/parcours/mine").get_json()
    chosen = client.put(f"/api/v1/parcours/{parcours['id']}/referentiels", headers=headers,
                        json={"referentiels": ["TP-APH@2008-08-13"]})
    assert chosen.status_code == 200, chosen.get_data(as_text=True)
    task = client.post(f"/api/v1/parcours/{parcours['id']}/tasks", headers=headers,
                       json={"title": "Je trie les dons de vêtements, avec Samira"})
    assert task.status_code == 201, task.get_data(as_text=True)
    task_id = task.get_json()["id"]
    photo = jpeg_bytes()
    upload = client.post(f"/api/v1/tasks/{task_id}/evidence", headers=headers,
                         data={"file": (io.BytesIO(photo), "tri.jpg"), "caption": "le tri"},
                         content_type="multipart/form-data")
    assert upload.status_code == 201, upload.get_data(as_text=True)
    tagged = client.post(f"/api/v1/tasks/{task_id}/tags", headers=headers,
                         json={"address": "TP-APH@2008-08-13#C1", "comment": "je sais faire"})
    assert tagged.status_code == 201, tagged.get_data(as_text=True)
    made = client.post(f"/dossier/{parcours['id']}", data={"csrf_token": csrf})
    assert made.status_code == 303, made.get_data(as_text=True)[:300]
    dossier = client.get(made.headers["Location"])
    assert dossier.status_code == 200
    assert zipfile.is_zipfile(io.BytesIO(dossier.data))
    app.extensions["reperes"].engine.dispose()

    logged = captured.text()
    assert captured.records, "nothing was logged at all: the capture is broken"
    assert any(r.name == "reperes.access" for r in captured.records)
    for secret, what in (
        (person.given_name, "first name"),
        (person.name, "name"),
        (person.email, "email"),
        (id_token, "id_token"),
        (id_token.split(".")[1][:40], "id_token payload"),
        (csrf, "CSRF token"),
        (session_cookie, "session cookie"),
        (session_cookie[:24], "session cookie start"),
        ("Je trie les dons", "task title"),
    ):
        assert secret not in logged, f"the {what} appears in the logs"
    assert photo[:64].hex() not in logged and repr(photo[:32])[2:-1] not in logged


def test_each_request_has_an_id_sent_back_and_on_its_log_lines(
    client, captured: _Capture
) -> None:
    mine = client.get("/healthz", headers={"X-Request-ID": "proxy-7f3a.1"})
    assert mine.headers["X-Request-ID"] == "proxy-7f3a.1"
    access = [r for r in captured.records if r.name == "reperes.access"]
    assert access[-1].request_id == "proxy-7f3a.1"  # type: ignore[attr-defined]
    assert "GET /healthz 200" in access[-1].getMessage()

    for unsafe in ("a b", "x" * 65, "id;forged=1", "<script>", "é"):
        answer = client.get("/healthz", headers={"X-Request-ID": unsafe})
        made = answer.headers["X-Request-ID"]
        assert made != unsafe and len(made) == 16 and made.isalnum()
    first = client.get("/healthz").headers["X-Request-ID"]
    assert first != client.get("/healthz").headers["X-Request-ID"]


def test_json_lines_carry_level_logger_request_id_and_pid(client, captured: _Capture) -> None:
    client.get("/nulle-part", headers={"X-Request-ID": "rid-404"})
    record = [r for r in captured.records if r.name == "reperes.access"][-1]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "rid-404"
    assert line["level"] == "INFO" and line["logger"] == "reperes.access"
    assert line["message"].startswith("GET /nulle-part 404 ")
    assert isinstance(line["pid"], int) and line["time"]


def test_the_access_line_has_the_path_never_the_query(client, captured: _Capture) -> None:
    client.get("/lti/login?iss=x&login_hint=secret-hint&state=abc&id_token=eyJ.x.y")
    line = [r for r in captured.records if r.name == "reperes.access"][-1].getMessage()
    assert line.startswith("GET /lti/login ") and "secret-hint" not in line and "?" not in line


def test_libraries_that_log_data_stay_quiet_even_at_debug(captured: _Capture) -> None:
    assert logging.getLogger().level == logging.DEBUG
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "alembic"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    ours = next(h for h in logging.getLogger().handlers if getattr(h, "_reperes", False))

    def shown(name: str, level: int) -> bool:
        record = logging.LogRecord(name, level, __file__, 1, "x", None, None)
        return all(f.filter(record) if isinstance(f, logging.Filter) else f(record)
                   for f in ours.filters)

    path = '"PUT /remote.php/dav/files/reperes/RAE/Cours/Samira%20B./x.docx HTTP/1.1" 201'
    assert not shown("urllib3.connectionpool", logging.DEBUG), path
    assert not shown("urllib3.connectionpool", logging.WARNING)
    assert shown("urllib3.connectionpool", logging.ERROR)
    assert shown("integration.moodle.run", logging.DEBUG) and shown("urllib3x", logging.DEBUG)
    request_line = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                                     '127.0.0.1 - - [date] "%s" %s %s\n',
                                     ("GET /lti/login?state=x HTTP/1.1", "302", "-"), None)
    assert not all(f.filter(request_line) for f in ours.filters if isinstance(f, logging.Filter))


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        ("GET /lti/register?registration_token=abc.def HTTP/1.1", "GET /lti/register",
         "abc.def"),
        ("posted id_token=eyJhbGciOi.eyJzdWIiOi.sig&state=s3cr3t", "posted", "s3cr3t"),
        ("Authorization: Bearer 0123456789abcdef", "Authorization: Bearer ***",
         "0123456789abcdef"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl inside", "<jwt>",
         "eyJzdWIiOiIxIn0"),
        ("https://reperes:apppassword@cloud.example.org/remote.php", "https://***@cloud",
         "apppassword"),
        ("(psycopg.errors.UniqueViolation) duplicate key\nDETAIL:  Key (email)=(a@b.fr) "
         "already exists.\n[SQL: INSERT INTO person (name) VALUES (%(name)s)]\n"
         "[parameters: {'name': 'Samira B.', 'email': 'a@b.fr'}]", "[parameters: hidden]",
         "a@b.fr"),
        ("Failing row contains (3, Samira B., null).", "Failing row contains (***)",
         "Samira"),
        ("PUT 'RAE/Accompagnement/Samira B./Dossier de preuves - Samira B..docx' -> 201",
         "RAE/***", "Samira"),
        ("Moodle core_webservice_get_site_info wstoken=0123abcd&x=1", "wstoken=***",
         "0123abcd"),
    ],
)
def test_redaction_is_a_last_net(line: str, kept: str, gone: str) -> None:
    cleaned = redact(line)
    assert kept in cleaned and gone not in cleaned, cleaned


def test_text_lines_are_redacted_too() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s", ("state=abc",), None)
    line = RedactingFormatter("%(request_id)s %(message)s").format(record)
    assert line == "- sent state=***"


# --- probes ---------------------------------------------------------------------------


def test_healthz_says_the_process_answers(client) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_a_migrated_database_with_its_storage(client) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "storage": "ok"},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readyz_answers_503_when_the_database_is_down(tmp_path: Path) -> None:
    dead = f"postgresql+psycopg://reperes@127.0.0.1:{_free_port()}/reperes?connect_timeout=2"
    app = create_app(Settings(var_dir=tmp_path / "var", database_url=dead, secret_key="t",
                              testing=True), check_database=False)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "error: OperationalError"
    assert body["checks"]["migrations"] == "unknown"
    assert "127.0.0.1" not in json.dumps(body)  # no address, no message from the driver
    app.extensions["reperes"].engine.dispose()


def test_readyz_answers_503_on_a_database_not_migrated(database_url: str, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, secret_key="t",
                        testing=True)
    app = create_app(settings, check_database=False)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    checks = answer.get_json()["checks"]
    assert checks["database"] == "ok"
    assert checks["migrations"].startswith("error: database at none")
    assert "reperes db upgrade" in checks["migrations"]
    app.extensions["reperes"].engine.dispose()


def test_readyz_answers_503_when_the_database_is_ahead_of_the_code(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(migrate(database_url))
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, secret_key="t",
                        testing=True)
    app = create_app(settings)
    with engine.begin() as conn:  # a newer release migrated it, then this one came back
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert f"code needs {head_revision()}" in answer.get_json()["checks"]["migrations"]
    app.extensions["reperes"].engine.dispose()
    engine.dispose()


@pytest.mark.postgres
def test_readyz_answers_503_when_postgresql_goes_away_then_recovers(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    from tests.support import postgres

    url = postgres.create_database(postgres_admin_url, f"reperes_readyz_{id(tmp_path)}")
    migrate(url)
    app = create_app(Settings(var_dir=tmp_path / "var", database_url=url, secret_key="t",
                              testing=True))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # the server drops every connection to it
        conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
        ), {"n": name})
    try:
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.get_json()["checks"]["database"].startswith("error: ")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
    assert client.get("/readyz").status_code == 200  # pre-ping: a fresh connection
    app.extensions["reperes"].engine.dispose()
    admin.dispose()


def test_readyz_is_degraded_not_down_when_the_storage_is_missing(
    settings: Settings, tmp_path: Path
) -> None:
    migrate(settings.database_url)
    app = create_app(settings.with_changes(
        storage_url="https://nextcloud.invalid/remote.php/dav/files/reperes/"))
    runtime = app.extensions["reperes"]

    class _Gone:
        def stat(self, path: str) -> None:
            return None

    runtime.__dict__["store"] = _Gone()  # the folder was deleted on the Nextcloud side
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "degraded"
    assert answer.get_json()["checks"]["storage"] == (
        "error: folder missing: check REPERES_STORAGE_URL or create the folder")
    runtime.engine.dispose()
