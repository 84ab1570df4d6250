"""A small fake Moodle for tests: real HTTP on 127.0.0.1, answers shaped like Moodle 4.3.

It serves ``/webservice/rest/server.php`` from a thread, with in-memory courses,
modules, people, enrolments and completions, so the sync and the client can be
tested over a real socket. The shapes follow the answers recorded from a real
Moodle 4.3 in ``shared/data/moodle-4.3/ws/`` (see ``recorded_answer``)::

    with FakeMoodle(token="t0k3n-for-tests") as fm:
        fm.add_course(2, "Accompagnement RAE", modules=[FakeModule(1, "Présentation")])
        fm.add_user(5, "student1", "Amina", "Benali")
        fm.enrol(2, 5)
        fm.set_completion(5, 1)
        client = MoodleClient(fm.url, fm.token)

Switches: ``delay`` (seconds before each answer), ``start_outage("503" | "close")``,
``inject_error(function, errorcode)``, ``remove_function(name)``,
``can_send_messages = False`` (the token's user lacks moodle/site:sendmessage);
``calls`` records every request that reached the server, ``messages`` what
``core_message_send_instant_messages`` sent.
"""

from __future__ import annotations

import json
import socketserver
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fake_moodle_answers import (  # noqa: F401 - the fake's public names
    ROLE_IDS,
    FakeCourse,
    FakeModule,
    FakeUser,
    MoodleAnswers,
    _missing_record,
    _MoodleException,
    _unflatten,
)

REST_PATH = "/webservice/rest/server.php"

# ---------------------------------------------------------------- recorded answers


def shared_dir() -> Path:
    """The shared folder (``../shared`` beside the checkout), or ``$REPERES_SHARED_DIR``."""
    from tests.support.shared import SHARED_DIR

    return SHARED_DIR


def recorded_dir() -> Path:
    """Where the answers recorded from a real Moodle 4.3 live."""
    return shared_dir() / "data" / "moodle-4.3" / "ws"


def recorded_answer(name: str) -> Any:
    """The decoded JSON of one recorded answer, e.g. ``"core_course_get_contents"``."""
    return json.loads(recorded_bytes(name))


def recorded_bytes(name: str) -> bytes:
    """The exact bytes Moodle sent for one recorded answer."""
    filename = name if name.endswith(".json") else f"{name}.json"
    return (recorded_dir() / filename).read_bytes()


@dataclass(frozen=True)
class FakeCall:
    """One request that reached the fake (token left out)."""

    function: str
    params: Mapping[str, Any]
    outcome: str  # "ok", "error:<errorcode>", "http:503", "closed"


