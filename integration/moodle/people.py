"""Matching Moodle users to people of Repères, and who may get a parcours."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.moodle import (
    MoodleUser,
)

from ..models import (
    Person,
    Platform,
    Role,
)
from .connection import (
    match_fields,
)

# --------------------------------------------------------------------------- people


class PersonIndex:
    """People of one platform, found by Moodle user id (``sub``), username or email."""

    def __init__(
        self, rows: Iterable[tuple[int, str, str, str]], fields: Sequence[str]
    ) -> None:
        self.fields = tuple(fields)
        self._by: dict[str, dict[str, list[int]]] = {"sub": {}, "username": {}, "email": {}}
        for person_id, sub, username, email in rows:
            self._by["sub"].setdefault(str(sub), []).append(person_id)
            if username:
                self._by["username"].setdefault(username.strip().casefold(), []).append(
                    person_id
                )
            if email:
                self._by["email"].setdefault(email.strip().casefold(), []).append(person_id)

    @classmethod
    def load(cls, session: Session, platform: Platform) -> PersonIndex:
        rows = session.execute(
            select(Person.id, Person.sub, Person.username, Person.email).where(
                Person.platform_id == platform.id
            )
        )
        return cls(
            [(r.id, r.sub, r.username or "", r.email or "") for r in rows],
            match_fields(platform.moodle_match),
        )

    def match(self, user: MoodleUser) -> tuple[int | None, str]:
        """(person id, how) — ``how`` is "id", "username", "email", "ambiguous" or ""."""
        found = self._by["sub"].get(str(user.id), [])
        if len(found) == 1:
            return found[0], "id"
        for name in self.fields:
            value = getattr(user, name, None)
            if not value:
                continue
            found = self._by[name].get(str(value).strip().casefold(), [])
            if len(found) == 1:
                return found[0], name
            if len(found) > 1:
                return None, "ambiguous"
        return None, ""


@dataclass(frozen=True)
class MembershipInfo:
    role: Role
    launched: bool


def may_get_parcours(membership: MembershipInfo | None, moodle_roles: Iterable[str]) -> bool:
    """A person without a parcours gets one when enrolled as student or launched as
    candidat; never when they accompany in this course."""
    if membership is not None and membership.role in (Role.ACCOMPAGNATEUR, Role.COORDINATEUR):
        return False
    if "student" in set(moodle_roles):
        return True
    return membership is not None and membership.role is Role.CANDIDAT and membership.launched


