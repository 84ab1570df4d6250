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
``inject_error(function, errorcode)``, ``remove_function(name)``; ``calls`` records
every request that reached the server.
"""

from __future__ import annotations

import json
import re
import socketserver
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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


# ---------------------------------------------------------------- state

ROLE_IDS = {"manager": 1, "editingteacher": 3, "teacher": 4, "student": 5}
RULE_DESCRIPTIONS = {
    "completionview": "View",
    "completionsubmit": "Make a submission",
    "completionusegrade": "Receive a grade",
    "completionpassgrade": "Receive a passing grade",
}
MODPLURALS = {
    "page": "Pages",
    "label": "Text and media areas",
    "assign": "Assignments",
    "quiz": "Quizzes",
    "lti": "External tools",
    "forum": "Forums",
    "url": "URLs",
    "resource": "Files",
}
ASSIGN_NO_ACCESS = "No access rights in module context"


@dataclass
class FakeModule:
    """A course module. ``completion``: 0 none, 1 manual, 2 automatic (with ``rule``)."""

    cmid: int
    name: str
    modname: str = "page"
    instance: int | None = None  # defaults to the cmid
    section: int = 1
    completion: int = 1
    rule: str | None = None  # automatic rule, e.g. "completionview"
    visible: bool = True

    def __post_init__(self) -> None:
        if self.instance is None:
            self.instance = self.cmid
        if self.completion == 2 and self.rule is None:
            self.rule = "completionsubmit" if self.modname == "assign" else "completionview"


@dataclass
class FakeCourse:
    id: int
    fullname: str
    shortname: str
    modules: list[FakeModule] = field(default_factory=list)
    criteria: list[int] = field(default_factory=list)  # cmids required for course completion
    enrolments: dict[int, str] = field(default_factory=dict)  # userid -> role shortname


@dataclass
class FakeUser:
    id: int
    username: str
    firstname: str = ""
    lastname: str = ""
    email: str = ""
    idnumber: str = ""
    suspended: bool = False

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}".strip() or self.username


@dataclass
class FakeSubmission:
    id: int
    assignmentid: int
    userid: int
    status: str
    timecreated: int
    timemodified: int


@dataclass(frozen=True)
class FakeCall:
    """One request that reached the fake (token left out)."""

    function: str
    params: Mapping[str, Any]
    outcome: str  # "ok", "error:<errorcode>", "http:503", "closed"


class _MoodleException(Exception):
    def __init__(
        self, exception: str, errorcode: str, message: str, debuginfo: str | None = None
    ) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {
            "exception": exception,
            "errorcode": errorcode,
            "message": message,
        }
        if debuginfo is not None:
            self.body["debuginfo"] = debuginfo


def _missing_record(table: str, value: Any) -> _MoodleException:
    return _MoodleException(
        "dml_missing_record_exception",
        "invalidrecord",
        f"Can't find data record in database table {table}.",
        f"SELECT * FROM {{{table}}} WHERE id = ?\n[array (\n  0 => {value!r},\n)]",
    )


def _invalid_parameter(debuginfo: str) -> _MoodleException:
    return _MoodleException(
        "invalid_parameter_exception",
        "invalidparameter",
        "Invalid parameter value detected",
        debuginfo,
    )


def _unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """PHP-style form fields (``options[0][name]``) back to nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if not match:
            root[key] = value
            continue
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return {key: _listify(value) for key, value in root.items()}


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# ---------------------------------------------------------------- the fake


