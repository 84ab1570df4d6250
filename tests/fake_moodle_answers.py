"""What the fake Moodle answers: its state records and the web-service functions.

Shapes follow the answers recorded from a real Moodle 4.3 in
``shared/data/moodle-4.3/ws/``; :class:`tests.fake_moodle.FakeMoodle` serves them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


class MoodleAnswers:
    """The web-service functions of :class:`tests.fake_moodle.FakeMoodle` (a mixin:
    the state lives on the fake)."""

    url: str
    courses: dict[int, FakeCourse]
    users: dict[int, FakeUser]
    completions: dict[tuple[int, int], tuple[int, int]]
    module_competencies: dict[int, list[dict[str, Any]]]
    competencies_enabled: bool
    unviewable_modnames: set[str]
    functions: set[str]
    ws_user: FakeUser
    now: int
    # core_message_send_instant_messages: what was sent, and whether the token's user holds
    # moodle/site:sendmessage (without it Moodle answers `nopermissions`).
    messages: list[dict[str, Any]]
    can_send_messages: bool

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
                # Moodle leaves out the modules the token's user may not view (a role
                # without mod/assign:view, mod/lti:view…), without a warning.
                "modules": [
                    self._module(m)
                    for m in course.modules
                    if m.section == number and m.modname not in self.unviewable_modnames
                ],
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

    def _ws_core_message_send_instant_messages(self, fields: dict[str, Any]) -> Any:
        """message/externallib.php (4.3): one result per message, `msgid` -1 with an
        `errormessage` when that message was not sent; the whole call fails
        `nopermissions` without moodle/site:sendmessage."""
        if not self.can_send_messages:
            raise _MoodleException(
                "required_capability_exception",
                "nopermissions",
                "Sorry, but you do not currently have permissions to do that "
                "(Send messages to any user).",
            )
        results = []
        for message in fields.get("messages", []):
            touserid = self._int(message, "touserid")
            result: dict[str, Any] = {}
            if "clientmsgid" in message:
                result["clientmsgid"] = message["clientmsgid"]
            if touserid not in self.users:
                result.update(msgid=-1, errormessage=(
                    f"You can not send a message to a user id ({touserid}) that doesn't exist"))
                results.append(result)
                continue
            msgid = len(self.messages) + 1
            text = str(message.get("text", ""))
            self.messages.append({"id": msgid, "useridfrom": self.ws_user.id,
                                  "useridto": touserid, "text": text,
                                  "textformat": int(message.get("textformat", 1))})
            # FORMAT_PLAIN (2) comes back escaped, its line breaks as <br />.
            shown = html.escape(text).replace("\n", "<br />\n")
            result.update(msgid=msgid, timecreated=self.now, candeletemessagesforallusers=False,
                          conversationid=touserid, useridfrom=self.ws_user.id, text=shown)
            results.append(result)
        return results
