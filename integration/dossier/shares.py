"""Shares of a parcours' folder with the course's accompagnateurs (Nextcloud only), by the
platform's rule for their Nextcloud user names (`PlatformSettings.nextcloud_user`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.storage import (
    StorageError,
    Store,
)

from ..db import transaction
from ..models import (
    Course,
    DossierFolder,
    Membership,
    Parcours,
    ParcoursAccompagnateur,
    Person,
    Platform,
    Role,
)
from ..platform_settings import PlatformSettings

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)



SHARE_PERMISSIONS = 15  # read, update, create, delete (no re-share)
# --- shares (Nextcloud only) ----------------------------------------------------------------


def _is_nextcloud(store: Store) -> bool:
    return bool(getattr(store, "is_nextcloud", False)) and hasattr(store, "create_share")


def nextcloud_user(person: Person, rule: str) -> str:
    """The Nextcloud user name of a person by the platform's rule ('' when unknown)."""
    if rule == "username":
        return person.username.strip()
    if rule == "email":
        return person.email.strip()
    if rule == "email_localpart":
        return person.email.strip().partition("@")[0] if "@" in person.email else ""
    if rule == "sub":
        return person.sub.strip()
    return ""


def _wanted_users(session: Session, parcours: Parcours, rule: str) -> set[str]:
    """The course's accompagnateurs (and those following this parcours), as user names."""
    person_ids = set(session.scalars(
        select(Membership.person_id).where(
            Membership.course_id == parcours.course_id,
            Membership.role == Role.ACCOMPAGNATEUR,
        )
    ))
    person_ids |= set(session.scalars(
        select(ParcoursAccompagnateur.person_id).where(
            ParcoursAccompagnateur.parcours_id == parcours.id
        )
    ))
    person_ids.discard(parcours.person_id)
    users, unnamed = set(), []
    for person in session.scalars(select(Person).where(Person.id.in_(person_ids))):
        user = nextcloud_user(person, rule)
        if user:
            users.add(user)
        else:
            unnamed.append(person.id)
    if unnamed:
        log.warning("parcours %s: no Nextcloud user name by the rule %r for person(s) %s "
                    "(with 'username': the platform sent no user_username); not shared with "
                    "them", parcours.id, rule, sorted(unnamed))
    return users


def ensure_shares(runtime: Runtime, parcours_id: int, *, store: Store | None = None) -> list[str]:
    """Share the parcours' folder with its accompagnateurs (idempotent); returns problems.

    Only with a Nextcloud store and a rule set on the platform. The server is asked only
    when the wanted people differ from the shares Repères made, or the last try failed;
    it is asked first what is shared already. Shares Repères made for someone who is no
    longer an accompagnateur of the course are removed; others are never touched.
    """
    store = store if store is not None else runtime.store
    if not _is_nextcloud(store):
        return []
    with transaction(runtime.sessions) as session:
        parcours = session.get(Parcours, parcours_id)
        folder = session.scalar(
            select(DossierFolder).where(DossierFolder.parcours_id == parcours_id)
        )
        if parcours is None or folder is None:
            return []
        course = session.get(Course, parcours.course_id)
        platform = session.get(Platform, course.platform_id) if course else None
        rule = PlatformSettings.of(platform).nextcloud_user
        if not rule:
            return []
        wanted = _wanted_users(session, parcours, rule)
        own = getattr(store, "username", None)
        wanted.discard(own or "")
        made: dict[str, Any] = dict(folder.shares or {})
        if set(made) == wanted and not folder.share_error:
            return []
        folder_id, path = folder.id, folder.path
    problems: list[str] = []
    try:
        existing = store.list_shares(path)  # type: ignore[attr-defined]
    except StorageError as error:
        problems.append(str(error))
        existing = None
    if existing is not None:
        by_user = {s.share_with: s for s in existing if s.share_type == 0 and s.share_with}
        for user in sorted(wanted):
            if user in by_user:
                made[user] = by_user[user].id
                continue
            try:
                share = store.create_share(  # type: ignore[attr-defined]
                    path, user, 0, SHARE_PERMISSIONS
                )
                made[user] = share.id
            except StorageError as error:
                problems.append(f"{user}: {error}")
        for user in sorted(set(made) - wanted):
            share_id = made.pop(user)
            found = by_user.get(user)
            if found is not None and str(found.id) == str(share_id):
                try:
                    store.delete_share(share_id)  # type: ignore[attr-defined]
                except StorageError as error:
                    problems.append(f"{user}: {error}")
                    made[user] = share_id
    with transaction(runtime.sessions) as session:
        folder = session.get(DossierFolder, folder_id)
        if folder is not None:
            folder.shares = made
            folder.share_error = "\n".join(problems)[:4000]
    for problem in problems:
        log.warning("sharing the folder of parcours %s: %s", parcours_id, problem)
    return problems


