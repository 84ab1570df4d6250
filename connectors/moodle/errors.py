"""Moodle's errors, sorted into the few kinds callers act on.

Moodle answers every call with HTTP 200, errors included; :mod:`.client` turns
an error answer (``exception``, ``errorcode``, ``message``) into one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final


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
