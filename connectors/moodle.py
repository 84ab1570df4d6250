"""A thin client for Moodle's REST web services.

Moodle answers every call on ``/webservice/rest/server.php`` with HTTP 200, errors
included: an error is a JSON object with ``exception``, ``errorcode`` and
``message``. The client checks for that shape first and raises :class:`MoodleError`
(or one of its subclasses), then turns the answers Repères uses into small typed
records that keep Moodle's raw dict in ``raw``.

The token travels only in the POST body: it is never logged, never put in an
exception message and never shown in a repr.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import requests

__all__ = [
    "OPTIONAL_FUNCTIONS",
    "SYNC_FUNCTIONS",
    "ActivitiesCompletion",
    "ActivityCompletion",
    "AssignmentSubmissions",
    "Competency",
    "CompletionState",
    "CourseCompletion",
    "CourseCompletionCriterion",
    "CourseContents",
    "CourseModule",
    "CourseModuleCompetency",
    "CourseSection",
    "MoodleClient",
    "MoodleError",
    "MoodleFunctionUnavailable",
    "MoodleParameterError",
    "MoodlePermissionError",
    "MoodleTokenError",
    "MoodleTransportError",
    "MoodleUser",
    "MoodleWarning",
    "Role",
    "SiteInfo",
    "Submission",
    "SubmissionsResult",
    "WsFunction",
    "flatten_params",
]

log = logging.getLogger(__name__)

REST_PATH: Final = "/webservice/rest/server.php"
_RESERVED_PARAMS: Final = frozenset({"wstoken", "wsfunction", "moodlewsrestformat"})
# Tokens are 32 hex characters; scrubbing a very short test token would garble
# every message it happens to occur in, for no protection.
_MIN_SCRUBBED_TOKEN_LENGTH: Final = 6


class WsFunction(enum.StrEnum):
    """The Moodle web-service functions this client calls."""

    GET_SITE_INFO = "core_webservice_get_site_info"
    GET_ENROLLED_USERS = "core_enrol_get_enrolled_users"
    GET_COURSE_CONTENTS = "core_course_get_contents"
    GET_ACTIVITIES_COMPLETION_STATUS = "core_completion_get_activities_completion_status"
    GET_COURSE_COMPLETION_STATUS = "core_completion_get_course_completion_status"
    GET_ASSIGN_SUBMISSIONS = "mod_assign_get_submissions"
    LIST_COURSE_MODULE_COMPETENCIES = "core_competency_list_course_module_competencies"
    GET_USERS_BY_FIELD = "core_user_get_users_by_field"


#: What the completion sync cannot work without; check with ``SiteInfo.missing_functions``.
SYNC_FUNCTIONS: Final[tuple[WsFunction, ...]] = (
    WsFunction.GET_SITE_INFO,
    WsFunction.GET_COURSE_CONTENTS,
    WsFunction.GET_ENROLLED_USERS,
    WsFunction.GET_ACTIVITIES_COMPLETION_STATUS,
    WsFunction.GET_USERS_BY_FIELD,
)
#: Used when present; Repères degrades gracefully without them.
OPTIONAL_FUNCTIONS: Final[tuple[WsFunction, ...]] = (
    WsFunction.GET_COURSE_COMPLETION_STATUS,
    WsFunction.GET_ASSIGN_SUBMISSIONS,
    WsFunction.LIST_COURSE_MODULE_COMPETENCIES,
)


# --------------------------------------------------------------------------- errors


class MoodleError(Exception):
    """Any failure talking to Moodle.

    ``errorcode`` is Moodle's own code (``invalidtoken``, ``nopermissions``…) or, for
    failures before Moodle could answer, one of ours (``connectionerror``,
    ``timeout``, ``httperror``, ``redirect``, ``notjson``). ``exception`` is Moodle's
    exception class name, ``None`` for ours.
    """

    def __init__(
        self,
        errorcode: str,
        message: str,
        function: str = "",
        *,
        debuginfo: str | None = None,
        exception: str | None = None,
        http_status: int | None = None,
        hint: str = "",
    ) -> None:
        self.errorcode = errorcode
        self.message = message
        self.function = function
        self.debuginfo = debuginfo
        self.exception = exception
        self.http_status = http_status
        self.hint = hint
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"Moodle {self.function}" if self.function else "Moodle"
        text = f"{where}: {self.message} [{self.errorcode}]"
        detail = (self.debuginfo or "").strip()
        if detail:
            text += f" ({_shorten(detail.splitlines()[0].strip(), 200)})"
        if self.hint:
            text += f" {self.hint}"
        return text


class MoodleTokenError(MoodleError):
    """Moodle does not accept the token (unknown, deleted or expired)."""


class MoodlePermissionError(MoodleError):
    """The account behind the token lacks a capability or access for this call."""


class MoodleFunctionUnavailable(MoodleError):
    """The function cannot be used here: not in the token's service, unknown to this
    Moodle, or its feature is turned off. Callers may treat it as "not available"."""


class MoodleParameterError(MoodleError):
    """Moodle rejected the parameters of a call."""


class MoodleTransportError(MoodleError):
    """No usable answer: connection, timeout, HTTP error, redirect or a non-JSON body."""


_PERMISSION_CODES: Final = frozenset(
    {
        "nopermissions",
        "cannotviewreport",
        "accessdenied",
        "requireloginerror",
        "notenroled",
        "errorcoursecontextnotvalid",
    }
)
_UNAVAILABLE_CODES: Final = frozenset(
    {"accessexception", "competenciesarenotenabled", "servicenotavailable"}
)
_PARAMETER_CODES: Final = frozenset({"invalidparameter", "codingerror"})

_HINTS: Final[Mapping[str, str]] = {
    "invalidtoken": (
        "Moodle does not know this token (mistyped, deleted or expired): create a new one "
        "in Site administration > Server > Web services > Manage tokens and store it again."
    ),
    "accessexception": (
        "The external service of this token does not offer this function, or the service "
        "is limited by user, IP address or date: check Site administration > Server > "
        "Web services > External services and the token's restrictions."
    ),
    "competenciesarenotenabled": (
        "Competencies are turned off on this Moodle; an administrator can turn them on."
    ),
    "nopermissions": (
        "Give the role of the web-service account the capability named above, in the "
        "course or at site level."
    ),
    "cannotviewreport": (
        "Either completion tracking is off in this course, or the role of the web-service "
        "account lacks report/completion:view."
    ),
    "invalidparameter": "This is a bug in the caller or a Moodle version mismatch.",
}


def _error_class(errorcode: str, message: str, debuginfo: str | None) -> type[MoodleError]:
    if errorcode == "invalidtoken":
        return MoodleTokenError
    if errorcode in _UNAVAILABLE_CODES:
        return MoodleFunctionUnavailable
    # An unknown function name fails as a missing row of the external_functions table.
    if errorcode == "invalidrecord" and "external_functions" in f"{message} {debuginfo or ''}":
        return MoodleFunctionUnavailable
    if errorcode in _PERMISSION_CODES:
        return MoodlePermissionError
    if errorcode in _PARAMETER_CODES:
        return MoodleParameterError
    return MoodleError


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- parameters


def flatten_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten nested parameters to PHP-style form fields.

    ``{"options": [{"name": "a", "value": True}]}`` becomes
    ``[("options[0][name]", "a"), ("options[0][value]", "1")]``. ``None`` and empty
    lists are left out, so Moodle applies its default.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten_into(pairs, str(key), value)
    return pairs


def _flatten_into(pairs: list[tuple[str, str]], key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):  # before int: bool is an int
        pairs.append((key, "1" if value else "0"))
    elif isinstance(value, enum.Enum) and not isinstance(value, (int, str)):
        raise TypeError(f"parameter {key!r}: pass the value of {value!r}, not the enum member")
    elif isinstance(value, int):
        pairs.append((key, str(int(value))))
    elif isinstance(value, str):
        pairs.append((key, str.__str__(value)))
    elif isinstance(value, float):
        pairs.append((key, repr(value)))
    elif isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            _flatten_into(pairs, f"{key}[{sub_key}]", sub_value)
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for index, item in enumerate(value):
            _flatten_into(pairs, f"{key}[{index}]", item)
    else:
        raise TypeError(f"parameter {key!r}: cannot send a {type(value).__name__} to Moodle")


# --------------------------------------------------------------------------- results


def _int(raw: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = raw.get(key)
    return default if value is None else int(value)


def _opt_int(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return None if value is None else int(value)


def _str(raw: Mapping[str, Any], key: str, default: str = "") -> str:
    value = raw.get(key)
    return default if value is None else str(value)


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


def _opt_bool(raw: Mapping[str, Any], key: str) -> bool | None:
    value = raw.get(key)
    return None if value is None else bool(value)


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    """The dicts of a list in an answer; anything else counts as empty."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


