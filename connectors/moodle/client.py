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
from typing import Any, Final

import requests

from connectors.moodle.errors import (
    _HINTS,
    MoodleError,
    MoodleFunctionUnavailable,
    MoodleTransportError,
    _error_class,
)
from connectors.moodle.records import (
    ActivitiesCompletion,
    CourseContents,
    CourseModuleCompetency,
    MoodleUser,
    SiteInfo,
    _dicts,
    _opt_str,
    _str,
    _warnings,
)

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
    LIST_COURSE_MODULE_COMPETENCIES = "core_competency_list_course_module_competencies"
    GET_USERS_BY_FIELD = "core_user_get_users_by_field"
    # Writes (never retried): a message to a person, from the token's user (issue 17).
    SEND_INSTANT_MESSAGES = "core_message_send_instant_messages"


#: What the completion sync cannot work without; check with ``SiteInfo.missing_functions``.
SYNC_FUNCTIONS: Final[tuple[WsFunction, ...]] = (
    WsFunction.GET_SITE_INFO,
    WsFunction.GET_COURSE_CONTENTS,
    WsFunction.GET_ENROLLED_USERS,
    WsFunction.GET_ACTIVITIES_COMPLETION_STATUS,
    WsFunction.GET_USERS_BY_FIELD,
)
#: Used when present; Repères degrades gracefully without them (module competencies for
#: the mapping; instant messages to tell the candidat of an avis or of the jury step).
OPTIONAL_FUNCTIONS: Final[tuple[WsFunction, ...]] = (
    WsFunction.LIST_COURSE_MODULE_COMPETENCIES,
    WsFunction.SEND_INSTANT_MESSAGES,
)


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

    def send_instant_message(self, touserid: int, text: str) -> int:
        """``core_message_send_instant_messages``: one plain-text message to one Moodle
        user, from the token's user. Returns Moodle's message id; raises
        :class:`MoodleError` when Moodle refused it (its ``errormessage``). A write: the
        caller should use a client with ``retries=0`` so that nothing is sent twice."""
        answer = self._list(
            WsFunction.SEND_INSTANT_MESSAGES,
            {"messages": [{"touserid": int(touserid), "text": text, "textformat": 2}]},
        )
        first = answer[0] if answer and isinstance(answer[0], Mapping) else {}
        msgid = first.get("msgid")
        if not isinstance(msgid, int) or msgid < 0:
            raise MoodleError("messagenotsent", str(first.get("errormessage") or "no message id"),
                              WsFunction.SEND_INSTANT_MESSAGES)
        return msgid

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


def _read_timeout(timeout: float | tuple[float, float]) -> float:
    return timeout[1] if isinstance(timeout, tuple) else timeout
