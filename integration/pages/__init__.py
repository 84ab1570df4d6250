"""The pages people see: server-rendered, in French, FALC, light JavaScript.

- `/moi`: the candidat's (or trainee's) space: what I do, photos, compétences, choices;
- `/cours`: the accompagnateur's space: the candidats of the course, one candidat's file,
  reviews, the coverage of the course; `/cours/referentiels` for the coordinateur.

Each page works without JavaScript (forms post, then redirect) and inside Moodle's iframe
as well as in a window of its own. Views are thin (see `web.py`).
"""

from __future__ import annotations

from . import (  # noqa: F401  (routes)
    accompagnateur,
    candidat,
    coordinateur,
    drafts,
    handoff,
    referentiel_entry,
    referentiel_versions,
    shared,
)
from .web import bp

__all__ = ["bp"]
