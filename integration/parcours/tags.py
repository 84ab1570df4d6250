"""Tags: a task linked to a compétence of one référentiel version, with the person's comment."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel

from ..actor import Actor
from ..models import Parcours, Tag, Task
from .access import require_own_words, tag_for, task_for
from .errors import Invalid
from .history import record
from .items import Item, find_item
from .text import clean_text

MAX_TAGS_PER_TASK = 100


def chosen_referentiel(
    parcours: Parcours, catalog: Catalog, referentiel_id: str, version: str | None
) -> Referentiel:
    """A référentiel chosen for this parcours (its chosen version when none is given)."""
    chosen = {r.referentiel_id: r.referentiel_version for r in parcours.referentiels}
    if version is None:
        version = chosen.get(referentiel_id)
    if version is None or (referentiel_id, version) not in {
        (i, v) for i, v in chosen.items()
    }:
        raise Invalid(
            f"Le référentiel « {referentiel_id}{'@' + version if version else ''} » "
            "n’est pas choisi pour ce parcours.",
            field="referentiel_id",
        )
    ref = catalog.find(referentiel_id, version)
    if ref is None:
        raise Invalid(
            f"Le référentiel {referentiel_id}@{version} n’est plus connu ici.",
            field="referentiel_id",
        )
    return ref


def resolve_item(
    parcours: Parcours, catalog: Catalog, referentiel_id: str, version: str | None, code: str
) -> Item:
    """The compétence (or bloc without compétences) at this address; Invalid if none."""
    ref = chosen_referentiel(parcours, catalog, referentiel_id, version)
    item = find_item(ref, code) if isinstance(code, str) else None
    if item is None:
        raise Invalid(
            f"La compétence « {code} » n’existe pas dans {ref.id}@{ref.version}.",
            field="competence_code",
        )
    return item


def add_tag(
    session: Session,
    actor: Actor,
    task_id: int,
    *,
    referentiel_id: str,
    competence_code: str,
    referentiel_version: str | None = None,
    comment: object = None,
    catalog: Catalog,
) -> tuple[Tag, bool]:
    """Link a task to a compétence. Returns (tag, created).

    Linking again the same compétence keeps one tag; a given comment replaces the old one.
    """
    task = task_for(session, actor, task_id)
    # Linking a task to a compétence is the candidat's act; the accompagnateur reviews.
    require_own_words(actor, task.parcours)
    item = resolve_item(task.parcours, catalog, referentiel_id, referentiel_version,
                        competence_code)
    text = None if comment is None else clean_text(comment, "comment")
    key = (
        Tag.task_id == task.id,
        Tag.referentiel_id == item.referentiel_id,
        Tag.referentiel_version == item.referentiel_version,
        Tag.competence_code == item.code,
    )
    # One query for both questions: is it linked already, and how many links are there.
    existing = list(session.scalars(select(Tag).where(Tag.task_id == task.id)))
    tag = next(
        (t for t in existing
         if (t.referentiel_id, t.referentiel_version, t.competence_code)
         == (item.referentiel_id, item.referentiel_version, item.code)),
        None,
    )
    created = False
    if tag is None:
        if len(existing) >= MAX_TAGS_PER_TASK:
            raise Invalid(
                f"Une activité a {MAX_TAGS_PER_TASK} compétences au plus.", field="competence_code"
            )
        try:
            with session.begin_nested():
                tag = Tag(
                    task_id=task.id,
                    referentiel_id=item.referentiel_id,
                    referentiel_version=item.referentiel_version,
                    competence_code=item.code,
                    comment=text or "",
                    created_by_id=actor.person_id,
                )
                session.add(tag)
                session.flush()
            created = True
        except IntegrityError:
            # The same link was made at the same moment: keep one.
            tag = session.scalars(select(Tag).where(*key)).one()
    if created:
        record(session, task.parcours_id, actor, "tag.added", task_id=task.id,
               address=item.address, comment=tag.comment)
    elif text is not None and text != tag.comment:
        old = tag.comment
        tag.comment = text
        record(session, task.parcours_id, actor, "tag.updated", task_id=task.id,
               address=item.address, old=old, new=text)
    session.flush()
    return tag, created


def list_tags(session: Session, actor: Actor, task_id: int) -> list[Tag]:
    task = task_for(session, actor, task_id)
    return list(session.scalars(select(Tag).where(Tag.task_id == task.id).order_by(Tag.id)))


def remove_tag(session: Session, actor: Actor, tag_id: int) -> Task:
    """Unlink; the comment stays in the history."""
    tag = tag_for(session, actor, tag_id)
    task = tag.task
    require_own_words(actor, task.parcours)
    record(
        session, task.parcours_id, actor, "tag.removed", task_id=task.id,
        address=f"{tag.referentiel_id}@{tag.referentiel_version}#{tag.competence_code}",
        comment=tag.comment,
    )
    session.delete(tag)
    session.flush()
    return task


def update_tag_comment(session: Session, actor: Actor, tag_id: int, comment: object) -> Tag:
    """Change the person's comment on a link (the old one stays in the history)."""
    tag = tag_for(session, actor, tag_id)
    require_own_words(actor, tag.task.parcours)
    text = clean_text(comment, "comment")
    if text != tag.comment:
        old = tag.comment
        tag.comment = text
        record(session, tag.task.parcours_id, actor, "tag.updated", task_id=tag.task_id,
               address=f"{tag.referentiel_id}@{tag.referentiel_version}#{tag.competence_code}",
               old=old, new=text)
        session.flush()
    return tag
