"""Linking Moodle course modules to compétences, and Moodle's own links as proposals."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from connectors.moodle import Competency, MoodleClient
from integration.models import ActivityMapping, Course
from integration.moodle.mapping import (
    ItemIndex,
    MappingInvalid,
    accept_proposals,
    course_modules,
    course_offer,
    fetch_proposals,
    item_address,
    mappings_by_module,
    proposals_for_module,
    rejected_by_module,
    save_module_mapping,
)
from referentiels import Catalog
from tests.test_sync_support import (  # noqa: F401  (fixtures)
    REF,
    World,
    address,
    fake_moodle_fixture,
    fast_client,
    snapshot,
    world_fixture,
)


def aph_items():  # type: ignore[no-untyped-def]
    course = Course(referentiels=[f"{REF[0]}@{REF[1]}"])
    return course_offer(course, Catalog.shipped()).items


def competency(shortname: str, idnumber: str = "") -> Competency:
    return Competency(
        id=1, shortname=shortname, idnumber=idnumber, description="",
        competencyframeworkid=1, parentid=0, path="/0/", sortorder=0, raw={},
    )


def test_a_course_offer_resolves_its_referentiels_and_names_the_unknown() -> None:
    course = Course(referentiels=[f"{REF[0]}@{REF[1]}", "NOPE@1", f"{REF[0]}@{REF[1]}"])
    offer = course_offer(course, Catalog.shipped())
    assert [r.key for r in offer.referentiels] == [REF]
    assert offer.unknown == ["NOPE@1"]
    assert [i.code for i in offer.items] == ["C1", "C2", "C3", "C4", "C5", "C6"]


@pytest.mark.parametrize(
    ("shortname", "idnumber", "expected"),
    [
        ("Entretien manuel", "C3", ["C3"]),  # idnumber is the code
        ("c2", "", ["C2"]),  # else the shortname, any case
        ("x", "TP-APH#C1", ["C1"]),  # référentiel#code
        ("x", "TP-APH@2008-08-13#C6", ["C6"]),  # full address
        ("Autre chose", "RAE-C1.1", []),  # nothing of ours
        ("C5", "RAE-C1.1", ["C5"]),  # an unknown idnumber falls back to the shortname
    ],
)
def test_a_moodle_competency_matches_our_competence_by_code(
    shortname: str, idnumber: str, expected: list[str]
) -> None:
    index = ItemIndex(aph_items())
    assert [i.code for i in index.match(competency(shortname, idnumber))] == expected


def open_client(world: World):  # type: ignore[no-untyped-def]
    def opener() -> tuple[MoodleClient, requests.Session]:
        http = requests.Session()
        return fast_client(world.fake.url, world.fake.token, http), http

    return opener


def test_moodle_links_are_proposed(world: World) -> None:
    world.fake.link_competency(2, 10, "Entretien manuel des sols", "C2")
    world.fake.link_competency(2, 11, "C4")
    world.fake.link_competency(2, 12, "Analyser son expérience", "RAE-B1")
    index = ItemIndex(aph_items())
    client, http = open_client(world)()
    try:
        assert [i.code for i in proposals_for_module(client, 2, index)] == ["C2", "C4"]
        modules = course_modules(client, 2)
    finally:
        http.close()
    assert [(m.cmid, m.name, m.tracks_completion) for m in modules][:2] == [
        (1, "Présentation", True),
        (2, "Livret 1", True),
    ]
    proposals = fetch_proposals(open_client(world), [1, 2, 3], index)
    assert proposals.available
    assert {cmid: [i.code for i in items] for cmid, items in proposals.by_cmid.items()} == {
        2: ["C2", "C4"]
    }


def test_without_moodle_competencies_nothing_is_proposed(world: World) -> None:
    world.fake.remove_function("core_competency_list_course_module_competencies")
    proposals = fetch_proposals(open_client(world), [1, 2], ItemIndex(aph_items()))
    assert not proposals.available and proposals.by_cmid == {}


def test_saving_a_module_mapping_writes_only_the_difference(world: World) -> None:
    allowed = [item_address(i) for i in aph_items()]
    with world.sessions.begin() as session:
        change = save_module_mapping(
            session, course_id=world.course_id, cmid=4, module_name="Forum",
            chosen=[address("C1"), address("C6"), address("C1")], allowed=allowed,
            person_id=world.people["claire"],
        )
    assert change.added == [address("C1"), address("C6")] and not change.removed
    before = snapshot(world.sessions)
    with world.sessions.begin() as session:
        again = save_module_mapping(
            session, course_id=world.course_id, cmid=4, module_name="Forum",
            chosen=[address("C6"), address("C1")], allowed=allowed, person_id=None,
        )
    assert not again.changed
    assert snapshot(world.sessions) == before
    with world.sessions.begin() as session:
        fewer = save_module_mapping(
            session, course_id=world.course_id, cmid=4, module_name="Forum",
            chosen=[address("C6")], allowed=allowed, person_id=None,
        )
    assert fewer.removed == [address("C1")]
    with world.sessions() as session:
        rows = mappings_by_module(session, world.course_id)[4]
        assert [(r.competence_code, r.module_name, r.created_by_id) for r in rows] == [
            ("C6", "Forum", world.people["claire"])
        ]


def test_a_competence_the_course_does_not_offer_is_refused(world: World) -> None:
    allowed = [item_address(i) for i in aph_items()]
    with world.sessions.begin() as session, pytest.raises(MappingInvalid):
        save_module_mapping(
            session, course_id=world.course_id, cmid=4, module_name="Forum",
            chosen=[("TP-AM", "2014-02-23", "1.1")], allowed=allowed, person_id=None,
        )


def test_accepting_proposals_links_only_modules_without_links(world: World) -> None:
    items = aph_items()
    by_code = {i.code: i for i in items}
    with world.sessions.begin() as session:
        done = accept_proposals(
            session,
            course_id=world.course_id,
            proposals={1: [by_code["C6"]], 4: [by_code["C3"], by_code["C4"]]},
            module_names={4: "Forum"},
            allowed=[item_address(i) for i in items],
            person_id=None,
        )
    assert done == [4]
    with world.sessions() as session:
        codes = session.scalars(
            select(ActivityMapping.competence_code).where(ActivityMapping.moodle_cmid == 1)
        ).all()
    assert codes == ["C1"]  # module 1 already had its link: untouched


def test_unticked_proposals_are_remembered_and_not_proposed_again(world: World) -> None:
    world.fake.link_competency(4, 40, "C3")
    world.fake.link_competency(4, 41, "C4")
    allowed = [item_address(i) for i in aph_items()]
    with world.sessions.begin() as session:
        change = save_module_mapping(
            session, course_id=world.course_id, cmid=4, module_name="Forum",
            chosen=[address("C3")], allowed=allowed, person_id=world.people["claire"],
            proposed=[address("C3"), address("C4")],
        )
    assert change.added == [address("C3")] and change.rejected == [address("C4")]
    with world.sessions() as session:
        assert [r.competence_code for r in mappings_by_module(session, world.course_id)[4]] == [
            "C3"
        ]
        rejected = rejected_by_module(session, world.course_id)
    assert rejected == {4: {address("C4")}}
    index = ItemIndex(aph_items())
    client, http = open_client(world)()
    try:
        assert [i.code for i in proposals_for_module(client, 4, index, rejected[4])] == ["C3"]
    finally:
        http.close()
    proposals = fetch_proposals(open_client(world), [4], index, rejected=rejected)
    assert [i.code for i in proposals.for_module(4)] == ["C3"]


def test_ticking_a_refused_proposal_again_confirms_it(world: World) -> None:
    world.map(4, "C4", name="Forum", status="rejected")
    allowed = [item_address(i) for i in aph_items()]
    with world.sessions.begin() as session:
        change = save_module_mapping(
            session, course_id=world.course_id, cmid=4, module_name="Forum",
            chosen=[address("C4")], allowed=allowed, person_id=world.people["claire"],
            proposed=[address("C4")],
        )
    assert change.added == [address("C4")] and not change.rejected
    with world.sessions() as session:
        rows = session.scalars(
            select(ActivityMapping).where(ActivityMapping.moodle_cmid == 4)
        ).all()
        assert [(r.competence_code, r.status, r.created_by_id) for r in rows] == [
            ("C4", "confirmed", world.people["claire"])
        ]
        assert rejected_by_module(session, world.course_id) == {}


def test_unticking_an_accepted_proposal_refuses_it_and_keeps_refusals(world: World) -> None:
    allowed = [item_address(i) for i in aph_items()]
    with world.sessions.begin() as session:  # module 2: C2 and C4, which Moodle proposes
        change = save_module_mapping(
            session, course_id=world.course_id, cmid=2, module_name="Livret 1",
            chosen=[address("C4")], allowed=allowed, person_id=None,
            proposed=[address("C2"), address("C4")],
        )
    assert change.removed == [address("C2")] and change.rejected == [address("C2")]
    with world.sessions.begin() as session:  # saved again, Moodle silent: C2 stays refused
        again = save_module_mapping(
            session, course_id=world.course_id, cmid=2, module_name="Livret 1",
            chosen=[], allowed=allowed, person_id=None,
        )
    assert again.removed == [address("C4")] and not again.rejected
    with world.sessions() as session:
        assert 2 not in mappings_by_module(session, world.course_id)
        assert rejected_by_module(session, world.course_id) == {2: {address("C2")}}


def test_accepting_proposals_skips_the_refused_ones(world: World) -> None:
    world.map(4, "C3", name="Forum", status="rejected")
    world.map(5, "C3", "C4", name="Wiki", status="rejected")
    by_code = {i.code: i for i in aph_items()}
    with world.sessions.begin() as session:
        done = accept_proposals(
            session,
            course_id=world.course_id,
            proposals={4: [by_code["C3"], by_code["C6"]], 5: [by_code["C3"], by_code["C4"]]},
            module_names={4: "Forum", 5: "Wiki"},
            allowed=[item_address(i) for i in aph_items()],
            person_id=None,
        )
    assert done == [4]  # module 5: everything Moodle proposes was refused
    with world.sessions() as session:
        stored = mappings_by_module(session, world.course_id)
        assert [r.competence_code for r in stored[4]] == ["C6"]
        assert 5 not in stored
        assert rejected_by_module(session, world.course_id)[4] == {address("C3")}