class FakeMoodle(MoodleAnswers):
    """A fake Moodle REST server on 127.0.0.1 and a random port (context manager)."""

    FUNCTIONS = (
        "core_webservice_get_site_info",
        "core_enrol_get_enrolled_users",
        "core_course_get_contents",
        "core_completion_get_activities_completion_status",
        "core_competency_list_course_module_competencies",
        "core_user_get_users_by_field",
        "core_message_send_instant_messages",
    )

    def __init__(
        self,
        token: str = "fake-moodle-token",
        *,
        delay: float = 0.0,
        functions: Iterable[str] | None = None,
        now: int = 1_795_667_100,
    ) -> None:
        self.token = token
        self.delay = delay
        # When set to an Event, every answer waits until a test sets it (at most 30 s):
        # "did the caller wait for Moodle?" answered without timing anything.
        self.hold: threading.Event | None = None
        self.now = now  # the Unix time used for completions and submissions by default
        self.functions: set[str] = set(self.FUNCTIONS if functions is None else functions)
        self.competencies_enabled = True
        # Module kinds the web-service user's role may not view (core_course_get_contents
        # leaves them out; completion statuses still list them).
        self.unviewable_modnames: set[str] = set()
        self.ws_user = FakeUser(2, "wsuser", "Service", "Web", "wsuser@example.com")
        self.courses: dict[int, FakeCourse] = {}
        self.users: dict[int, FakeUser] = {self.ws_user.id: self.ws_user}
        self.completions: dict[tuple[int, int], tuple[int, int]] = {}  # (userid, cmid)
        self.module_competencies: dict[int, list[dict[str, Any]]] = {}
        self.messages: list[dict[str, Any]] = []
        self.can_send_messages = True
        self.calls: list[FakeCall] = []
        self._outage: str | None = None
        self._outage_left: int | None = None
        self._errors: list[tuple[str, dict[str, Any], int | None]] = []
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeMoodle:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeMoodle:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the client (``http://127.0.0.1:<port>``)."""
        if self._server is None:
            raise RuntimeError("the fake Moodle is not running: use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------ state

    def add_course(
        self,
        courseid: int,
        fullname: str = "Accompagnement de parcours RAE",
        *,
        shortname: str | None = None,
        modules: Iterable[FakeModule] = (),
    ) -> FakeCourse:
        with self._lock:
            course = FakeCourse(courseid, fullname, shortname or f"C{courseid}", list(modules))
            self.courses[courseid] = course
            return course

    def add_module(self, courseid: int, module: FakeModule) -> FakeModule:
        with self._lock:
            self.courses[courseid].modules.append(module)
            return module

    def add_user(
        self,
        userid: int,
        username: str,
        firstname: str = "",
        lastname: str = "",
        email: str | None = None,
        idnumber: str = "",
    ) -> FakeUser:
        with self._lock:
            user = FakeUser(
                userid, username, firstname, lastname, email or f"{username}@example.com", idnumber
            )
            self.users[userid] = user
            return user

    def enrol(self, courseid: int, userid: int, role: str = "student") -> None:
        with self._lock:
            self.courses[courseid].enrolments[userid] = role

    def unenrol(self, courseid: int, userid: int) -> None:
        with self._lock:
            self.courses[courseid].enrolments.pop(userid, None)

    def set_completion(
        self, userid: int, cmid: int, state: int = 1, timecompleted: int | None = None
    ) -> None:
        """Set one person's completion state of a module (0 clears it)."""
        with self._lock:
            when = 0 if state == 0 else (self.now if timecompleted is None else timecompleted)
            self.completions[(userid, cmid)] = (state, when)

    def link_competency(
        self,
        cmid: int,
        competencyid: int,
        shortname: str,
        idnumber: str = "",
        *,
        frameworkid: int = 1,
        ruleoutcome: int = 1,
    ) -> None:
        with self._lock:
            links = self.module_competencies.setdefault(cmid, [])
            links.append(
                {
                    "competency": {
                        "shortname": shortname,
                        "idnumber": idnumber,
                        "description": "",
                        "descriptionformat": 1,
                        "sortorder": 0,
                        "parentid": 0,
                        "path": "/0/",
                        "ruleoutcome": 0,
                        "ruletype": None,
                        "ruleconfig": None,
                        "scaleid": None,
                        "scaleconfiguration": None,
                        "competencyframeworkid": frameworkid,
                        "id": competencyid,
                        "timecreated": self.now,
                        "timemodified": self.now,
                        "usermodified": 2,
                    },
                    "coursemodulecompetency": {
                        "cmid": cmid,
                        "competencyid": competencyid,
                        "sortorder": len(links),
                        "ruleoutcome": ruleoutcome,
                        "id": sum(len(v) for v in self.module_competencies.values()) + 1,
                        "timecreated": self.now,
                        "timemodified": self.now,
                        "usermodified": 2,
                    },
                }
            )

    def remove_function(self, name: str) -> None:
        """Take a function out of the token's service (calls then fail ``accessexception``)."""
        with self._lock:
            self.functions.discard(name)

    # ------------------------------------------------------------ switches

    def start_outage(self, mode: str = "503", *, calls: int | None = None) -> None:
        """Answer HTTP 503 (``"503"``) or drop connections (``"close"``), for the next
        ``calls`` requests or until ``end_outage``."""
        if mode not in ("503", "close"):
            raise ValueError("outage mode is '503' or 'close'")
        with self._lock:
            self._outage, self._outage_left = mode, calls

    def end_outage(self) -> None:
        with self._lock:
            self._outage, self._outage_left = None, None

    def inject_error(
        self,
        function: str,
        errorcode: str,
        message: str = "Injected error",
        *,
        exception: str = "moodle_exception",
        times: int | None = 1,
    ) -> None:
        """Make ``function`` fail with a Moodle error, ``times`` times (``None``: always)."""
        body = {"exception": exception, "errorcode": errorcode, "message": message}
        with self._lock:
            self._errors.append((function, body, times))

    # ------------------------------------------------------------ counters

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self.calls)

    def calls_to(self, function: str) -> list[FakeCall]:
        with self._lock:
            return [call for call in self.calls if call.function == function]

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # ------------------------------------------------------------ answering

    def _outage_now(self) -> str | None:
        with self._lock:
            mode = self._outage
            if mode is not None and self._outage_left is not None:
                self._outage_left -= 1
                if self._outage_left <= 0:
                    self._outage, self._outage_left = None, None
            return mode

    def _record(self, function: str, params: Mapping[str, Any], outcome: str) -> None:
        with self._lock:
            self.calls.append(FakeCall(function, params, outcome))

    def _answer(self, fields: dict[str, Any]) -> Any:
        """The JSON answer to one request (errors as Moodle's error object)."""
        function = str(fields.pop("wsfunction", ""))
        token = fields.pop("wstoken", None)
        fields.pop("moodlewsrestformat", None)
        with self._lock:
            try:
                if token != self.token:
                    raise _MoodleException(
                        "moodle_exception", "invalidtoken", "Invalid token - token not found"
                    )
                handler = getattr(self, f"_ws_{function}", None)
                if handler is None:
                    raise _MoodleException(
                        "dml_missing_record_exception",
                        "invalidrecord",
                        "Can't find data record in database table external_functions.",
                    )
                if function not in self.functions:
                    raise _MoodleException(
                        "webservice_access_exception",
                        "accessexception",
                        "Access control exception",
                        f"Access to the function {function}() is not allowed.",
                    )
                self._raise_injected(function)
                answer = handler(fields)
            except _MoodleException as exc:
                self._record(function, fields, f"error:{exc.body['errorcode']}")
                return exc.body
            self._record(function, fields, "ok")
            return answer

    def _raise_injected(self, function: str) -> None:
        for index, (name, body, times) in enumerate(self._errors):
            if name != function:
                continue
            if times is not None:
                if times <= 1:
                    del self._errors[index]
                else:
                    self._errors[index] = (name, body, times - 1)
            exc = _MoodleException(body["exception"], body["errorcode"], body["message"])
            raise exc


# ---------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a slow answer must not hold the test's teardown
    fake: FakeMoodle

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes its socket before a slow answer.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name, which can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeMoodle/4.3"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        self._serve(parse_qsl(urlsplit(self.path).query) + parse_qsl(body))

    def do_GET(self) -> None:
        self._serve(parse_qsl(urlsplit(self.path).query))

    def _serve(self, pairs: list[tuple[str, str]]) -> None:
        fake = self.server.fake
        if urlsplit(self.path).path != REST_PATH:
            self._send(404, "text/html; charset=utf-8", b"<h1>Not found</h1>")
            return
        if fake.delay:
            time.sleep(fake.delay)
        if fake.hold is not None:
            fake.hold.wait(30)
        fields = _unflatten(pairs)
        outage = fake._outage_now()
        if outage is not None:
            function = str(fields.get("wsfunction", ""))
            visible = {k: v for k, v in fields.items() if k != "wstoken"}
            if outage == "close":
                fake._record(function, visible, "closed")
                self.close_connection = True
                return
            fake._record(function, visible, "http:503")
            self._send(503, "text/html; charset=utf-8", b"<h1>503 Service Unavailable</h1>")
            return
        if fields.get("moodlewsrestformat") != "json":
            fields.pop("wstoken", None)
            fake._record(str(fields.get("wsfunction", "")), fields, "xml")
            xml = b'<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n</RESPONSE>\n'
            self._send(200, "application/xml; charset=utf-8", xml)
            return
        try:
            answer = fake._answer(fields)
        except Exception as exc:  # a bug in the fake: say so rather than drop the connection
            self._send(500, "text/plain; charset=utf-8", f"fake Moodle bug: {exc!r}".encode())
            raise
        self._send(200, "application/json", json.dumps(answer, separators=(",", ":")).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # keep test output quiet
