"""The one exception of the LTI room."""

from __future__ import annotations

# What a person reads when a launch is refused; the operator reads `reason` in the logs.
RELAUNCH = "Relancez Repères depuis votre cours Moodle."
# When the refusal comes from how Repères or Moodle is set up (not from the person, not
# from a bad token): the person shows the page, and its reference, to their coordinateur.
SHOW_COORDINATEUR = (
    "Ce n’est pas de votre faute : Repères ou Moodle est mal réglé. "
    "Montrez cette page à votre coordinateur."
)


class LaunchError(Exception):
    """A launch, a login or a registration refused.

    `reason` is precise and for the operator's logs (never the token itself); `title`
    and `advice` are plain French for the person in front of the screen. `configuration`:
    refused because of how a platform is set up (unknown client id or deployment, platform
    switched off, its keys unreachable): the page tells the person to show it to their
    coordinateur, with a short reference that is also in the log line.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int = 400,
        title: str = "Repères n’a pas pu s’ouvrir.",
        advice: str | None = None,
        configuration: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.title = title
        self.configuration = configuration
        self.advice = advice or (SHOW_COORDINATEUR if configuration else RELAUNCH)


class ServiceError(Exception):
    """A names-and-roles or grade call to the platform failed; the message says why."""
