"""Modules Moodle hides from the web-service user.

``core_course_get_contents`` leaves out, without a word, every module whose view
capability the token user's role lacks (``mod/assign:view``, ``mod/lti:view``…), while
``core_completion_get_activities_completion_status`` still lists them for a learner. A
real Moodle 4.3 with the guide's first role showed it: completed assignments never synced.
`hidden_modules` compares the two answers for one enrolled learner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connectors.moodle import MoodleClient, MoodleError


@dataclass(frozen=True)
class HiddenModules:
    """What one course hides: (cmid, modname) pairs, or why it could not be told."""

    courseid: int
    modules: tuple[tuple[int, str], ...] = ()
    error: str = ""

    def line(self) -> str:
        if self.error:
            return f"course {self.courseid}: cannot check which modules are visible: {self.error}"
        kinds = sorted({modname for _cmid, modname in self.modules})
        listed = ", ".join(f"{modname} {cmid}" for cmid, modname in self.modules)
        capabilities = ", ".join(f"mod/{kind}:view" for kind in kinds)
        return (
            f"course {self.courseid}: Moodle hides {len(self.modules)} module(s) from the "
            f"web-service user ({listed}): their completions never sync. Give the web-service "
            f"role {capabilities} (Site administration > Users > Permissions > Define roles)."
        )


def hidden_modules(client: MoodleClient, courseid: int) -> HiddenModules:
    """The modules a learner's completion lists but the course contents leave out."""
    try:
        visible = {module.id for module in client.get_course_contents(courseid).modules}
        learner = _a_learner(client, courseid)
        if learner is None:
            return HiddenModules(courseid)
        statuses = client.get_activities_completion_status(courseid, learner).statuses
    except MoodleError as exc:
        return HiddenModules(courseid, error=str(exc))
    hidden = sorted((s.cmid, s.modname) for s in statuses if s.cmid not in visible)
    return HiddenModules(courseid, tuple(hidden))


def _a_learner(client: MoodleClient, courseid: int) -> int | None:
    for user in client.iter_enrolled_users(courseid, {"onlyactive": 1}, page_size=20):
        if any(role.shortname == "student" for role in user.roles):
            return user.id
    return None


def check_courses(client: MoodleClient, courseids: Iterable[int]) -> list[str]:
    """One line per course that hides modules (or could not be checked)."""
    lines = []
    for courseid in courseids:
        found = hidden_modules(client, courseid)
        if found.modules or found.error:
            lines.append(found.line())
    return lines
