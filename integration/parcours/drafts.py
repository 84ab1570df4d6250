"""Drafts: a form being written, kept on the server as the person types (issue 15).

A draft belongs to one person in one course of one platform (the actor's launch): nobody
else reads it, not even their accompagnateur. It holds text only (the form's fields, each
bounded); it goes when the form is saved, and with the person (erase cascades).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..models import Draft, utcnow
from .errors import Invalid

FORM_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
MAX_FIELDS = 20
MAX_FIELD_CHARS = 10_000
# The fields of the forms that keep a draft (the activity's words); nothing else is kept.
NAMES = frozenset({"title", "where", "tools", "how", "frequency", "source", "description"})


def _key(form_key: str) -> str:
    if not FORM_KEY.match(form_key or ""):
        raise Invalid("Ce brouillon n’a pas de nom correct.", field="form_key")
    return form_key


def clean(data: Any) -> dict[str, str]:
    """The fields of a draft: short names, text values, bounded; anything else is dropped."""
    if not isinstance(data, dict):
        raise Invalid("Le brouillon n’est pas lisible.", field="data")
    kept: dict[str, str] = {}
    for name, value in data.items():
        if len(kept) >= MAX_FIELDS:
            break
        if name in NAMES and isinstance(value, str):
            kept[name] = value[:MAX_FIELD_CHARS]
    return kept


def _mine(actor: Actor, form_key: str) -> Any:
    return select(Draft).where(
        Draft.person_id == actor.person_id,
        Draft.platform_id == actor.platform_id,
        Draft.course_id == actor.course_id,
        Draft.form_key == _key(form_key),
    )


def get_draft(db: Session, actor: Actor, form_key: str) -> dict[str, str] | None:
    """The draft of this form for this actor, or None (also when it holds nothing typed)."""
    row = db.scalar(_mine(actor, form_key))
    if row is None or not any(v.strip() for v in row.data.values() if isinstance(v, str)):
        return None
    return dict(row.data)


def save_draft(db: Session, actor: Actor, form_key: str, data: Any) -> dict[str, str]:
    """Keep what the form holds now (replaces the previous draft of the same form)."""
    fields = clean(data)
    row = db.scalar(_mine(actor, form_key))
    if row is None:
        row = Draft(person_id=actor.person_id, platform_id=actor.platform_id,
                    course_id=actor.course_id, form_key=form_key, data=fields)
        db.add(row)
    else:
        row.data = fields
        row.updated_at = utcnow()
    db.flush()
    return fields


def drop_draft(db: Session, actor: Actor, form_key: str) -> None:
    """The form is saved (or the person starts again): its draft goes."""
    db.execute(delete(Draft).where(
        Draft.person_id == actor.person_id,
        Draft.platform_id == actor.platform_id,
        Draft.course_id == actor.course_id,
        Draft.form_key == _key(form_key),
    ))


def draft_keys(db: Session, actor: Actor) -> list[str]:
    """The forms this actor left unfinished in this course (for the first screen)."""
    return list(db.scalars(select(Draft.form_key).where(
        Draft.person_id == actor.person_id,
        Draft.platform_id == actor.platform_id,
        Draft.course_id == actor.course_id,
    ).order_by(Draft.updated_at.desc())))
