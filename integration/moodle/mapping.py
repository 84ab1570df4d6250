"""Which compétences a Moodle course module develops: the links the sync tags with.

An accompagnateur or coordinateur links a module of the Moodle course (seen through
``core_course_get_contents``) to compétences of the course's référentiels. Where Moodle
itself links the module to competencies (``core_competency_list_course_module_
competencies``), those links are proposed, to be confirmed: a Moodle competency matches
one of our compétences when its idnumber (or else its shortname) is the compétence's
code, ``referentiel#code`` or its full address ``referentiel@version#code``.

A link is "confirmed" (the sync tags with it) or "rejected": a Moodle proposal that a
person left unticked when saving the module, kept so that it is not proposed again.
Ticking it later makes it confirmed.

Plain functions: they receive the session and the Moodle client; the caller commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.moodle import (
    Competency,
    MoodleClient,
    MoodleError,
    MoodleFunctionUnavailable,
)
from referentiels import Catalog, Referentiel, ReferentielError

from ..models import MAPPING_CONFIRMED, MAPPING_REJECTED, ActivityMapping, Course
from ..parcours.catalog import resolve
from ..parcours.items import Item, items_of

log = logging.getLogger(__name__)

#: (referentiel id, version, compétence code): what a mapping and a tag point at.
Address = tuple[str, str, str]

#: How many modules may be linked to how many compétences; far above any real course.
MAX_LINKS_PER_MODULE = 60


def address_text(address: Address) -> str:
    ref_id, version, code = address
    return f"{ref_id}@{version}#{code}"


def parse_address_text(text: str) -> Address | None:
    """``id@version#code`` back to a tuple; None when the text is not one."""
    ref_id, at, rest = str(text).strip().partition("@")
    version, sharp, code = rest.partition("#")
    if not (at and sharp and ref_id and version and code):
        return None
    return (ref_id, version, code)


def item_address(item: Item) -> Address:
    return (item.referentiel_id, item.referentiel_version, item.code)


# --------------------------------------------------------------------------- référentiels


@dataclass
class Offer:
    """The référentiels a course offers, resolved; ``unknown`` lists entries not found."""

    referentiels: list[Referentiel] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[Item]:
        return [item for ref in self.referentiels for item in items_of(ref)]


def course_offer(course: Course, catalog: Catalog) -> Offer:
    """Resolve ``Course.referentiels`` ("id" for the latest in force, or "id@version")."""
    offer = Offer()
    seen: set[tuple[str, str]] = set()
    for entry in course.referentiels or []:
        try:
            ref = resolve(catalog, str(entry))
        except ReferentielError:
            offer.unknown.append(str(entry))
            continue
        if ref.key not in seen:
            seen.add(ref.key)
            offer.referentiels.append(ref)
    return offer


# --------------------------------------------------------------------------- modules


@dataclass(frozen=True)
class ModuleInfo:
    """A course module as the mapping page shows it."""

    cmid: int
    name: str
    modname: str
    section_name: str
    url: str | None
    tracks_completion: bool
    visible: bool


def course_modules(client: MoodleClient, moodle_course_id: int) -> list[ModuleInfo]:
    """Every module of the Moodle course, in course order."""
    contents = client.get_course_contents(moodle_course_id)
    modules: list[ModuleInfo] = []
    for section in contents.sections:
        section_name = section.name or f"Section {section.section}"
        for module in section.modules:
            modules.append(
                ModuleInfo(
                    cmid=module.id,
                    name=module.name or f"Module {module.id}",
                    modname=module.modname,
                    section_name=section_name,
                    # Shown as a link: only web addresses.
                    url=module.url if (module.url or "").startswith(("https://", "http://"))
                    else None,
                    tracks_completion=module.tracks_completion,
                    visible=module.visible,
                )
            )
    return modules


def mappings_by_module(session: Session, course_id: int) -> dict[int, list[ActivityMapping]]:
    """The confirmed links of a course, by module."""
    found: dict[int, list[ActivityMapping]] = {}
    rows = session.scalars(
        select(ActivityMapping)
        .where(
            ActivityMapping.course_id == course_id,
            ActivityMapping.status == MAPPING_CONFIRMED,
        )
        .order_by(ActivityMapping.moodle_cmid, ActivityMapping.id)
    )
    for row in rows:
        found.setdefault(row.moodle_cmid, []).append(row)
    return found


