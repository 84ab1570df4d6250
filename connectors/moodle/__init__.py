"""A thin client for Moodle's REST web services (the library's public interface).

- :mod:`.client`: :class:`MoodleClient`, the functions it calls, parameter flattening;
- :mod:`.errors`: :class:`MoodleError` and the kinds callers act on;
- :mod:`.records`: the typed records read from Moodle's answers.

The token travels only in the POST body: it is never logged, never put in an
exception message and never shown in a repr.
"""

from __future__ import annotations

from connectors.moodle.client import (
    OPTIONAL_FUNCTIONS,
    REST_PATH,
    SYNC_FUNCTIONS,
    MoodleClient,
    WsFunction,
    flatten_params,
)
from connectors.moodle.errors import (
    MoodleError,
    MoodleFunctionUnavailable,
    MoodleParameterError,
    MoodlePermissionError,
    MoodleTokenError,
    MoodleTransportError,
)
from connectors.moodle.records import (
    ActivitiesCompletion,
    ActivityCompletion,
    Competency,
    CompletionState,
    CompletionTracking,
    CourseContents,
    CourseModule,
    CourseModuleCompetency,
    CourseSection,
    MoodleUser,
    MoodleWarning,
    Role,
    SiteInfo,
)

__all__ = [
    "OPTIONAL_FUNCTIONS",
    "REST_PATH",
    "SYNC_FUNCTIONS",
    "ActivitiesCompletion",
    "ActivityCompletion",
    "Competency",
    "CompletionState",
    "CompletionTracking",
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
    "WsFunction",
    "flatten_params",
]
