"""The typed records Repères reads from Moodle's answers.

Each keeps Moodle's raw dict in ``raw``; missing keys get neutral defaults.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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
