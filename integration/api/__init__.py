"""The JSON API under /api/v1, used by the pages and by integrators.

A room of its own (rather than parcours/api.py) because it is one HTTP surface over
several rooms (parcours today; dossier and sync will add routes) with its own rules:
the session of the launch authenticates, every write carries the CSRF token and comes
from our origin, errors are problem+json, and the OpenAPI document describes it all.
Views only translate HTTP: each one calls one service of `integration.parcours`.
"""

from __future__ import annotations

from typing import Any

from ..csrf import csrf_token
from . import (  # noqa: F401  (routes)
    evidence_views,
    feedback_views,
    openapi,
    parcours_views,
    task_views,
)
from .common import bp


@bp.app_context_processor
def _csrf_for_pages() -> dict[str, Any]:
    # Pages write <meta name="csrf-token" content="{{ csrf_token() }}"> for their scripts.
    return {"csrf_token": csrf_token}


__all__ = ["bp", "csrf_token"]
