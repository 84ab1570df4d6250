"""Rows to JSON: what the API shows of each thing (ids, words, dates in ISO 8601)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from referentiels import Referentiel
from referentiels.completeness import completeness
from referentiels.lifecycle import lifecycle

from ..actor import Actor
from ..models import (
    ActivityComment,
    Evidence,
    HistoryEntry,
    Parcours,
    Person,
    Review,
    Tag,
    TagProposal,
    Task,
)
from ..parcours.items import Item, items_of
from ..parcours.progress import ParcoursProgress
from ..parcours.suggestions import Proposal


def iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def person_brief(person: Person | None) -> dict[str, Any] | None:
    if person is None:
        return None
    return {"id": person.id, "name": person.display_name}


def actor_json(actor: Actor) -> dict[str, Any]:
    return {
        "person_id": actor.person_id,
        "platform_id": actor.platform_id,
        "course_id": actor.course_id,
        "role": actor.role.value,
    }


def parcours_json(db: Session, parcours: Parcours, *, detail: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": parcours.id,
        "person": person_brief(parcours.person),
        "course": {"id": parcours.course.id, "title": parcours.course.title},
        "modalite": parcours.modalite.value if parcours.modalite else None,
        "status": parcours.status.value,
        "jury_date": iso(parcours.jury_date),
        "referentiels": [
            {"id": r.referentiel_id, "version": r.referentiel_version}
            for r in parcours.referentiels
        ],
        "accompagnateurs": [person_brief(a.person) for a in parcours.accompagnateurs],
        "version": parcours.version,
        "created_at": iso(parcours.created_at),
        "updated_at": iso(parcours.updated_at),
    }
    if detail:
        data["projet"] = parcours.projet
        data["task_count"] = db.scalar(
            select(func.count(Task.id)).where(
                Task.parcours_id == parcours.id, Task.deleted_at.is_(None)
            )
        )
    return data


def tag_json(tag: Tag) -> dict[str, Any]:
    return {
        "id": tag.id,
        "task_id": tag.task_id,
        "referentiel_id": tag.referentiel_id,
        "referentiel_version": tag.referentiel_version,
        "competence_code": tag.competence_code,
        "address": f"{tag.referentiel_id}@{tag.referentiel_version}#{tag.competence_code}",
        "comment": tag.comment,
        "created_by": tag.created_by_id,
        "created_at": iso(tag.created_at),
        "updated_at": iso(tag.updated_at),
    }


def comment_json(comment: ActivityComment) -> dict[str, Any]:
    """An accompagnateur's words on one activity, signed as they read when written."""
    return {
        "id": comment.id,
        "task_id": comment.task_id,
        "parcours_id": comment.parcours_id,
        "comment": comment.comment,
        "author": {"id": comment.author_id, "name": comment.author_name},
        "created_at": iso(comment.created_at),
    }


def tag_proposal_json(proposal: TagProposal) -> dict[str, Any]:
    """A compétence proposed for an activity; `status` says what the candidat answered."""
    if proposal.decided_at is None:
        status = "pending"
    else:
        status = "accepted" if proposal.accepted else "declined"
    return {
        "id": proposal.id,
        "task_id": proposal.task_id,
        "referentiel_id": proposal.referentiel_id,
        "referentiel_version": proposal.referentiel_version,
        "competence_code": proposal.competence_code,
        "address": f"{proposal.referentiel_id}@{proposal.referentiel_version}"
                   f"#{proposal.competence_code}",
        "proposed_by": {"id": proposal.proposed_by_id, "name": proposal.proposed_by_name},
        "status": status,
        "created_at": iso(proposal.created_at),
        "decided_at": iso(proposal.decided_at),
    }


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    """Links are null for a variant that has no file, and all three for evidence with no
    file at all (kind ``moodle``: a completion noted by the sync)."""

    def link(variant: str, path: str | None) -> str | None:
        if not path or evidence.kind == "moodle":
            return None
        return url_for("api.evidence_file", evidence_id=evidence.id, variant=variant)

    return {
        "id": evidence.id,
        "task_id": evidence.task_id,
        "kind": evidence.kind,
        "content_type": evidence.content_type,
        "size": evidence.size,
        "sha256": evidence.sha256,
        "width": evidence.width,
        "height": evidence.height,
        "original_name": evidence.original_name,
        "caption": evidence.caption,
        "created_by": evidence.created_by_id,
        "created_at": iso(evidence.created_at),
        "deleted_at": iso(evidence.deleted_at),
        "links": {
            "full": link("full", evidence.storage_path),
            "medium": link("medium", evidence.medium_path),
            "preview": link("preview", evidence.preview_path),
        },
    }


