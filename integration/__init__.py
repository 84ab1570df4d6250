"""Repères, the Flask service.

`create_app(settings)` (in `integration/app.py`) builds it. Importing the package costs
nothing, so that `reperes --help` and the commands that need no web stack start at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'integration' has no attribute {name!r}")
