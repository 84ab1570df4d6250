"""A form as the person filled it: their values, and what to fix, field by field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..parcours.errors import ParcoursError


@dataclass
class Form:
    """What a template needs to draw a form again: values, errors by field, a summary."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # A message that belongs to no field (shown in the summary only).
    general: list[str] = field(default_factory=list)
    # The status of the first refusal (422 by default; 415 for a file type, 409 …).
    refused_status: int = 0

    @classmethod
    def of(cls, values: Mapping[str, str]) -> Form:
        return cls(values=dict(values))

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def refuse(self, error: ParcoursError, default_field: str | None = None) -> Form:
        """Note a service's refusal beside its field (or in the summary)."""
        name = error.field or default_field
        self.refused_status = self.refused_status or error.status
        if name and name not in self.errors:
            self.errors[name] = error.message
        elif not name:
            self.general.append(error.message)
        return self

    @property
    def ok(self) -> bool:
        return not self.errors and not self.general

    @property
    def status(self) -> int:
        """The HTTP status of a page that shows this form again."""
        if self.ok:
            return 200
        return self.refused_status or 422


__all__ = ["Form"]