@dataclass(frozen=True)
class MoodleWarning:
    """One entry of the ``warnings`` list many functions return beside their data."""

    warningcode: str
    message: str
    item: str | None = None
    itemid: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> MoodleWarning:
        return cls(
            warningcode=_str(raw, "warningcode"),
            message=_str(raw, "message"),
            item=_opt_str(raw, "item"),
            itemid=_opt_int(raw, "itemid"),
            raw=raw,
        )


def _warnings(payload: Any) -> tuple[MoodleWarning, ...]:
    if not isinstance(payload, Mapping):
        return ()
    return tuple(MoodleWarning.from_raw(w) for w in _dicts(payload.get("warnings")))


@dataclass(frozen=True)
class SiteInfo:
    """``core_webservice_get_site_info``: who the token is and what it may call."""

    sitename: str
    siteurl: str
    username: str
    userid: int
    fullname: str
    release: str
    version: str
    functions: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> SiteInfo:
        return cls(
            sitename=_str(raw, "sitename"),
            siteurl=_str(raw, "siteurl"),
            username=_str(raw, "username"),
            userid=_int(raw, "userid"),
            fullname=_str(raw, "fullname"),
            release=_str(raw, "release"),
            version=_str(raw, "version"),
            functions=tuple(_str(f, "name") for f in _dicts(raw.get("functions"))),
            raw=raw,
        )

    def has_function(self, name: str) -> bool:
        """Whether the token's service offers ``name``."""
        return name in self.functions

    def missing_functions(self, required: Iterable[str]) -> list[str]:
        """The names in ``required`` that the token's service does not offer, in order."""
        offered = set(self.functions)
        missing: list[str] = []
        for name in map(str, required):
            if name not in offered and name not in missing:
                missing.append(name)
        return missing


