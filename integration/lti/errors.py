"""The one exception of the LTI room."""

from __future__ import annotations

# What a person reads when a launch is refused; the operator reads `reason` in the logs.
RELAUNCH = "Relancez Repères depuis votre cours Moodle."


class LaunchError(Exception):
    """A launch, a login or a registration refused.

    `reason` is precise and for the operator's logs (never the token itself); `title`
    and `advice` are plain French for the person in front of the screen.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int = 400,
        title: str = "Repères n’a pas pu s’ouvrir.",
        advice: str = RELAUNCH,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.title = title
        self.advice = advice


class ServiceError(Exception):
    """A names-and-roles or grade call to the platform failed; the message says why."""
