"""Where a parcours' dossier and photos go in the store, with names people read:

    RAE/<course title>/<Nom Prénom>/Dossier de preuves - <Nom Prénom>.docx
    RAE/<course title>/<Nom Prénom>/Photos/<task title> - photo <id>.jpg

The folder of a parcours is chosen once and kept (`DossierFolder`): a namesake in the
same course gets « (2) », and renaming a course or a person later moves nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connectors.storage import (
    StorageError,
    join_path,
)

from ..models import (
    Course,
    DossierFolder,
    Parcours,
    Person,
    Platform,
)
from ..platform_settings import PlatformSettings

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ROOT_FOLDER = "RAE"
PHOTOS_FOLDER = "Photos"
DOSSIER_PREFIX = "Dossier de preuves - "
# Names longer than this (in UTF-8 bytes) are cut: the longest file name we make stays
# far below the 255 bytes most file systems and Nextcloud accept.
MAX_NAME_BYTES = 120
_MAX_ALTERNATES = 50
# Windows (Nextcloud's desktop client) refuses these in names; they are replaced.
_REPLACED = {":": " - ", "/": "-", "\\": "-", "|": "-", '"': "'", "*": "", "?": "",
             "<": "", ">": ""}
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)

# --- names --------------------------------------------------------------------------------


def clean_name(text: str, fallback: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """`text` as a file or folder name: NFC, one line, no `/` or other character that a
    file system or Nextcloud client refuses, trimmed, at most `max_bytes`; else `fallback`."""
    value = unicodedata.normalize("NFC", str(text or ""))
    value = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
        and c not in "\u200d" else _REPLACED.get(c, c)
        for c in value
    )
    value = " ".join(value.split())
    value = _cut(value, max_bytes).strip(" .-")
    if not value:
        value = fallback
    if _WINDOWS_RESERVED.match(value):
        value = f"{value} _"
    return value


def _cut(value: str, max_bytes: int) -> str:
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip()


def person_name(person: Person) -> str:
    """« Nom Prénom », as folders and file names write a person (family name first)."""
    family, given = person.family_name.strip(), person.given_name.strip()
    text = f"{family} {given}".strip() if family or given else person.name.strip()
    return clean_name(text, f"Personne {person.id}")


def dossier_file_name(name: str) -> str:
    return f"{DOSSIER_PREFIX}{name}.docx"


def alternate_names(name: str, when: datetime) -> Iterator[str]:
    """Names for a new dossier when the usual one was edited: the day, the time, a number."""
    day = when.strftime("%d-%m-%Y")
    hour = f"{when.hour}h{when.minute:02d}"
    yield f"{DOSSIER_PREFIX}{name} (version du {day}).docx"
    yield f"{DOSSIER_PREFIX}{name} (version du {day} {hour}).docx"
    for number in range(2, _MAX_ALTERNATES):
        yield f"{DOSSIER_PREFIX}{name} (version du {day} {hour}) ({number}).docx"


def photo_file_name(task_title: str, evidence_id: int) -> str:
    return f"{clean_name(task_title, 'Photo', max_bytes=80)} - photo {evidence_id}.jpg"


# --- the folder of a parcours -------------------------------------------------------------


def ensure_folder(session: Session, parcours: Parcours) -> DossierFolder:
    """The folder of this parcours, chosen now if it has none (stable afterwards)."""
    folder = session.scalar(select(DossierFolder).where(DossierFolder.parcours_id == parcours.id))
    if folder is not None:
        return folder
    course = session.get(Course, parcours.course_id)
    person = session.get(Person, parcours.person_id)
    assert course is not None and person is not None
    platform = session.get(Platform, course.platform_id)
    root = clean_name(PlatformSettings.of(platform).dossier_folder or ROOT_FOLDER, ROOT_FOLDER)
    course_name = clean_name(course.title or course.label, f"Cours {course.id}")
    name = person_name(person)
    base = join_path(root, course_name)
    taken = {
        p.casefold()
        for p in session.scalars(
            select(DossierFolder.path).where(DossierFolder.parent == base)
        )
    }
    for number in range(1, 1000):
        candidate = join_path(base, name if number == 1 else f"{name} ({number})")
        if candidate.casefold() in taken:
            continue
        try:
            with session.begin_nested():
                folder = DossierFolder(parcours_id=parcours.id, path=candidate, parent=base,
                                       name=name, shares={})
                session.add(folder)
                session.flush()
            return folder
        except IntegrityError:
            # A namesake took it at the same moment, or this parcours got its folder.
            existing = session.scalar(
                select(DossierFolder).where(DossierFolder.parcours_id == parcours.id)
            )
            if existing is not None:
                return existing
            taken.add(candidate.casefold())
    raise StorageError(f"no free folder name below {base!r}")


def folder_paths(session: Session, parcours_ids: Sequence[int]) -> list[str]:
    """The shared folders of these parcours (dossiers, edited copies, photos): what an
    erasure removes from the store, besides the evidence files."""
    return list(session.scalars(
        select(DossierFolder.path).where(DossierFolder.parcours_id.in_(list(parcours_ids)))
    ))


