"""The parcours: tasks, evidence, tags, suggestions, reviews, steps — as plain services.

Every service takes the session, the acting person (`integration.auth.Actor`) and the
adapters it talks to (a `connectors.storage.Store`, a `referentiels.Catalog`). None of
them touches `flask.request` or commits: the caller owns the transaction.
"""

from .errors import (
    Conflict,
    FileTooLarge,
    Forbidden,
    Invalid,
    NotFound,
    ParcoursError,
    StaleVersion,
    StorageFailed,
    UnsupportedFile,
)
from .evidence import (
    EvidenceFile,
    attach_evidence,
    delete_evidence,
    get_evidence,
    list_evidence,
    open_evidence_file,
    restore_evidence,
    set_caption,
)
from .history import history
from .progress import ParcoursProgress, parcours_progress
from .reviews import add_review, list_reviews
from .services import (
    RecognitionInput,
    ReferentielChoice,
    change_status,
    get_or_create_parcours,
    get_parcours,
    list_parcours,
    set_accompagnateurs,
    set_jury_date,
    set_modalite,
    set_projet,
    set_referentiels,
)
from .suggestions import Proposal, suggest_for_task, suggest_for_text
from .tags import add_tag, list_tags, remove_tag, update_tag_comment
from .tasks import create_task, delete_task, get_task, list_tasks, restore_task, update_task

__all__ = [
    "Conflict",
    "ParcoursProgress",
    "EvidenceFile",
    "FileTooLarge",
    "Forbidden",
    "Invalid",
    "NotFound",
    "ParcoursError",
    "Proposal",
    "RecognitionInput",
    "ReferentielChoice",
    "StaleVersion",
    "StorageFailed",
    "UnsupportedFile",
    "add_review",
    "add_tag",
    "attach_evidence",
    "change_status",
    "parcours_progress",
    "create_task",
    "delete_evidence",
    "delete_task",
    "get_evidence",
    "get_or_create_parcours",
    "get_parcours",
    "get_task",
    "history",
    "list_evidence",
    "list_parcours",
    "list_reviews",
    "list_tags",
    "list_tasks",
    "open_evidence_file",
    "remove_tag",
    "restore_evidence",
    "restore_task",
    "set_accompagnateurs",
    "set_caption",
    "set_jury_date",
    "set_modalite",
    "set_projet",
    "set_referentiels",
    "suggest_for_task",
    "suggest_for_text",
    "update_tag_comment",
    "update_task",
]
