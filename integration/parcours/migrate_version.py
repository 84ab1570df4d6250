"""Moving a parcours to the version (or the successor) of a référentiel that replaces it.

A parcours keeps the version it was tagged against: nothing moves by itself when a fiche
expires. Only a coordinateur moves it. Moving carries each tag (and the accompagnateur's
reviews) over to the new référentiel when the compétence's official wording is identical
there; every other tag stays as it was, against the old version, and is listed so that the
candidat and the accompagnateur can look at it again. Nothing is deleted.

« Identical » ignores only spacing and the shape of apostrophes and quotes: a wording that
changed by one word is not the same compétence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from referentiels import Catalog, Competence, Referentiel, ReferentielError

from ..actor import Actor
from ..models import Parcours, ParcoursStatus, Review, Tag, Task, utcnow
from .access import parcours_for, require_coordinateur
from .errors import Conflict, Invalid
from .history import record

_SPACES = re.compile(r"\s+")
_SAME = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "«": '"', "»": '"', "\xa0": " "})

MOVE_REFUSED = "Seul un coordinateur change la version du référentiel d’un parcours."


def same_words(text: str) -> str:
    """The wording as compared: spacing and apostrophe shapes set aside."""
    return _SPACES.sub(" ", text.translate(_SAME)).strip()


@dataclass(frozen=True)
class Left:
    """A compétence of the old version that has no identical wording in the new one."""

    code: str
    intitule: str
    tags: int


@dataclass
class MovePlan:
    """What moving from `old` to `new` does to one parcours, before anything changes."""

    old: Referentiel
    new: Referentiel
    codes: dict[str, str] = field(default_factory=dict)  # old code -> new code (identical)
    carried: int = 0  # tags that will move
    left: list[Left] = field(default_factory=list)  # tagged compétences that stay

    @property
    def left_tags(self) -> int:
        return sum(item.tags for item in self.left)


def matching_codes(old: Referentiel, new: Referentiel) -> dict[str, str]:
    """Old code -> new code, for each compétence whose official wording is identical.

    The same code is preferred when its wording is identical; otherwise a wording found
    once in the new version. A wording found twice there is not guessed.
    """
    by_words: dict[str, list[Competence]] = {}
    for competence in new.competences():
        by_words.setdefault(same_words(competence.intitule), []).append(competence)
    found: dict[str, str] = {}
    for competence in old.competences():
        words = same_words(competence.intitule)
        if new.has_competence(competence.code) and same_words(
            new.competence(competence.code).intitule
        ) == words:
            found[competence.code] = competence.code
            continue
        candidates = by_words.get(words, [])
        if len(candidates) == 1:
            found[competence.code] = candidates[0].code
    return found


def _tags_of(session: Session, parcours: Parcours, old: Referentiel) -> list[Tag]:
    return list(session.scalars(
        select(Tag).join(Task, Task.id == Tag.task_id).where(
            Task.parcours_id == parcours.id,
            Tag.referentiel_id == old.id,
            Tag.referentiel_version == old.version,
        ).order_by(Tag.id)
    ))


def _plan(old: Referentiel, new: Referentiel, tags: list[Tag]) -> MovePlan:
    plan = MovePlan(old, new, matching_codes(old, new))
    counts = Counter(tag.competence_code for tag in tags)
    for code, count in counts.items():
        if code in plan.codes:
            plan.carried += count
        else:
            intitule = (old.competence(code).intitule if old.has_competence(code)
                        else "(compétence inconnue)")
            plan.left.append(Left(code, intitule, count))
    plan.left.sort(key=lambda item: item.code)
    return plan


def _chosen(parcours: Parcours, old: Referentiel) -> None:
    if not any(row.referentiel_id == old.id and row.referentiel_version == old.version
               for row in parcours.referentiels):
        raise Invalid(f"Ce parcours n’utilise pas {old.id}@{old.version}.", field="version")


def _refs(catalog: Catalog, old_key: str, new_key: str) -> tuple[Referentiel, Referentiel]:
    try:
        old = catalog.get(*old_key.split("@", 1))
        new = catalog.get(*new_key.split("@", 1))
    except (ReferentielError, TypeError):
        raise Invalid("Ce référentiel n’existe pas ici.", field="version") from None
    if old.key == new.key:
        raise Invalid("Choisissez une autre version que celle du parcours.", field="version")
    return old, new


def plan_move(session: Session, actor: Actor, parcours_id: int, old_key: str, new_key: str,
              *, catalog: Catalog) -> MovePlan:
    """What `move` would carry over and what it would list, without changing anything."""
    parcours = parcours_for(session, actor, parcours_id)
    require_coordinateur(actor, MOVE_REFUSED)
    old, new = _refs(catalog, old_key, new_key)
    _chosen(parcours, old)
    return _plan(old, new, _tags_of(session, parcours, old))


def move(session: Session, actor: Actor, parcours_id: int, old_key: str, new_key: str,
         *, catalog: Catalog) -> MovePlan:
    """Move the parcours from `old_key` to `new_key` ("id@version"); see the module."""
    parcours = parcours_for(session, actor, parcours_id)
    require_coordinateur(actor, MOVE_REFUSED)
    old, new = _refs(catalog, old_key, new_key)
    _chosen(parcours, old)
    if parcours.status is not ParcoursStatus.EN_PREPARATION:
        raise Conflict("Ce parcours est déjà passé devant le jury ou prêt pour lui : "
                       "sa version ne change plus.")
    if any(row.referentiel_id == new.id for row in parcours.referentiels
           if row.referentiel_id != old.id):
        raise Invalid(f"Ce parcours utilise déjà {new.id}.", field="version")
    tags = _tags_of(session, parcours, old)
    plan = _plan(old, new, tags)
    held = {(tag.task_id, tag.competence_code) for tag in session.scalars(
        select(Tag).join(Task, Task.id == Tag.task_id).where(
            Task.parcours_id == parcours.id, Tag.referentiel_id == new.id,
            Tag.referentiel_version == new.version))}
    for tag in tags:
        code = plan.codes.get(tag.competence_code)
        if code is None or (tag.task_id, code) in held:
            continue
        tag.referentiel_id, tag.referentiel_version, tag.competence_code = (
            new.id, new.version, code)
        held.add((tag.task_id, code))
    for review in session.scalars(select(Review).where(
            Review.parcours_id == parcours.id, Review.referentiel_id == old.id,
            Review.referentiel_version == old.version)):
        code = plan.codes.get(review.competence_code)
        if code is not None:
            review.referentiel_id, review.referentiel_version, review.competence_code = (
                new.id, new.version, code)
    for row in parcours.referentiels:
        if row.referentiel_id == old.id and row.referentiel_version == old.version:
            row.referentiel_id, row.referentiel_version = new.id, new.version
    parcours.updated_at = utcnow()  # bumps the row's version: a concurrent writer sees it
    record(session, parcours.id, actor, "referentiels.moved",
           old=f"{old.id}@{old.version}", new=f"{new.id}@{new.version}",
           carried=plan.carried,
           left=[f"{item.code} ({item.tags})" for item in plan.left])
    session.flush()
    return plan
