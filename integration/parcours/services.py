"""The parcours itself: getting one, choosing référentiels and modalité, its steps.

Every function receives the session and the acting person (see STYLE.md: services are
plain functions; the caller owns the transaction and commits). Each checks the actor's
right first, then changes the rows and writes a history line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from referentiels import Catalog, ReferentielError

from ..actor import Actor
from ..models import (
    Course,
    Modalite,
    Parcours,
    ParcoursAccompagnateur,
    ParcoursReferentiel,
    ParcoursStatus,
    Person,
    Recognition,
    utcnow,
)
from .access import (
    holds_accompagnateur_role,
    parcours_for,
    require_accompagnateur,
    require_own_words,
    visible_parcours,
)
from .catalog import resolve
from .errors import Conflict, Forbidden, Invalid, NotFound, StaleVersion
from .history import record
from .items import recognisable_codes
from .text import clean_text

MAX_REFERENTIELS = 5

STATUS_ORDER = (
    ParcoursStatus.EN_PREPARATION,
    ParcoursStatus.PRET_POUR_LE_JURY,
    ParcoursStatus.PRESENTE,
    ParcoursStatus.RECONNU,
)
STATUS_WORDS = {
    ParcoursStatus.EN_PREPARATION: "en préparation",
    ParcoursStatus.PRET_POUR_LE_JURY: "prêt pour le jury",
    ParcoursStatus.PRESENTE: "présenté au jury",
    ParcoursStatus.RECONNU: "reconnu",
}


class _Unset:
    pass


UNSET = _Unset()


def check_version(current: int, expected: int | None) -> None:
    """StaleVersion when the caller edited an older version than the stored one."""
    if expected is not None and current != expected:
        raise StaleVersion(
            "Quelqu’un a changé cette fiche pendant que vous l’écriviez. "
            "Rechargez la page : vos changements ne sont pas encore enregistrés.",
            current_version=current,
        )


def _touch(parcours: Parcours) -> None:
    # Changing the row bumps its version, so that a concurrent writer sees a conflict.
    parcours.updated_at = utcnow()


def _require_preparation(parcours: Parcours, what: str) -> None:
    if parcours.status is not ParcoursStatus.EN_PREPARATION:
        raise Conflict(
            f"Le parcours est « {STATUS_WORDS[parcours.status]} ». "
            f"Pour changer {what}, un accompagnateur le remet d’abord en préparation."
        )


# --- getting a parcours ----------------------------------------------------------------


def get_or_create_parcours(
    session: Session, actor: Actor, *, catalog: Catalog | None = None
) -> Parcours:
    """The candidat's parcours in the course of their launch, created on first use.

    When the course offers exactly one référentiel, a new parcours starts with it.
    Safe when two first visits arrive at once: both get the same parcours.
    """
    if not actor.is_candidat:
        raise Forbidden(
            "Ici, seul un candidat a son propre parcours. "
            "Ouvrez la liste des parcours de votre cours."
        )
    course = session.get(Course, actor.course_id)
    person = session.get(Person, actor.person_id)
    if (
        course is None
        or person is None
        or course.platform_id != actor.platform_id
        or person.platform_id != actor.platform_id
    ):
        raise NotFound("Ce cours n’existe pas ici. Relancez Repères depuis votre cours Moodle.")
    stmt = select(Parcours).where(
        Parcours.person_id == actor.person_id, Parcours.course_id == actor.course_id
    )
    existing = session.scalars(stmt).first()
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            parcours = Parcours(person_id=actor.person_id, course_id=actor.course_id)
            session.add(parcours)
            session.flush()
            offered = list(course.referentiels or [])
            if catalog is not None and len(offered) == 1:
                try:
                    ref = resolve(catalog, offered[0])
                except ReferentielError:
                    ref = None
                if ref is not None:
                    session.add(
                        ParcoursReferentiel(
                            parcours_id=parcours.id,
                            referentiel_id=ref.id,
                            referentiel_version=ref.version,
                        )
                    )
            record(session, parcours.id, actor, "parcours.created")
            session.flush()
    except IntegrityError:
        # Another request created it first: use theirs.
        existing = session.scalars(stmt).first()
        if existing is None:
            raise
        return existing
    session.refresh(parcours)
    return parcours


def get_parcours(session: Session, actor: Actor, parcours_id: int) -> Parcours:
    return parcours_for(session, actor, parcours_id)


def list_parcours(
    session: Session, actor: Actor, *, course_id: int | None = None
) -> list[Parcours]:
    """The parcours of one course the actor may see (by default the course of the launch)."""
    stmt = visible_parcours(actor).where(
        Parcours.course_id == (course_id if course_id is not None else actor.course_id)
    ).options(
        # What a list shows of each parcours, in a fixed number of queries.
        joinedload(Parcours.person), joinedload(Parcours.course),
        selectinload(Parcours.referentiels),
        selectinload(Parcours.accompagnateurs).joinedload(ParcoursAccompagnateur.person),
    )
    return list(session.scalars(stmt.order_by(Parcours.id)).unique())


# --- choices: modalité, référentiels, projet -------------------------------------------


def set_modalite(
    session: Session,
    actor: Actor,
    parcours_id: int,
    modalite: str | None,
    *,
    expected_version: int | None = None,
) -> Parcours:
    """Choose how the person will show their compétences (or None: not chosen yet)."""
    parcours = parcours_for(session, actor, parcours_id)
    check_version(parcours.version, expected_version)
    if modalite is None or modalite == "":
        new: Modalite | None = None
    else:
        try:
            new = Modalite(modalite)
        except ValueError:
            raise Invalid(
                "Choisissez une modalité : concret, abstrait ou transfert.", field="modalite"
            ) from None
    if parcours.modalite is new:
        return parcours
    _require_preparation(parcours, "la modalité")
    old = parcours.modalite.value if parcours.modalite else None
    parcours.modalite = new
    _touch(parcours)
    record(session, parcours.id, actor, "modalite.changed",
           old=old, new=new.value if new else None)
    session.flush()
    return parcours


@dataclass(frozen=True)
class ReferentielChoice:
    referentiel_id: str
    version: str | None = None


def _offered_allows(offered: Sequence[str], ref_id: str, version: str) -> bool:
    if not offered:
        return True
    for entry in offered:
        oid, _, over = entry.partition("@")
        if oid == ref_id and (not over or over == version):
            return True
    return False


def set_referentiels(
    session: Session,
    actor: Actor,
    parcours_id: int,
    choices: Sequence[ReferentielChoice],
    *,
    catalog: Catalog,
    expected_version: int | None = None,
) -> Parcours:
    """Choose the référentiel(s) of the parcours, each in one version (latest in force if none).

    Tags already made keep the version they were made against.
    """
    parcours = parcours_for(session, actor, parcours_id)
    check_version(parcours.version, expected_version)
    if len(choices) > MAX_REFERENTIELS:
        raise Invalid(
            f"Choisissez {MAX_REFERENTIELS} référentiels au plus.", field="referentiels"
        )
    offered = list(parcours.course.referentiels or [])
    wanted: dict[str, str] = {}
    for choice in choices:
        try:
            ref = resolve(catalog, choice.referentiel_id, choice.version)
        except ReferentielError:
            raise Invalid(
                f"Le référentiel « {choice.referentiel_id}"
                f"{'@' + choice.version if choice.version else ''} » n’existe pas ici.",
                field="referentiels",
            ) from None
        if ref.id in wanted:
            raise Invalid(
                f"Le référentiel {ref.id} est choisi deux fois. Gardez une seule version.",
                field="referentiels",
            )
        if not _offered_allows(offered, ref.id, ref.version):
            raise Invalid(
                f"Le référentiel {ref.id}@{ref.version} n’est pas proposé dans ce cours.",
                field="referentiels",
            )
        wanted[ref.id] = ref.version
    current = {r.referentiel_id: r.referentiel_version for r in parcours.referentiels}
    if current == wanted:
        return parcours
    _require_preparation(parcours, "de référentiel")
    for row in list(parcours.referentiels):
        if row.referentiel_id not in wanted:
            parcours.referentiels.remove(row)
        elif row.referentiel_version != wanted[row.referentiel_id]:
            row.referentiel_version = wanted[row.referentiel_id]
    for ref_id, version in wanted.items():
        if ref_id not in current:
            parcours.referentiels.append(
                ParcoursReferentiel(referentiel_id=ref_id, referentiel_version=version)
            )
    _touch(parcours)
    record(
        session, parcours.id, actor, "referentiels.changed",
        old=[f"{i}@{v}" for i, v in current.items()],
        new=[f"{i}@{v}" for i, v in wanted.items()],
    )
    session.flush()
    return parcours


def set_projet(
    session: Session,
    actor: Actor,
    parcours_id: int,
    projet: object,
    *,
    expected_version: int | None = None,
) -> Parcours:
    """What the person wants to do next, in their words."""
    parcours = parcours_for(session, actor, parcours_id)
    require_own_words(actor, parcours)
    check_version(parcours.version, expected_version)
    text = clean_text(projet, "projet")
    if text == parcours.projet:
        return parcours
    old = parcours.projet
    parcours.projet = text
    _touch(parcours)
    record(session, parcours.id, actor, "projet.changed", old=old, new=text)
    session.flush()
    return parcours


def set_jury_date(
    session: Session,
    actor: Actor,
    parcours_id: int,
    jury_date: date | None,
    *,
    expected_version: int | None = None,
) -> Parcours:
    """The date of the jury (an accompagnateur sets it)."""
    parcours = parcours_for(session, actor, parcours_id)
    require_accompagnateur(actor, "Seul un accompagnateur fixe la date du jury.")
    check_version(parcours.version, expected_version)
    if parcours.jury_date == jury_date:
        return parcours
    old = parcours.jury_date.isoformat() if parcours.jury_date else None
    parcours.jury_date = jury_date
    _touch(parcours)
    record(session, parcours.id, actor, "jury_date.changed",
           old=old, new=jury_date.isoformat() if jury_date else None)
    session.flush()
    return parcours


def set_accompagnateurs(
    session: Session,
    actor: Actor,
    parcours_id: int,
    person_ids: Sequence[int],
    *,
    expected_version: int | None = None,
) -> Parcours:
    """Who follows this parcours: accompagnateurs of its course."""
    parcours = parcours_for(session, actor, parcours_id)
    require_accompagnateur(actor, "Seul un accompagnateur choisit les accompagnateurs.")
    check_version(parcours.version, expected_version)
    wanted = list(dict.fromkeys(person_ids))
    if len(wanted) > 10:
        raise Invalid("Choisissez 10 accompagnateurs au plus.", field="person_ids")
    for person_id in wanted:
        if not holds_accompagnateur_role(session, person_id, parcours.course_id):
            raise Invalid(
                "Cette personne n’est pas accompagnateur dans ce cours.", field="person_ids"
            )
    current = [a.person_id for a in parcours.accompagnateurs]
    if set(current) == set(wanted):
        return parcours
    for row in list(parcours.accompagnateurs):
        if row.person_id not in wanted:
            parcours.accompagnateurs.remove(row)
    for person_id in wanted:
        if person_id not in current:
            parcours.accompagnateurs.append(
                ParcoursAccompagnateur(person_id=person_id, added_by_id=actor.person_id)
            )
    _touch(parcours)
    record(session, parcours.id, actor, "accompagnateurs.changed", old=current, new=wanted)
    session.flush()
    return parcours


def follow(session: Session, actor: Actor, parcours: Parcours) -> None:
    """Add the acting accompagnateur to the parcours' accompagnateurs, once."""
    if actor.is_accompagnateur and all(
        a.person_id != actor.person_id for a in parcours.accompagnateurs
    ):
        try:
            with session.begin_nested():
                session.add(
                    ParcoursAccompagnateur(
                        parcours_id=parcours.id,
                        person_id=actor.person_id,
                        added_by_id=actor.person_id,
                    )
                )
                session.flush()
        except IntegrityError:
            pass  # added by a concurrent request
        session.expire(parcours, ["accompagnateurs"])