def task_json(task: Task, *, detail: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": task.id,
        "parcours_id": task.parcours_id,
        "title": task.title,
        "description": task.description,
        "where": task.where,
        "how": task.how,
        "tools": task.tools,
        "frequency": task.frequency,
        "started_on": iso(task.started_on),
        "ended_on": iso(task.ended_on),
        "source": task.source.value,
        # « Ne pas mettre dans le dossier »: the candidat's choice (issue 16).
        "out_of_dossier": task.out_of_dossier,
        # For a task the sync made from a Moodle module (else null): whether Moodle still
        # counts the module as completed, so a page can say it no longer does.
        "moodle_cmid": task.moodle_cmid,
        "moodle_completed": task.moodle_completed,
        "moodle_completed_at": iso(task.moodle_completed_at),
        "version": task.version,
        "created_by": task.created_by_id,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "deleted_at": iso(task.deleted_at),
    }
    if detail:
        data["tags"] = [tag_json(t) for t in task.tags]
        data["evidence"] = [evidence_json(e) for e in task.evidence if e.deleted_at is None]
    return data


def review_json(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "parcours_id": review.parcours_id,
        "referentiel_id": review.referentiel_id,
        "referentiel_version": review.referentiel_version,
        "competence_code": review.competence_code,
        "verdict": review.verdict.value,
        "comment": review.comment,
        "reviewer": {"id": review.reviewer_id, "name": review.reviewer_name},
        "created_at": iso(review.created_at),
    }


def item_json(item: Item) -> dict[str, Any]:
    return {
        "address": item.address,
        "referentiel_id": item.referentiel_id,
        "referentiel_version": item.referentiel_version,
        "code": item.code,
        "kind": item.kind,
        "intitule": item.intitule,
        "falc": item.falc,
        "picto": item.picto,
        "bloc": {"code": item.bloc_code, "intitule": item.bloc_intitule, "falc": item.bloc_falc},
    }


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    return {
        **item_json(proposal.item),
        "score": proposal.score,
        "already_tagged": proposal.already_tagged,
    }


def history_json(entry: HistoryEntry, name: str) -> dict[str, Any]:
    return {
        "id": entry.id,
        "action": entry.action,
        "detail": entry.detail,
        "actor": {"id": entry.actor_id, "name": name},
        "at": iso(entry.at),
    }


def coverage_json(cov: ParcoursProgress) -> dict[str, Any]:
    data = asdict(cov)
    data["last_activity_at"] = iso(cov.last_activity_at) if cov.last_activity_at else None
    for ref in data["referentiels"]:
        for bloc in ref["blocs"]:
            if bloc["review"] is not None:
                bloc["review"]["at"] = iso(bloc["review"]["at"])
            for item in bloc["items"]:
                if item["review"] is not None:
                    item["review"]["at"] = iso(item["review"]["at"])
    return data


def referentiel_summary(ref: Referentiel) -> dict[str, Any]:
    whole = completeness(ref)
    life = lifecycle(ref)
    return {
        "id": ref.id,
        "version": ref.version,
        "intitule": ref.intitule,
        "rncp": ref.rncp,
        "certificateur": ref.certificateur,
        "niveau": ref.niveau,
        "status": ref.status,
        "complete": whole.complete,
        "missing": list(whole.missing),
        "echeance": life.echeance,
        "active": life.active,
        "expired": life.expired,
        "successors": list(life.successors),
    }


def referentiel_json(ref: Referentiel) -> dict[str, Any]:
    return {
        **referentiel_summary(ref),
        "blocs": [
            {
                "code": b.code,
                "intitule": b.intitule,
                "falc": b.falc,
                "picto": b.picto,
                "competences": [
                    {"code": c.code, "intitule": c.intitule, "falc": c.falc, "picto": c.picto,
                     "truncated": c.truncated}
                    for c in b.competences
                ],
            }
            for b in ref.blocs
        ],
        "items": [item_json(i) for i in items_of(ref)],
    }