def rejected_by_module(session: Session, course_id: int) -> dict[int, set[Address]]:
    """The Moodle proposals a person refused, by module: never proposed again."""
    found: dict[int, set[Address]] = {}
    rows = session.execute(
        select(
            ActivityMapping.moodle_cmid,
            ActivityMapping.referentiel_id,
            ActivityMapping.referentiel_version,
            ActivityMapping.competence_code,
        ).where(
            ActivityMapping.course_id == course_id,
            ActivityMapping.status == MAPPING_REJECTED,
        )
    )
    for cmid, ref_id, version, code in rows:
        found.setdefault(cmid, set()).add((ref_id, version, code))
    return found


# --------------------------------------------------------------------------- proposals


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class ItemIndex:
    """Find our compétences by code, ``id#code`` or full address, ignoring case."""

    def __init__(self, items: Iterable[Item]) -> None:
        self._by_key: dict[str, list[Item]] = {}
        for item in items:
            for key in (
                item.code,
                f"{item.referentiel_id}#{item.code}",
                item.address,
            ):
                bucket = self._by_key.setdefault(_norm(key), [])
                if item not in bucket:
                    bucket.append(item)

    def find(self, text: str) -> list[Item]:
        return list(self._by_key.get(_norm(text), [])) if text.strip() else []

    def match(self, competency: Competency) -> list[Item]:
        """Our compétences a Moodle competency names: by idnumber, else by shortname."""
        return self.find(competency.idnumber) or self.find(competency.shortname)


@dataclass
class Proposals:
    """What Moodle's own competency links propose, by module.

    ``available`` is False when this Moodle cannot tell (function not in the token's
    service, or competencies turned off); ``errors`` counts modules Moodle failed on.
    """

    by_cmid: dict[int, list[Item]] = field(default_factory=dict)
    available: bool = True
    errors: int = 0

    def for_module(self, cmid: int) -> list[Item]:
        return self.by_cmid.get(cmid, [])


def proposals_for_module(
    client: MoodleClient,
    cmid: int,
    index: ItemIndex,
    rejected: Collection[Address] = (),
) -> list[Item]:
    """Our compétences matching Moodle's competency links of one module, in Moodle's order,
    except the ``rejected`` ones.

    Raises MoodleFunctionUnavailable when Moodle cannot list them.
    """
    found: list[Item] = []
    for link in sorted(client.list_course_module_competencies(cmid), key=lambda c: c.sortorder):
        for item in index.match(link.competency):
            if item not in found and item_address(item) not in rejected:
                found.append(item)
    return found


def fetch_proposals(
    open_client: Callable[[], tuple[MoodleClient, requests.Session]],
    cmids: Sequence[int],
    index: ItemIndex,
    *,
    rejected: Mapping[int, Collection[Address]] | None = None,
    workers: int = 4,
) -> Proposals:
    """Proposals for several modules, ``workers`` requests in flight at most, without the
    ``rejected`` ones (by module)."""
    proposals = Proposals()
    if not cmids:
        return proposals
    local = threading.local()
    opened: list[requests.Session] = []
    opened_lock = threading.Lock()
    unavailable = threading.Event()

    def one(cmid: int) -> tuple[int, list[Item] | None]:
        if unavailable.is_set():
            return cmid, None
        client = getattr(local, "client", None)
        if client is None:
            client, http = open_client()
            local.client = client
            with opened_lock:
                opened.append(http)
        try:
            return cmid, proposals_for_module(
                client, cmid, index, (rejected or {}).get(cmid, ())
            )
        except MoodleFunctionUnavailable:
            unavailable.set()
            return cmid, None
        except MoodleError as exc:
            log.info("Moodle competency links of module %s: %s", cmid, exc)
            return cmid, []

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(cmids)))) as pool:
            for cmid, items in pool.map(one, cmids):
                if items is None:
                    continue
                if items:
                    proposals.by_cmid[cmid] = items
    finally:
        for http in opened:
            http.close()
    proposals.available = not unavailable.is_set()
    return proposals


# --------------------------------------------------------------------------- saving


class MappingInvalid(ValueError):
    """A chosen compétence is not one the course offers (message in plain French)."""


@dataclass
class MappingChange:
    """Links confirmed (``added``), no longer confirmed (``removed``), and Moodle
    proposals newly refused (``rejected``)."""

    added: list[Address] = field(default_factory=list)
    removed: list[Address] = field(default_factory=list)
    rejected: list[Address] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.rejected)