# --- the steps of a parcours -----------------------------------------------------------


@dataclass(frozen=True)
class RecognitionInput:
    referentiel_id: str
    referentiel_version: str
    code: str
    recognised: bool = True
    note: str = ""


def change_status(
    session: Session,
    actor: Actor,
    parcours_id: int,
    status: str,
    *,
    jury_date: date | None | _Unset = UNSET,
    recognitions: Sequence[RecognitionInput] = (),
    catalog: Catalog | None = None,
    expected_version: int | None = None,
) -> Parcours:
    """Move the parcours to its next step (or back to en_preparation).

    Steps go in order: en_preparation → pret_pour_le_jury → presente → reconnu. Only an
    accompagnateur changes them. `reconnu` records what the jury recognised, per bloc
    or compétence (partial recognition is normal).
    """
    parcours = parcours_for(session, actor, parcours_id)
    require_accompagnateur(actor, "Seul un accompagnateur change l’étape du parcours.")
    check_version(parcours.version, expected_version)
    try:
        target = ParcoursStatus(status)
    except ValueError:
        raise Invalid(
            "Étape inconnue. Choisissez : en_preparation, pret_pour_le_jury, presente ou reconnu.",
            field="status",
        ) from None
    current = parcours.status
    old_date = parcours.jury_date
    if not isinstance(jury_date, _Unset):
        parcours.jury_date = jury_date
    if target is not current and target is not ParcoursStatus.EN_PREPARATION:
        expected_next = STATUS_ORDER[STATUS_ORDER.index(current) + 1] if (
            current is not ParcoursStatus.RECONNU
        ) else None
        if target is not expected_next:
            after = (
                f"L’étape suivante est « {STATUS_WORDS[expected_next]} »."
                if expected_next
                else "Le parcours est déjà reconnu."
            )
            raise Conflict(
                f"Les étapes se suivent dans l’ordre. Le parcours est « {STATUS_WORDS[current]} ». "
                + after,
                field="status",
            )
    if target is ParcoursStatus.PRET_POUR_LE_JURY and target is not current:
        missing = []
        if not parcours.referentiels:
            missing.append("le référentiel")
        if parcours.modalite is None:
            missing.append("la modalité")
        if missing:
            raise Conflict(
                f"Avant le jury, choisissez {' et '.join(missing)}.", field="status"
            )
    if target is ParcoursStatus.PRESENTE and parcours.jury_date is None:
        raise Invalid("Écrivez la date du jury.", field="jury_date")
    if recognitions and target is not ParcoursStatus.RECONNU:
        raise Invalid(
            "Ce que le jury reconnaît s’écrit avec l’étape « reconnu ».", field="recognitions"
        )
    if recognitions:
        if catalog is None:
            raise ValueError("a catalog is needed to record recognitions")
        _record_recognitions(session, actor, parcours, recognitions, catalog)
    if target is current and parcours.jury_date == old_date and not recognitions:
        return parcours
    parcours.status = target
    parcours.closed_at = utcnow() if target is ParcoursStatus.RECONNU else None
    _touch(parcours)
    if target is not current:
        record(session, parcours.id, actor, "status.changed", old=current.value, new=target.value)
    if parcours.jury_date != old_date:
        record(session, parcours.id, actor, "jury_date.changed",
               old=old_date.isoformat() if old_date else None,
               new=parcours.jury_date.isoformat() if parcours.jury_date else None)
    session.flush()
    return parcours


