"""Coverage of a référentiel: which compétences have tasks, evidence, a review, a recognition."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from referentiels import Catalog

from ..auth import Actor
from ..models import Evidence, Recognition, Tag, Task
from .access import parcours_for
from .items import items_of
from .reviews import list_reviews


@dataclass(frozen=True)
class ReviewSummary:
    verdict: str
    comment: str
    reviewer_name: str
    reviewer_id: int | None
    at: datetime


@dataclass
class ItemCoverage:
    code: str
    intitule: str
    falc: str | None
    picto: str | None
    kind: str
    task_ids: list[int] = field(default_factory=list)
    evidence_count: int = 0
    review: ReviewSummary | None = None
    recognised: bool | None = None


@dataclass
class BlocCoverage:
    code: str
    intitule: str
    falc: str | None
    items: list[ItemCoverage] = field(default_factory=list)
    recognised: bool | None = None


@dataclass
class Totals:
    items: int = 0
    with_tasks: int = 0
    with_evidence: int = 0
    reviewed: int = 0
    oui: int = 0
    partiellement: int = 0
    non: int = 0


@dataclass
class ReferentielCoverage:
    referentiel_id: str
    referentiel_version: str
    intitule: str
    complete: bool
    blocs: list[BlocCoverage] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)


@dataclass
class Coverage:
    parcours_id: int
    referentiels: list[ReferentielCoverage] = field(default_factory=list)
    # Tags made against a référentiel version no longer chosen (kept, shown apart).
    tags_elsewhere: int = 0


def coverage(session: Session, actor: Actor, parcours_id: int, *, catalog: Catalog) -> Coverage:
    """For each chosen référentiel, bloc by bloc, what the parcours shows of each compétence."""
    parcours = parcours_for(session, actor, parcours_id)
    live_tasks = select(Task.id).where(
        Task.parcours_id == parcours.id, Task.deleted_at.is_(None)
    )
    evidence_by_task = dict(
        session.execute(
            select(Evidence.task_id, func.count(Evidence.id))
            .where(Evidence.task_id.in_(live_tasks), Evidence.deleted_at.is_(None))
            .group_by(Evidence.task_id)
        ).all()
    )
    tags_by_key: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for tag in session.scalars(
        select(Tag).where(Tag.task_id.in_(live_tasks)).order_by(Tag.task_id)
    ):
        tags_by_key[(tag.referentiel_id, tag.referentiel_version, tag.competence_code)].append(
            tag.task_id
        )
    reviews = {
        (r.referentiel_id, r.referentiel_version, r.competence_code): r
        for r in list_reviews(session, actor, parcours.id, latest_only=True)
    }
    recognitions = {
        (r.referentiel_id, r.referentiel_version, r.code): r.recognised
        for r in session.scalars(
            select(Recognition).where(Recognition.parcours_id == parcours.id)
        )
    }
    result = Coverage(parcours_id=parcours.id)
    used: set[tuple[str, str, str]] = set()
    for chosen in parcours.referentiels:
        ref = catalog.find(chosen.referentiel_id, chosen.referentiel_version)
        if ref is None:
            continue
        ref_cov = ReferentielCoverage(ref.id, ref.version, ref.intitule, ref.provenance.complete)
        blocs: dict[str, BlocCoverage] = {}
        for bloc in ref.blocs:
            blocs[bloc.code] = BlocCoverage(
                bloc.code, bloc.intitule, bloc.falc,
                recognised=recognitions.get((ref.id, ref.version, bloc.code)),
            )
            ref_cov.blocs.append(blocs[bloc.code])
        totals = ref_cov.totals
        for item in items_of(ref):
            key = (ref.id, ref.version, item.code)
            used.add(key)
            task_ids = sorted(set(tags_by_key.get(key, [])))
            review = reviews.get(key)
            cov = ItemCoverage(
                item.code, item.intitule, item.falc, item.picto, item.kind,
                task_ids=task_ids,
                evidence_count=sum(evidence_by_task.get(t, 0) for t in task_ids),
                review=ReviewSummary(
                    review.verdict.value, review.comment, review.reviewer_name,
                    review.reviewer_id, review.created_at,
                ) if review else None,
                recognised=recognitions.get(key),
            )
            blocs[item.bloc_code].items.append(cov)
            totals.items += 1
            totals.with_tasks += bool(task_ids)
            totals.with_evidence += cov.evidence_count > 0
            if review is not None:
                totals.reviewed += 1
                setattr(totals, review.verdict.value, getattr(totals, review.verdict.value) + 1)
        result.referentiels.append(ref_cov)
    result.tags_elsewhere = sum(
        len(task_ids) for key, task_ids in tags_by_key.items() if key not in used
    )
    return result