@dataclass(frozen=True)
class Role:
    roleid: int
    shortname: str
    name: str = ""

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Role:
        return cls(
            roleid=_int(raw, "roleid"), shortname=_str(raw, "shortname"), name=_str(raw, "name")
        )


@dataclass(frozen=True)
class MoodleUser:
    """A person as ``core_enrol_get_enrolled_users`` or ``core_user_get_users_by_field``
    describe them. Fields the answer leaves out (``userfields``, privacy) are ``None``."""

    id: int
    fullname: str
    username: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    email: str | None = None
    idnumber: str | None = None
    suspended: bool | None = None
    roles: tuple[Role, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> MoodleUser:
        return cls(
            id=_int(raw, "id"),
            fullname=_str(raw, "fullname"),
            username=_opt_str(raw, "username"),
            firstname=_opt_str(raw, "firstname"),
            lastname=_opt_str(raw, "lastname"),
            email=_opt_str(raw, "email"),
            idnumber=_opt_str(raw, "idnumber"),
            suspended=_opt_bool(raw, "suspended"),
            roles=tuple(Role.from_raw(r) for r in _dicts(raw.get("roles"))),
            raw=raw,
        )

    @property
    def role_shortnames(self) -> frozenset[str]:
        return frozenset(role.shortname for role in self.roles)


class CompletionState(enum.IntEnum):
    """Moodle's completion states (``COMPLETION_*`` in lib/completionlib.php)."""

    INCOMPLETE = 0
    COMPLETE = 1
    COMPLETE_PASS = 2
    COMPLETE_FAIL = 3
    COMPLETE_FAIL_HIDDEN = 4


class CompletionTracking(enum.IntEnum):
    """How a module tracks completion (``course_modules.completion``)."""

    NONE = 0
    MANUAL = 1
    AUTOMATIC = 2


@dataclass(frozen=True)
class ActivityCompletion:
    """One module's completion for one person.

    ``state`` is Moodle's integer (see :class:`CompletionState`); ``timecompleted``
    is a Unix time, 0 when not completed.
    """

    cmid: int
    modname: str
    instance: int
    state: int
    timecompleted: int
    tracking: int
    overrideby: int | None = None
    istrackeduser: bool | None = None
    isautomatic: bool | None = None
    hascompletion: bool | None = None
    uservisible: bool | None = None
    isoverallcomplete: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_raw(
        cls,
        raw: Mapping[str, Any],
        *,
        cmid: int | None = None,
        modname: str | None = None,
        instance: int | None = None,
        tracking: int | None = None,
    ) -> ActivityCompletion:
        """Read a ``statuses`` entry, or a module's ``completiondata`` with the module's
        own id, name, instance and tracking passed in."""
        return cls(
            cmid=_int(raw, "cmid") if cmid is None else cmid,
            modname=_str(raw, "modname") if modname is None else modname,
            instance=_int(raw, "instance") if instance is None else instance,
            state=_int(raw, "state"),
            timecompleted=_int(raw, "timecompleted"),
            tracking=_int(raw, "tracking") if tracking is None else tracking,
            overrideby=_opt_int(raw, "overrideby"),
            istrackeduser=_opt_bool(raw, "istrackeduser"),
            isautomatic=_opt_bool(raw, "isautomatic"),
            hascompletion=_opt_bool(raw, "hascompletion"),
            uservisible=_opt_bool(raw, "uservisible"),
            isoverallcomplete=_opt_bool(raw, "isoverallcomplete"),
            raw=raw,
        )

    @property
    def is_complete(self) -> bool:
        """Done, by Moodle's own verdict when it gives one (``isoverallcomplete``,
        newer Moodle), otherwise states complete and complete-pass."""
        if self.isoverallcomplete is not None:
            return self.isoverallcomplete
        return self.state in (CompletionState.COMPLETE, CompletionState.COMPLETE_PASS)


@dataclass(frozen=True)
class ActivitiesCompletion:
    """``core_completion_get_activities_completion_status`` for one person in one course."""

    statuses: tuple[ActivityCompletion, ...]
    warnings: tuple[MoodleWarning, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> ActivitiesCompletion:
        return cls(
            statuses=tuple(ActivityCompletion.from_raw(s) for s in _dicts(raw.get("statuses"))),
            warnings=_warnings(raw),
            raw=raw,
        )

    def by_cmid(self) -> dict[int, ActivityCompletion]:
        return {status.cmid: status for status in self.statuses}


@dataclass(frozen=True)
class CourseModule:
    """A course module (an activity or resource) from ``core_course_get_contents``.

    ``id`` is the cmid; ``instance`` the id in the module's own table (e.g. the
    assignment id for ``mod_assign_get_submissions``); ``completion`` the tracking
    (0 none, 1 manual, 2 automatic). ``completiondata`` is the caller's own
    completion, present in newer Moodle answers.
    """

    id: int
    name: str
    modname: str
    instance: int
    section: int
    url: str | None
    visible: bool
    uservisible: bool
    completion: int
    completiondata: ActivityCompletion | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], *, section: int) -> CourseModule:
        module_id = _int(raw, "id")
        modname = _str(raw, "modname")
        instance = _int(raw, "instance")
        completion = _int(raw, "completion")
        data = raw.get("completiondata")
        return cls(
            id=module_id,
            name=_str(raw, "name"),
            modname=modname,
            instance=instance,
            section=section,
            url=_opt_str(raw, "url"),
            visible=bool(raw.get("visible", True)),
            uservisible=bool(raw.get("uservisible", True)),
            completion=completion,
            completiondata=(
                ActivityCompletion.from_raw(
                    data, cmid=module_id, modname=modname, instance=instance, tracking=completion
                )
                if isinstance(data, Mapping)
                else None
            ),
            raw=raw,
        )

    @property
    def cmid(self) -> int:
        return self.id

    @property
    def tracks_completion(self) -> bool:
        return self.completion != CompletionTracking.NONE