def _record_recognitions(
    session: Session,
    actor: Actor,
    parcours: Parcours,
    recognitions: Sequence[RecognitionInput],
    catalog: Catalog,
) -> None:
    chosen = {(r.referentiel_id, r.referentiel_version) for r in parcours.referentiels}
    existing = {
        (r.referentiel_id, r.referentiel_version, r.code): r
        for r in session.scalars(
            select(Recognition).where(Recognition.parcours_id == parcours.id)
        )
    }
    for item in recognitions:
        key = (item.referentiel_id, item.referentiel_version)
        ref = catalog.find(*key)
        if key not in chosen or ref is None:
            raise Invalid(
                f"Le référentiel {item.referentiel_id}@{item.referentiel_version} "
                "n’est pas choisi pour ce parcours.",
                field="recognitions",
            )
        if item.code not in recognisable_codes(ref):
            raise Invalid(
                f"Le code « {item.code} » n’existe pas dans {ref.id}@{ref.version}.",
                field="recognitions",
            )
        note = clean_text(item.note, "comment")
        row = existing.get((*key, item.code))
        if row is None:
            row = Recognition(
                parcours_id=parcours.id,
                referentiel_id=item.referentiel_id,
                referentiel_version=item.referentiel_version,
                code=item.code,
            )
            session.add(row)
            existing[(*key, item.code)] = row
        row.recognised = item.recognised
        row.note = note
        record(session, parcours.id, actor, "recognition.recorded",
               referentiel=f"{item.referentiel_id}@{item.referentiel_version}",
               code=item.code, recognised=item.recognised)
