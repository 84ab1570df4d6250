"""Reviews: the accompagnateur's « Oui / Non / Partiellement » on each compétence.

Every review is kept, dated and signed; the latest one per compétence is the one that
counts. Only an accompagnateur (or coordinateur) reviews.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from referentiels import Catalog

from ..actor import Actor
from ..models import Person, Review, Verdict
from .access import parcours_for, require_accompagnateur
from .errors import Invalid
from .history import record
from .services import follow
from .tags import resolve_item
from .text import clean_text

VERDICT_WORDS = {Verdict.OUI: "Oui", Verdict.NON: "Non", Verdict.PARTIELLEMENT: "Partiellement"}


def add_review(
    session: Session,
    actor: Actor,
    parcours_id: int,
    *,
    referentiel_id: str,
    competence_code: str,
    verdict: str,
    referentiel_version: str | None = None,
    comment: object = "",
    catalog: Catalog,
) -> Review:
    """Record the accompagnateur's word on one compétence of the parcours."""
    parcours = parcours_for(session, actor, parcours_id)
    require_accompagnateur(actor, "Seul un accompagnateur donne son avis sur une compétence.")
    try:
        value = Verdict(verdict.lower() if isinstance(verdict, str) else verdict)
    except ValueError:
        raise Invalid("Choisissez : oui, non ou partiellement.", field="verdict") from None
    item = resolve_item(parcours, catalog, referentiel_id, referentiel_version, competence_code)
    text = clean_text(comment, "comment")
    reviewer = session.get(Person, actor.person_id)
    review = Review(
        parcours_id=parcours.id,
        referentiel_id=item.referentiel_id,
        referentiel_version=item.referentiel_version,
        competence_code=item.code,
        verdict=value,
        comment=text,
        reviewer_id=actor.person_id,
        reviewer_name=reviewer.display_name if reviewer else "",
    )
    session.add(review)
    follow(session, actor, parcours)
    session.flush()
    record(session, parcours.id, actor, "review.added", address=item.address,
           verdict=value.value, comment=text)
    session.flush()
    return review


def list_reviews(
    session: Session, actor: Actor, parcours_id: int, *, latest_only: bool = False
) -> list[Review]:
    """Every review of the parcours, newest first (or only the latest per compétence)."""
    parcours_for(session, actor, parcours_id)
    reviews = list(
        session.scalars(
            select(Review).where(Review.parcours_id == parcours_id).order_by(Review.id.desc())
        )
    )
    if not latest_only:
        return reviews
    seen: set[tuple[str, str, str]] = set()
    latest = []
    for review in reviews:
        key = (review.referentiel_id, review.referentiel_version, review.competence_code)
        if key not in seen:
            seen.add(key)
            latest.append(review)
    return latest