@dataclass(frozen=True)
class CourseSection:
    id: int
    name: str
    section: int
    visible: bool
    uservisible: bool
    modules: tuple[CourseModule, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> CourseSection:
        number = _int(raw, "section")
        return cls(
            id=_int(raw, "id"),
            name=_str(raw, "name"),
            section=number,
            visible=bool(raw.get("visible", True)),
            uservisible=bool(raw.get("uservisible", True)),
            modules=tuple(
                CourseModule.from_raw(m, section=number) for m in _dicts(raw.get("modules"))
            ),
            raw=raw,
        )


@dataclass(frozen=True)
class CourseContents:
    """``core_course_get_contents``: the sections of a course and their modules."""

    sections: tuple[CourseSection, ...]
    raw: Sequence[Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Sequence[Any]) -> CourseContents:
        return cls(sections=tuple(CourseSection.from_raw(s) for s in _dicts(raw)), raw=raw)

    @property
    def modules(self) -> tuple[CourseModule, ...]:
        """Every module of the course, in course order."""
        return tuple(module for section in self.sections for module in section.modules)

    def module(self, cmid: int) -> CourseModule | None:
        return next((m for m in self.modules if m.id == cmid), None)


@dataclass(frozen=True)
class CourseCompletionCriterion:
    type: int
    title: str
    status: str
    complete: bool
    timecompleted: int | None
    details: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> CourseCompletionCriterion:
        details = raw.get("details")
        return cls(
            type=_int(raw, "type"),
            title=_str(raw, "title"),
            status=_str(raw, "status"),
            complete=bool(raw.get("complete")),
            timecompleted=_opt_int(raw, "timecompleted"),
            details=details if isinstance(details, Mapping) else {},
            raw=raw,
        )


@dataclass(frozen=True)
class CourseCompletion:
    """``core_completion_get_course_completion_status``; ``aggregation`` 1 = all, 2 = any."""

    completed: bool
    aggregation: int
    completions: tuple[CourseCompletionCriterion, ...]
    warnings: tuple[MoodleWarning, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> CourseCompletion:
        status = raw.get("completionstatus")
        status = status if isinstance(status, Mapping) else {}
        return cls(
            completed=bool(status.get("completed")),
            aggregation=_int(status, "aggregation"),
            completions=tuple(
                CourseCompletionCriterion.from_raw(c) for c in _dicts(status.get("completions"))
            ),
            warnings=_warnings(raw),
            raw=raw,
        )


@dataclass(frozen=True)
class Submission:
    """One assignment submission; ``status`` is ``new``, ``draft``, ``submitted``…"""

    id: int
    userid: int
    status: str
    timecreated: int
    timemodified: int
    attemptnumber: int
    groupid: int
    gradingstatus: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Submission:
        return cls(
            id=_int(raw, "id"),
            userid=_int(raw, "userid"),
            status=_str(raw, "status"),
            timecreated=_int(raw, "timecreated"),
            timemodified=_int(raw, "timemodified"),
            attemptnumber=_int(raw, "attemptnumber"),
            groupid=_int(raw, "groupid"),
            gradingstatus=_opt_str(raw, "gradingstatus"),
            raw=raw,
        )


@dataclass(frozen=True)
class AssignmentSubmissions:
    assignmentid: int
    submissions: tuple[Submission, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> AssignmentSubmissions:
        return cls(
            assignmentid=_int(raw, "assignmentid"),
            submissions=tuple(Submission.from_raw(s) for s in _dicts(raw.get("submissions"))),
            raw=raw,
        )


@dataclass(frozen=True)
class SubmissionsResult:
    """``mod_assign_get_submissions``. An assignment the token may not read is absent
    from ``assignments`` and named in ``warnings``."""

    assignments: tuple[AssignmentSubmissions, ...]
    warnings: tuple[MoodleWarning, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> SubmissionsResult:
        return cls(
            assignments=tuple(
                AssignmentSubmissions.from_raw(a) for a in _dicts(raw.get("assignments"))
            ),
            warnings=_warnings(raw),
            raw=raw,
        )


@dataclass(frozen=True)
class Competency:
    """A competency of a Moodle competency framework."""

    id: int
    shortname: str
    idnumber: str
    description: str
    competencyframeworkid: int
    parentid: int
    path: str
    sortorder: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Competency:
        return cls(
            id=_int(raw, "id"),
            shortname=_str(raw, "shortname"),
            idnumber=_str(raw, "idnumber"),
            description=_str(raw, "description"),
            competencyframeworkid=_int(raw, "competencyframeworkid"),
            parentid=_int(raw, "parentid"),
            path=_str(raw, "path"),
            sortorder=_int(raw, "sortorder"),
            raw=raw,
        )


@dataclass(frozen=True)
class CourseModuleCompetency:
    """A competency linked to a course module. ``ruleoutcome``: 0 nothing, 1 attach
    evidence, 2 recommend, 3 complete the competency when the module is completed."""

    cmid: int
    competency: Competency
    ruleoutcome: int
    sortorder: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> CourseModuleCompetency:
        link = raw.get("coursemodulecompetency")
        link = link if isinstance(link, Mapping) else {}
        competency = raw.get("competency")
        return cls(
            cmid=_int(link, "cmid"),
            competency=Competency.from_raw(competency if isinstance(competency, Mapping) else {}),
            ruleoutcome=_int(link, "ruleoutcome"),
            sortorder=_int(link, "sortorder"),
            raw=raw,
        )


# --------------------------------------------------------------------------- client


class MoodleClient:
    """Calls Moodle's REST web services with one token.

    ``retries`` is how many times a call is repeated after a connection error or an
    HTTP 5xx, waiting ``backoff``, then twice as long each time. Moodle errors and
    timeouts waiting for an answer are not retried. Every function called here only
    reads, so repeating a call is safe.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (5, 30),
        retries: int = 3,
        backoff: float = 0.5,
        user_agent: str = "Reperes/0.1 (+LTI tool)",
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Moodle base URL must start with http:// or https://: {base_url!r}")
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff must not be negative")
        self.base_url = base_url.rstrip("/")
        self.endpoint = self.base_url + REST_PATH
        self._token = token
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.user_agent = user_agent

    def __repr__(self) -> str:
        return f"MoodleClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self._session.close()

    def __enter__(self) -> MoodleClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- the raw call

    def call(self, function: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call ``function`` with ``params`` and return the decoded JSON answer.

        Raises :class:`MoodleError` (or a subclass) for Moodle errors and for
        transport failures.
        """
        function = str(function)
        params = params or {}
        clash = _RESERVED_PARAMS.intersection(params)
        if clash:
            raise ValueError(f"parameters {sorted(clash)} are set by the client itself")
        data = [
            ("wstoken", self._token),
            ("wsfunction", function),
            ("moodlewsrestformat", "json"),
            *flatten_params(params),
        ]
        response = self._post(function, data)
        return self._decode(function, response)

    def _post(self, function: str, data: list[tuple[str, str]]) -> requests.Response:
        attempts = self.retries + 1
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                response = self._session.post(
                    self.endpoint,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.ConnectionError as exc:  # ConnectTimeout included
                if attempt < attempts:
                    self._wait_before_retry(function, attempt, attempts, type(exc).__name__)
                    continue
                raise MoodleTransportError(
                    "connectionerror",
                    self._scrub(
                        f"cannot reach Moodle at {self.base_url} after {attempts} attempt(s) "
                        f"({type(exc).__name__})"
                    ),
                    function,
                    hint="Check the Moodle URL, the network and DNS, and that Moodle is up.",
                ) from exc
            except requests.Timeout as exc:
                # The request may be running on Moodle; asking again would pile work on
                # a server that is already slow.
                raise MoodleTransportError(
                    "timeout",
                    f"no answer from {self.base_url} within the read timeout "
                    f"({_read_timeout(self.timeout)} s)",
                    function,
                    hint="Moodle may be overloaded: try again later or raise the timeout.",
                ) from exc
            except requests.RequestException as exc:
                raise MoodleTransportError(
                    "requesterror",
                    self._scrub(f"the request to {self.base_url} failed ({type(exc).__name__})"),
                    function,
                ) from exc
            log.debug(
                "Moodle %s: HTTP %s in %.0f ms (attempt %d)",
                function,
                response.status_code,
                (time.monotonic() - started) * 1000,
                attempt,
            )
            if response.status_code >= 500 and attempt < attempts:
                self._wait_before_retry(function, attempt, attempts, f"HTTP {response.status_code}")
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_before_retry(self, function: str, attempt: int, attempts: int, reason: str) -> None:
        delay = self.backoff * 2 ** (attempt - 1)
        log.warning(
            "Moodle %s: %s from %s; retrying in %.1f s (attempt %d of %d)",
            function,
            reason,
            self.base_url,
            delay,
            attempt + 1,
            attempts,
        )
        if delay > 0:
            time.sleep(delay)

    def _decode(self, function: str, response: requests.Response) -> Any:
        status = response.status_code
        if 300 <= status < 400:
            location = self._scrub(response.headers.get("Location", "?"))
            raise MoodleTransportError(
                "redirect",
                f"{self.endpoint} redirects (HTTP {status}) to {location}",
                function,
                http_status=status,
                hint="Use the address Moodle redirects to (https, www…) as the Moodle URL.",
            )
        try:
            payload = json.loads(response.content)
            is_json = True
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            payload, is_json = None, False

        # Checked before the HTTP status: Moodle sends its errors with HTTP 200.
        if (
            is_json
            and isinstance(payload, Mapping)
            and "errorcode" in payload
            and ("exception" in payload or "error" in payload)
        ):
            raise self._moodle_error(function, payload, status)

        if status >= 400:
            raise self._http_error(function, response)
        if not is_json:
            content_type = response.headers.get("Content-Type", "none")
            start = self._scrub(response.content[:80].decode("utf-8", "replace"))
            raise MoodleTransportError(
                "notjson",
                f"the answer is not JSON (Content-Type {content_type}, begins with {start!r})",
                function,
                http_status=status,
                hint=(
                    "Check that the Moodle URL points at Moodle itself, and that PHP notices "
                    "are not shown in pages (debugdisplay off)."
                ),
            )
        return payload

    def _moodle_error(self, function: str, payload: Mapping[str, Any], status: int) -> MoodleError:
        errorcode = _str(payload, "errorcode", "unknown")
        message = self._scrub(_str(payload, "message") or _str(payload, "error"))
        debuginfo = payload.get("debuginfo")
        debuginfo = self._scrub(str(debuginfo)) if debuginfo else None
        cls = _error_class(errorcode, message, debuginfo)
        hint = _HINTS.get(errorcode, "")
        if cls is MoodleFunctionUnavailable and not hint:
            hint = "This Moodle does not offer this function (older version or missing plugin)."
        log.debug("Moodle %s: error %s", function, errorcode)
        return cls(
            errorcode,
            message,
            function,
            debuginfo=debuginfo,
            exception=_opt_str(payload, "exception"),
            http_status=status,
            hint=hint,
        )

    def _http_error(self, function: str, response: requests.Response) -> MoodleTransportError:
        status = response.status_code
        if status == 404:
            hint = "Check the Moodle URL: give the site address, without /webservice/…"
        elif status == 403:
            hint = (
                "Turn on web services (Site administration > Advanced features) and the REST "
                "protocol (Site administration > Server > Web services > Manage protocols)."
            )
        elif status >= 500:
            hint = f"Moodle failed after {self.retries + 1} attempt(s): see Moodle's server logs."
        else:
            hint = ""
        return MoodleTransportError(
            "httperror",
            f"{self.endpoint} answered HTTP {status} {response.reason or ''}".rstrip(),
            function,
            http_status=status,
            hint=hint,
        )

    def _scrub(self, text: str) -> str:
        if len(self._token) >= _MIN_SCRUBBED_TOKEN_LENGTH:
            text = text.replace(self._token, "[token]")
        return text

    # ---------------------------------------------------------------- functions

    def get_site_info(self) -> SiteInfo:
        """``core_webservice_get_site_info``: the token's user, Moodle's release and
        the functions the token's service offers."""
        return SiteInfo.from_raw(self._mapping(WsFunction.GET_SITE_INFO, {}))

    def iter_enrolled_users(
        self,
        courseid: int,
        options: Mapping[str, str | int | bool] | None = None,
        *,
        page_size: int = 100,
    ) -> Iterator[MoodleUser]:
        """``core_enrol_get_enrolled_users``, page by page, until a short page.

        ``options`` are Moodle's (``onlyactive``, ``userfields``, ``withcapability``,
        ``groupid``, ``sortby``…); paging sets ``limitfrom`` and ``limitnumber``.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        options = dict(options or {})
        if {"limitfrom", "limitnumber"} & options.keys():
            raise ValueError("limitfrom and limitnumber are set by the paging itself")
        seen: set[int] = set()
        limitfrom = 0
        while True:
            page_options = {**options, "limitfrom": limitfrom, "limitnumber": page_size}
            answer = self._list(
                WsFunction.GET_ENROLLED_USERS,
                {
                    "courseid": courseid,
                    "options": [{"name": k, "value": v} for k, v in page_options.items()],
                },
            )
            users = [MoodleUser.from_raw(raw) for raw in _dicts(answer)]
            new_users = [user for user in users if user.id not in seen]
            for user in new_users:
                seen.add(user.id)
                yield user
            if len(users) < page_size:
                return
            if not new_users:
                # A Moodle that ignores the limits sends the same page forever.
                log.warning(
                    "Moodle %s: page at %d repeats earlier users; stopping",
                    WsFunction.GET_ENROLLED_USERS,
                    limitfrom,
                )
                return
            limitfrom += page_size

    def get_course_contents(self, courseid: int) -> CourseContents:
        """``core_course_get_contents``: sections and their modules."""
        return CourseContents.from_raw(
            self._list(WsFunction.GET_COURSE_CONTENTS, {"courseid": courseid})
        )

    def get_activities_completion_status(self, courseid: int, userid: int) -> ActivitiesCompletion:
        """``core_completion_get_activities_completion_status``: each tracked module's
        state for one person. A person not enrolled gets statuses with
        ``istrackeduser`` false, not an error."""
        return ActivitiesCompletion.from_raw(
            self._mapping(
                WsFunction.GET_ACTIVITIES_COMPLETION_STATUS,
                {"courseid": courseid, "userid": userid},
            )
        )

    def get_course_completion_status(self, courseid: int, userid: int) -> CourseCompletion | None:
        """``core_completion_get_course_completion_status``; ``None`` when the course has
        no completion criteria (Moodle's ``nocriteriaset``): not applicable, not an error."""
        try:
            answer = self._mapping(
                WsFunction.GET_COURSE_COMPLETION_STATUS, {"courseid": courseid, "userid": userid}
            )
        except MoodleError as exc:
            if exc.errorcode == "nocriteriaset":
                return None
            raise
        return CourseCompletion.from_raw(answer)

    def get_submissions(
        self,
        assignmentids: Iterable[int],
        *,
        since: int | datetime | None = None,
        before: int | datetime | None = None,
        status: str | None = None,
    ) -> SubmissionsResult:
        """``mod_assign_get_submissions`` for assignment instance ids (a module's
        ``instance``), optionally only those modified since/before a time."""
        ids = list(assignmentids)
        if not ids:
            return SubmissionsResult(assignments=(), warnings=(), raw={})
        return SubmissionsResult.from_raw(
            self._mapping(
                WsFunction.GET_ASSIGN_SUBMISSIONS,
                {
                    "assignmentids": ids,
                    "status": status,
                    "since": _timestamp(since),
                    "before": _timestamp(before),
                },
            )
        )

    def list_course_module_competencies(self, cmid: int) -> list[CourseModuleCompetency]:
        """``core_competency_list_course_module_competencies``.

        Raises :class:`MoodleFunctionUnavailable` when the function is not in the
        token's service, unknown to this Moodle, or competencies are turned off.
        """
        return [
            CourseModuleCompetency.from_raw(raw)
            for raw in _dicts(
                self._list(WsFunction.LIST_COURSE_MODULE_COMPETENCIES, {"cmid": cmid})
            )
        ]

    def get_users_by_field(self, field: str, values: Iterable[str | int]) -> list[MoodleUser]:
        """``core_user_get_users_by_field``; ``field`` is ``id``, ``idnumber``,
        ``username`` or ``email``. Unknown values are simply absent from the answer."""
        wanted = list(values)
        if not wanted:
            return []
        answer = self._list(WsFunction.GET_USERS_BY_FIELD, {"field": field, "values": wanted})
        return [MoodleUser.from_raw(raw) for raw in _dicts(answer)]

    # ---------------------------------------------------------------- shapes

    def _mapping(self, function: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        answer = self.call(function, params)
        if not isinstance(answer, Mapping):
            raise self._unexpected(function, "an object", answer)
        warnings = _warnings(answer)
        if warnings:
            log.info(
                "Moodle %s answered with %d warning(s): %s",
                function,
                len(warnings),
                "; ".join(f"{w.warningcode} {w.message}" for w in warnings),
            )
        return answer

    def _list(self, function: str, params: Mapping[str, Any]) -> list[Any]:
        answer = self.call(function, params)
        if not isinstance(answer, list):
            raise self._unexpected(function, "a list", answer)
        return answer

    def _unexpected(self, function: str, expected: str, answer: Any) -> MoodleError:
        return MoodleError(
            "unexpectedanswer",
            f"expected {expected}, got {type(answer).__name__}",
            function,
            hint="This Moodle version may answer differently; please report it.",
        )


def _timestamp(value: int | datetime | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return int(value.timestamp())


def _read_timeout(timeout: float | tuple[float, float]) -> float:
    return timeout[1] if isinstance(timeout, tuple) else timeout
