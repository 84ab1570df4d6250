"""Who is acting: the person, platform, course and role of one launch.

Plain data, free of Flask, so that services, the CLI and tests build one directly. The
web layer (integration/auth.py) keeps it in the session; parcours/access.py decides what
it may do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import Role


@dataclass(frozen=True)
class Actor:
    person_id: int
    platform_id: int
    course_id: int
    role: Role
    deployment_id: str = ""
    # Where grades and names-and-roles live for this launch, when the platform offers them.
    launch_id: str = ""

    @property
    def is_candidat(self) -> bool:
        return self.role is Role.CANDIDAT

    @property
    def is_accompagnateur(self) -> bool:
        return self.role in (Role.ACCOMPAGNATEUR, Role.COORDINATEUR)

    @property
    def is_coordinateur(self) -> bool:
        return self.role is Role.COORDINATEUR

    def to_session(self) -> dict[str, Any]:
        # Written out: dataclasses.asdict deep-copies, a tenth of a launch's time.
        return {
            "person_id": self.person_id,
            "platform_id": self.platform_id,
            "course_id": self.course_id,
            "role": self.role.value,
            "deployment_id": self.deployment_id,
            "launch_id": self.launch_id,
        }

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> Actor:
        return cls(**{**data, "role": Role(data["role"])})