class FakeMoodle:
    """A fake Moodle REST server on 127.0.0.1 and a random port (context manager)."""

    FUNCTIONS = (
        "core_webservice_get_site_info",
        "core_enrol_get_enrolled_users",
        "core_course_get_contents",
        "core_completion_get_activities_completion_status",
        "core_completion_get_course_completion_status",
        "mod_assign_get_submissions",
        "core_competency_list_course_module_competencies",
        "core_user_get_users_by_field",
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
        self.ws_user = FakeUser(2, "wsuser", "Service", "Web", "wsuser@example.com")
        self.courses: dict[int, FakeCourse] = {}
        self.users: dict[int, FakeUser] = {self.ws_user.id: self.ws_user}
        self.completions: dict[tuple[int, int], tuple[int, int]] = {}  # (userid, cmid)
        self.submissions: list[FakeSubmission] = []
        self.module_competencies: dict[int, list[dict[str, Any]]] = {}
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

    def set_course_criteria(self, courseid: int, cmids: Iterable[int]) -> None:
        """Require these modules for course completion (none: ``nocriteriaset``)."""
        with self._lock:
            self.courses[courseid].criteria = list(cmids)

    def add_submission(
        self,
        assignmentid: int,
        userid: int,
        status: str = "submitted",
        timemodified: int | None = None,
    ) -> FakeSubmission:
        with self._lock:
            when = self.now if timemodified is None else timemodified
            submission = FakeSubmission(
                len(self.submissions) + 1, assignmentid, userid, status, when, when
            )
            self.submissions.append(submission)
            return submission

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

    # ------------------------------------------------------------ parameters

    @staticmethod
    def _int(fields: Mapping[str, Any], name: str) -> int:
        if name not in fields:
            raise _invalid_parameter(f"Missing required key in single structure: {name}")
        try:
            return int(fields[name])
        except (TypeError, ValueError):
            raise _invalid_parameter(
                f"{name} => Invalid parameter value detected: Invalid external api parameter: "
                f'the value is "{fields[name]}", the server was expecting "int" type'
            ) from None

    def _course(self, courseid: int) -> FakeCourse:
        course = self.courses.get(courseid)
        if course is None:
            raise _missing_record("course", courseid)
        return course

    def _user(self, userid: int) -> FakeUser:
        user = self.users.get(userid)
        if user is None:
            raise _missing_record("user", userid)
        return user

    # ------------------------------------------------------------ shapes

    def _module_url(self, module: FakeModule) -> str:
        return f"{self.url}/mod/{module.modname}/view.php?id={module.cmid}"

    def _completion_fields(self, userid: int, module: FakeModule, tracked: bool) -> dict[str, Any]:
        state, when = self.completions.get((userid, module.cmid), (0, 0))
        if not tracked:
            state, when = 0, 0
        details = []
        if module.completion == 2 and module.rule:
            details.append(
                {
                    "rulename": module.rule,
                    "rulevalue": {
                        "status": 1 if state in (1, 2) else 0,
                        "description": RULE_DESCRIPTIONS.get(module.rule, module.rule),
                    },
                }
            )
        return {
            "state": state,
            "timecompleted": when,
            "overrideby": None,
            "valueused": False,
            "hascompletion": True,
            "isautomatic": module.completion == 2,
            "istrackeduser": tracked,
            "uservisible": module.visible,
            "details": details,
        }

    def _module(self, module: FakeModule) -> dict[str, Any]:
        raw: dict[str, Any] = {"id": module.cmid}
        if module.modname != "label":
            raw["url"] = self._module_url(module)
        raw["name"] = module.name
        raw["instance"] = module.instance
        raw["contextid"] = 100 + module.cmid
        if module.modname == "label":
            raw["description"] = f'<div class="no-overflow"><p>{module.name}</p></div>'
        raw.update(
            {
                "visible": int(module.visible),
                "uservisible": module.visible,
                "visibleoncoursepage": 1,
                "modicon": f"{self.url}/theme/image.php/boost/{module.modname}/1/monologo",
                "modname": module.modname,
                "modplural": MODPLURALS.get(module.modname, module.modname.capitalize() + "s"),
                "availability": None,
                "indent": 0,
                "onclick": "",
                "afterlink": None,
                "customdata": '""',
                "noviewlink": module.modname == "label",
                "completion": module.completion,
            }
        )
        if module.completion:
            # Read with the web-service account, which is not a tracked user.
            raw["completiondata"] = self._completion_fields(self.ws_user.id, module, False)
        raw.update({"downloadcontent": 1, "dates": [], "groupmode": 0})
        return raw

    def _user_details(self, user: FakeUser, course: FakeCourse | None = None) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "id": user.id,
            "username": user.username,
            "firstname": user.firstname,
            "lastname": user.lastname,
            "fullname": user.fullname,
            "email": user.email,
            "department": "",
            "idnumber": user.idnumber,
            "firstaccess": 0,
            "lastaccess": 0,
        }
        if course is not None:
            role = course.enrolments[user.id]
            raw.update(
                {
                    "lastcourseaccess": 0,
                    "city": "Lyon",
                    "country": "FR",
                    "profileimageurlsmall": f"{self.url}/theme/image.php/boost/core/1/u/f2",
                    "profileimageurl": f"{self.url}/theme/image.php/boost/core/1/u/f1",
                    "roles": [
                        {
                            "roleid": ROLE_IDS.get(role, 5),
                            "name": "",
                            "shortname": role,
                            "sortorder": 0,
                        }
                    ],
                    "enrolledcourses": [
                        {"id": c.id, "fullname": c.fullname, "shortname": c.shortname}
                        for c in self.courses.values()
                        if user.id in c.enrolments
                    ],
                }
            )
        else:
            raw.update(
                {
                    "auth": "manual",
                    "suspended": user.suspended,
                    "confirmed": True,
                    "lang": "en",
                    "theme": "",
                    "timezone": "99",
                    "mailformat": 1,
                    "city": "Lyon",
                    "country": "FR",
                    "profileimageurlsmall": f"{self.url}/theme/image.php/boost/core/1/u/f2",
                    "profileimageurl": f"{self.url}/theme/image.php/boost/core/1/u/f1",
                }
            )
        return raw

    # ------------------------------------------------------------ functions

    def _ws_core_webservice_get_site_info(self, fields: dict[str, Any]) -> Any:
        user = self.ws_user
        return {
            "sitename": "Fake Moodle",
            "username": user.username,
            "firstname": user.firstname,
            "lastname": user.lastname,
            "fullname": user.fullname,
            "lang": "en",
            "userid": user.id,
            "siteurl": self.url,
            "userpictureurl": f"{self.url}/theme/image.php/boost/core/1/u/f1",
            "functions": [
                {"name": name, "version": "2023100900"} for name in sorted(self.functions)
            ],
            "downloadfiles": 1,
            "uploadfiles": 0,
            "release": "4.3 (Build: 20231009)",
            "version": "2023100900",
            "mobilecssurl": "",
            "advancedfeatures": [{"name": "enablecompletion", "value": 1}],
            "usercanmanageownfiles": True,
            "userquota": 104857600,
            "usermaxuploadfilesize": 67108864,
            "userhomepage": 1,
            "userprivateaccesskey": "0" * 32,
            "siteid": 1,
            "sitecalendartype": "gregorian",
            "usercalendartype": "gregorian",
            "userissiteadmin": False,
            "theme": "boost",
            "limitconcurrentlogins": 0,
        }

    def _ws_core_course_get_contents(self, fields: dict[str, Any]) -> Any:
        course = self._course(self._int(fields, "courseid"))
        last = max([m.section for m in course.modules], default=0)
        return [
            {
                "id": number + 1,
                "name": "General" if number == 0 else f"Topic {number}",
                "visible": 1,
                "summary": "",
                "summaryformat": 1,
                "section": number,
                "hiddenbynumsections": 0,
                "uservisible": True,
                "modules": [self._module(m) for m in course.modules if m.section == number],
            }
            for number in range(last + 1)
        ]

    def _ws_core_enrol_get_enrolled_users(self, fields: dict[str, Any]) -> Any:
        course = self._course(self._int(fields, "courseid"))
        options = {
            str(o.get("name")): o.get("value")
            for o in fields.get("options", [])
            if isinstance(o, dict)
        }
        limitfrom = int(options.get("limitfrom") or 0)
        limitnumber = int(options.get("limitnumber") or 0)
        wanted = [f for f in str(options.get("userfields") or "").split(",") if f]
        userids = sorted(course.enrolments)
        userids = userids[limitfrom : limitfrom + limitnumber if limitnumber else None]
        answer = []
        for userid in userids:
            raw = self._user_details(self.users[userid], course)
            if wanted:
                raw = {key: value for key, value in raw.items() if key == "id" or key in wanted}
            answer.append(raw)
        return answer

    def _ws_core_completion_get_activities_completion_status(self, fields: dict[str, Any]) -> Any:
        course = self._course(self._int(fields, "courseid"))
        user = self._user(self._int(fields, "userid"))
        tracked = course.enrolments.get(user.id) == "student"
        statuses = []
        for module in course.modules:
            if not module.completion:
                continue
            status = {
                "cmid": module.cmid,
                "modname": module.modname,
                "instance": module.instance,
                "tracking": module.completion,
            }
            completion = self._completion_fields(user.id, module, tracked)
            status["state"] = completion.pop("state")
            status["timecompleted"] = completion.pop("timecompleted")
            # Keep Moodle's key order: cmid, modname, instance, state, timecompleted, tracking…
            ordered = {
                key: status[key]
                for key in ("cmid", "modname", "instance", "state", "timecompleted", "tracking")
            }
            statuses.append({**ordered, **completion})
        return {"statuses": statuses, "warnings": []}

    def _ws_core_completion_get_course_completion_status(self, fields: dict[str, Any]) -> Any:
        course = self._course(self._int(fields, "courseid"))
        user = self._user(self._int(fields, "userid"))
        if course.enrolments.get(user.id) != "student":
            raise _MoodleException(
                "moodle_exception", "usernotenroled", "User is not enrolled in this course"
            )
        if not course.criteria:
            raise _MoodleException(
                "moodle_exception", "nocriteriaset", "No completion criteria set for this course"
            )
        modules = {m.cmid: m for m in course.modules}
        completions = []
        for cmid in course.criteria:
            module = modules[cmid]
            state, when = self.completions.get((user.id, cmid), (0, 0))
            done = state in (1, 2)
            completions.append(
                {
                    "type": 4,
                    "title": "Activity completion",
                    "status": "Yes" if done else "No",
                    "complete": done,
                    "timecompleted": when if done else None,
                    "details": {
                        "type": "Activity completion",
                        "criteria": module.name
                        if module.modname == "label"
                        else f'<a href="{self._module_url(module)}">{module.name}</a>',
                        "requirement": "Marking yourself complete"
                        if module.completion == 1
                        else "",
                        "status": "",
                    },
                }
            )
        return {
            "completionstatus": {
                "completed": all(c["complete"] for c in completions),
                "aggregation": 1,
                "completions": completions,
            },
            "warnings": [],
        }

    def _ws_mod_assign_get_submissions(self, fields: dict[str, Any]) -> Any:
        ids = fields.get("assignmentids")
        if not isinstance(ids, list) or not ids:
            raise _invalid_parameter("Missing required key in single structure: assignmentids")
        since = int(fields.get("since") or 0)
        before = int(fields.get("before") or 0)
        status = str(fields.get("status") or "")
        known = {
            m.instance for c in self.courses.values() for m in c.modules if m.modname == "assign"
        }
        assignments, warnings = [], []
        for assignmentid in (int(i) for i in ids):
            if assignmentid not in known:
                warnings.append(
                    {
                        "item": "assignment",
                        "itemid": assignmentid,
                        "warningcode": "1",
                        "message": ASSIGN_NO_ACCESS,
                    }
                )
                continue
            submissions = [
                self._submission(s)
                for s in self.submissions
                if s.assignmentid == assignmentid
                and (not since or s.timemodified >= since)
                and (not before or s.timemodified <= before)
                and (not status or s.status == status)
            ]
            assignments.append({"assignmentid": assignmentid, "submissions": submissions})
        return {"assignments": assignments, "warnings": warnings}

    @staticmethod
    def _submission(submission: FakeSubmission) -> dict[str, Any]:
        return {
            "id": submission.id,
            "userid": submission.userid,
            "attemptnumber": 0,
            "timecreated": submission.timecreated,
            "timemodified": submission.timemodified,
            "timestarted": None,
            "status": submission.status,
            "groupid": 0,
            "plugins": [
                {
                    "type": "onlinetext",
                    "name": "Online text",
                    "fileareas": [{"area": "submissions_onlinetext", "files": []}],
                    "editorfields": [
                        {
                            "name": "onlinetext",
                            "description": "Online text submissions",
                            "text": "",
                            "format": 0,
                        }
                    ],
                },
                {"type": "comments", "name": "Submission comments"},
            ],
            "gradingstatus": "notgraded",
        }

    def _ws_core_competency_list_course_module_competencies(self, fields: dict[str, Any]) -> Any:
        cmid = self._int(fields, "cmid")
        if not any(m.cmid == cmid for c in self.courses.values() for m in c.modules):
            raise _missing_record("course_modules", cmid)
        if not self.competencies_enabled:
            raise _MoodleException(
                "moodle_exception", "competenciesarenotenabled", "Competencies are not enabled"
            )
        return list(self.module_competencies.get(cmid, []))

    def _ws_core_user_get_users_by_field(self, fields: dict[str, Any]) -> Any:
        field_name = str(fields.get("field", ""))
        if field_name not in ("id", "idnumber", "username", "email"):
            raise _MoodleException(
                "coding_exception",
                "codingerror",
                "Coding error detected, it must be fixed by a programmer: invalid field parameter",
                f"The search field '{field_name}' is not supported, "
                "look at the web service documentation",
            )
        values = {str(v).lower() for v in fields.get("values", [])}
        found = [
            user for user in self.users.values() if str(getattr(user, field_name)).lower() in values
        ]
        return [self._user_details(user) for user in sorted(found, key=lambda u: u.id)]


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
