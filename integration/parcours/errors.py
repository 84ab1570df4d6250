"""What can go wrong in a parcours service, each with its HTTP status and a plain French message.

Services raise these; the API turns them into `application/problem+json`, pages into a
short message. Messages speak to the person (FALC): short, common words, what to do next.
"""

from __future__ import annotations

from typing import Any


class ParcoursError(Exception):
    """Base of every service error. `field` names the input at fault, when there is one."""

    status = 400
    title = "La demande n’est pas correcte."

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def __str__(self) -> str:
        return self.message


class NotFound(ParcoursError):
    """Missing, or not visible to this person (the two are never told apart)."""

    status = 404
    title = "Introuvable."


class Forbidden(ParcoursError):
    """Visible, but this person's role does not allow the action."""

    status = 403
    title = "Vous ne pouvez pas faire cette action."


class Invalid(ParcoursError):
    """An input is missing or wrong."""

    status = 422
    title = "Des informations manquent ou ne sont pas correctes."


class Conflict(ParcoursError):
    """The thing changed meanwhile, or the action does not fit its current state."""

    status = 409
    title = "Ce n’est pas possible maintenant."


class StaleVersion(Conflict):
    """Someone saved a newer version first. `current_version` tells which one is stored."""

    title = "Quelqu’un a changé cette fiche en même temps."

    def __init__(self, message: str, *, current_version: int, **extra: Any) -> None:
        super().__init__(message, current_version=current_version, **extra)
        self.current_version = current_version


class UnsupportedFile(ParcoursError):
    status = 415
    title = "Ce type de fichier n’est pas accepté."


class FileTooLarge(ParcoursError):
    status = 413
    title = "Le fichier est trop gros."


class StorageFailed(ParcoursError):
    """The file store did not answer or refused: nothing was saved, try again later."""

    status = 503
    title = "Le fichier n’a pas pu être enregistré."
