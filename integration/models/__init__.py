"""The persisted domain of Repères (see DESIGN.md, "The data"), one module per part.

Everything is scoped to a Platform: people, courses and through them parcours.
Référentiel addresses are stored as (referentiel_id, referentiel_version, competence_code)
so that a tag keeps the version it was made against. Importing this package registers
every table (Alembic and the tests rely on it); its names are the domain's interface.
"""

from __future__ import annotations

from .candidat import Draft, Handoff
from .moodle import (
    MAPPING_CONFIRMED,
    MAPPING_REJECTED,
    ActivityMapping,
    SyncRun,
)
from .operations import (
    AuditLine,
    Lock,
    ReferentielRecord,
)
from .parcours import (
    ActivityComment,
    Evidence,
    HistoryEntry,
    Parcours,
    ParcoursAccompagnateur,
    ParcoursReferentiel,
    Recognition,
    Review,
    Tag,
    TagProposal,
    Task,
    TaskSeen,
)
from .people import (
    Course,
    Deployment,
    Membership,
    Person,
    Platform,
    SessionRecord,
)
from .storage import (
    Dossier,
    DossierFolder,
    DossierTemplate,
    PendingWrite,
    PublishedPhoto,
)
from .types import (
    DossierState,
    EvidenceKind,
    Modalite,
    ParcoursStatus,
    Role,
    TaskSource,
    TZDateTime,
    Verdict,
    utcnow,
)

__all__ = [
    "ActivityComment",
    "ActivityMapping",
    "AuditLine",
    "Course",
    "Deployment",
    "Draft",
    "Dossier",
    "DossierFolder",
    "DossierState",
    "DossierTemplate",
    "Evidence",
    "Handoff",
    "EvidenceKind",
    "HistoryEntry",
    "Lock",
    "MAPPING_CONFIRMED",
    "MAPPING_REJECTED",
    "Membership",
    "Modalite",
    "Parcours",
    "ParcoursAccompagnateur",
    "ParcoursReferentiel",
    "ParcoursStatus",
    "PendingWrite",
    "Person",
    "Platform",
    "PublishedPhoto",
    "Recognition",
    "ReferentielRecord",
    "Review",
    "Role",
    "SessionRecord",
    "SyncRun",
    "TZDateTime",
    "Tag",
    "TagProposal",
    "Task",
    "TaskSeen",
    "TaskSource",
    "Verdict",
    "utcnow",
]