def save_module_mapping(
    session: Session,
    *,
    course_id: int,
    cmid: int,
    module_name: str,
    chosen: Iterable[Address],
    allowed: Iterable[Address],
    person_id: int | None,
    proposed: Iterable[Address] = (),
) -> MappingChange:
    """Make the module's confirmed links exactly ``chosen``. Writes nothing when they
    already are.

    ``allowed`` is what may be chosen: the course's compétences and the links already
    stored (an old version stays choosable until it is unticked). Removing a link does
    not remove tags the sync already made: a person may have kept them on purpose.
    ``proposed`` are Moodle's proposals for the module: those not chosen are stored as
    rejected, so they are not proposed again; a rejected one chosen becomes confirmed.
    Rejected links stay rejected until chosen.
    """
    wanted: list[Address] = []
    for address in chosen:
        if address not in wanted:
            wanted.append(address)
    allowed_set = set(allowed)
    stray = [a for a in wanted if a not in allowed_set]
    if stray:
        raise MappingInvalid(
            f"La compétence {address_text(stray[0])} n’est pas proposée dans ce cours."
        )
    if len(wanted) > MAX_LINKS_PER_MODULE:
        raise MappingInvalid(
            f"Un module peut avoir {MAX_LINKS_PER_MODULE} compétences au plus."
        )
    rows = list(
        session.scalars(
            select(ActivityMapping).where(
                ActivityMapping.course_id == course_id, ActivityMapping.moodle_cmid == cmid
            )
        )
    )
    refused: list[Address] = []
    for address in proposed:
        if address in allowed_set and address not in wanted and address not in refused:
            refused.append(address)
    held = {(r.referentiel_id, r.referentiel_version, r.competence_code): r for r in rows}
    change = MappingChange()
    kept: list[ActivityMapping] = []
    for address, row in held.items():
        if address in wanted or row.status != MAPPING_CONFIRMED:
            kept.append(row)
            continue
        if address in refused:
            row.status = MAPPING_REJECTED
            change.rejected.append(address)
            kept.append(row)
        else:
            session.delete(row)
        change.removed.append(address)
    name = module_name.strip()[:500]
    for address in wanted:
        existing = held.get(address)
        if existing is not None:
            if existing.status != MAPPING_CONFIRMED:
                existing.status = MAPPING_CONFIRMED
                existing.created_by_id = person_id
                change.added.append(address)
            continue
        _add(session, course_id, cmid, name, address, MAPPING_CONFIRMED, person_id)
        change.added.append(address)
    for address in refused:
        if address not in held:
            _add(session, course_id, cmid, name, address, MAPPING_REJECTED, person_id)
            change.rejected.append(address)
    # Keep the module's name fresh on the rows kept, only when it changed.
    if name:
        for row in kept:
            if row.module_name != name:
                row.module_name = name
    if change.changed:
        session.flush()
    return change


def _add(
    session: Session,
    course_id: int,
    cmid: int,
    name: str,
    address: Address,
    status: str,
    person_id: int | None,
) -> None:
    ref_id, version, code = address
    session.add(
        ActivityMapping(
            course_id=course_id,
            moodle_cmid=cmid,
            module_name=name,
            referentiel_id=ref_id,
            referentiel_version=version,
            competence_code=code,
            status=status,
            created_by_id=person_id,
        )
    )


def accept_proposals(
    session: Session,
    *,
    course_id: int,
    proposals: Mapping[int, Sequence[Item]],
    module_names: Mapping[int, str],
    allowed: Iterable[Address],
    person_id: int | None,
) -> list[int]:
    """Confirm Moodle's proposals for every module that has no confirmed link yet, except
    the proposals refused before. Returns the cmids of the modules linked."""
    held = mappings_by_module(session, course_id)
    rejected = rejected_by_module(session, course_id)
    allowed_list = list(allowed)
    done: list[int] = []
    for cmid, items in proposals.items():
        refused = rejected.get(cmid, set())
        chosen = [item_address(i) for i in items if item_address(i) not in refused]
        if cmid in held or not chosen:
            continue
        save_module_mapping(
            session,
            course_id=course_id,
            cmid=cmid,
            module_name=module_names.get(cmid, ""),
            chosen=chosen,
            allowed=allowed_list,
            person_id=person_id,
        )
        done.append(cmid)
    return done