def remember_web_url(runtime: Runtime, folder_id: int, store: Store) -> str | None:
    """The link that opens the folder in Nextcloud, asked once and kept."""
    with transaction(runtime.sessions) as session:
        folder = session.get(DossierFolder, folder_id)
        if folder is None or folder.web_url:
            return folder.web_url if folder else None
        path = folder.path
    try:
        url = store.web_url(path)
    except StorageError as error:
        log.info("no link for dossier folder %s yet: %s", folder_id, error)
        return None
    if url:
        with transaction(runtime.sessions) as session:
            folder = session.get(DossierFolder, folder_id)
            if folder is not None:
                folder.web_url = url[:1000]
    return url


def _retry_shares(runtime: Runtime, store: Store) -> None:
    if not _is_nextcloud(store):
        return
    with transaction(runtime.sessions) as session:
        parcours_ids = list(session.scalars(
            select(DossierFolder.parcours_id).where(DossierFolder.share_error != "")
        ))
    for parcours_id in parcours_ids:
        ensure_shares(runtime, parcours_id, store=store)




# --- the rule applied at once, and what it cannot find ----------------------------------------


def accompagnateurs_without_user_name(session: Session, platform_id: int, rule: str) -> list[int]:
    """Ids of the platform's accompagnateurs the rule gives no Nextcloud user name for
    (with `username`: Moodle did not send `user_username` in their launches)."""
    people = session.scalars(
        select(Person).join(Membership, Membership.person_id == Person.id)
        .join(Course, Course.id == Membership.course_id)
        .where(Course.platform_id == platform_id, Membership.role == Role.ACCOMPAGNATEUR)
        .distinct()
    )
    return sorted(person.id for person in people if not nextcloud_user(person, rule))


def rule_warning(session: Session, platform_id: int, rule: str) -> str:
    """A warning for the operator when the rule will share with nobody or not everyone."""
    if not rule or rule == "none":
        return ""
    missing = accompagnateurs_without_user_name(session, platform_id, rule)
    if not missing:
        return ""
    hint = {
        "username": "the platform did not send user_username in their launches (Moodle sends "
                    "it in the LTI 'ext' claim; add a custom parameter "
                    "user_username=$User.username to the tool if yours does not)",
        "email": "the platform did not send their e-mail (tool privacy setting: share e-mail)",
        "email_localpart": "the platform did not send their e-mail (tool privacy setting)",
    }.get(rule, "the platform did not send what the rule needs")
    return (f"warning: {len(missing)} accompagnateur(s) have no Nextcloud user name by the "
            f"rule {rule!r} (person ids {', '.join(map(str, missing[:20]))}): {hint}; "
            "their folders are not shared with them")


def share_platform_folders(
    runtime: Runtime, platform_id: int, *, store: Store | None = None
) -> tuple[int, list[str]]:
    """Apply the sharing rule now to every dossier folder of the platform's parcours:
    (folders looked at, problems)."""
    store = store if store is not None else runtime.store
    if not _is_nextcloud(store):
        return 0, ["the store is not Nextcloud: nothing to share"]
    with transaction(runtime.sessions) as session:
        parcours_ids = list(session.scalars(
            select(DossierFolder.parcours_id)
            .join(Parcours, Parcours.id == DossierFolder.parcours_id)
            .join(Course, Course.id == Parcours.course_id)
            .where(Course.platform_id == platform_id)
            .order_by(DossierFolder.parcours_id)
        ))
    problems: list[str] = []
    for parcours_id in parcours_ids:
        problems += ensure_shares(runtime, parcours_id, store=store)
    return len(parcours_ids), problems
