"""The parcours services, on SQLite and PostgreSQL: rights, steps, choices, tags, reviews."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from integration.db import transaction
from integration.models import (
    HistoryEntry,
    Parcours,
    ParcoursStatus,
    Recognition,
    Review,
    Role,
    Tag,
    Task,
)
from integration.parcours import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RecognitionInput,
    ReferentielChoice,
    StaleVersion,
    add_review,
    add_tag,
    change_status,
    create_task,
    delete_task,
    get_or_create_parcours,
    get_parcours,
    history,
    list_parcours,
    list_tasks,
    parcours_progress,
    remove_tag,
    restore_task,
    set_accompagnateurs,
    set_modalite,
    set_referentiels,
    update_task,
)
from integration.parcours.catalog import load_catalog
from referentiels import Catalog
from tests.support import parcours as support
from tests.support.parcours import (
    Cast,
    actor_of,
    make_course,
    make_membership,
    make_person,
)

# Fixtures shared with other test modules.
sessions = support.sessions

CATALOG = Catalog.shipped()


@pytest.fixture
def world(sessions):  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        cast = Cast.build(s)
    return cast


def _count(sessions, model) -> int:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# --- getting a parcours ----------------------------------------------------------------------


def test_candidat_gets_the_same_parcours_every_time(sessions, world) -> None:
    alice = world.actor("alice")
    with transaction(sessions) as s:
        first = get_or_create_parcours(s, alice, catalog=CATALOG).id
    with transaction(sessions) as s:
        again = get_or_create_parcours(s, alice, catalog=CATALOG).id
    assert first == again == world.parcours["alice"].id


def test_first_visit_makes_a_parcours_with_the_course_referentiel(sessions, world) -> None:
    with transaction(sessions) as s:
        platform = world.platforms["A"]
        course = make_course(s, platform, referentiels=["TP-AR"])
        person = make_person(s, platform)
        make_membership(s, course, person, Role.CANDIDAT)
    actor = actor_of(person, course, Role.CANDIDAT)
    with transaction(sessions) as s:
        parcours = get_or_create_parcours(s, actor, catalog=CATALOG)
        assert [(r.referentiel_id, r.referentiel_version) for r in parcours.referentiels] == [
            ("TP-AR", "2006-09-08")
        ]
        assert parcours.status is ParcoursStatus.EN_PREPARATION
    with transaction(sessions) as s:
        actions = [h.action for h, _ in history(s, actor, parcours.id)]
    assert actions == ["parcours.created"]


def test_two_first_visits_at_once_make_one_parcours(sessions, world) -> None:
    with transaction(sessions) as s:
        platform = world.platforms["A"]
        course = make_course(s, platform)
        person = make_person(s, platform)
    actor = actor_of(person, course, Role.CANDIDAT)
    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[BaseException] = []

    def visit() -> None:
        try:
            barrier.wait()
            with transaction(sessions) as s:
                ids.append(get_or_create_parcours(s, actor).id)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=visit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 1
    with transaction(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Parcours).where(
            Parcours.person_id == person.id)) == 1


def test_accompagnateur_has_no_parcours_of_their_own(sessions, world) -> None:
    with transaction(sessions) as s, pytest.raises(Forbidden):
        get_or_create_parcours(s, world.actor("carla"))


# --- who sees what -----------------------------------------------------------------------------


def test_each_role_sees_what_it_should(sessions, world) -> None:
    alice_p = world.parcours["alice"].id
    with transaction(sessions) as s:
        assert get_parcours(s, world.actor("alice"), alice_p).id == alice_p
        assert get_parcours(s, world.actor("carla"), alice_p).id == alice_p
        for intruder in ("bob", "eve", "dan", "gina", "fred"):
            with pytest.raises(NotFound):
                get_parcours(s, world.actor(intruder), alice_p)
        assert [p.id for p in list_parcours(s, world.actor("carla"))] == [
            world.parcours["alice"].id, world.parcours["bob"].id
        ]
        assert [p.id for p in list_parcours(s, world.actor("bob"))] == [world.parcours["bob"].id]
        # The coordinateur of platform B sees B's course, never A's.
        fred = world.actor("fred")
        assert [p.id for p in list_parcours(s, fred)] == [world.parcours["gina"].id]
        assert list_parcours(s, fred, course_id=world.courses["X"].id) == []


def test_accompagnateur_acts_in_every_course_where_they_hold_the_role(sessions, world) -> None:
    alice_p = world.parcours["alice"].id
    dan = world.actor("dan")  # launched from course Y
    with transaction(sessions) as s, pytest.raises(NotFound):
        get_parcours(s, dan, alice_p)
    with transaction(sessions) as s:
        make_membership(s, world.courses["X"], world.people["dan"], Role.ACCOMPAGNATEUR)
    with transaction(sessions) as s:
        assert get_parcours(s, dan, alice_p).id == alice_p


def test_coordinateur_acts_within_their_platform_only(sessions, world) -> None:
    coordinateur = actor_of(world.people["carla"], world.courses["Y"], Role.COORDINATEUR)
    with transaction(sessions) as s:
        assert get_parcours(s, coordinateur, world.parcours["alice"].id)
        with pytest.raises(NotFound):
            get_parcours(s, coordinateur, world.parcours["gina"].id)


# --- choices -------------------------------------------------------------------------------------


def test_modalite_and_referentiels_are_chosen_and_checked(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        set_modalite(s, alice, pid, "transfert")
        with pytest.raises(Invalid):
            set_modalite(s, alice, pid, "virtuel")
        set_referentiels(s, alice, pid, [ReferentielChoice("TP-APH", "2008-08-13"),
                                         ReferentielChoice("TP-AR")], catalog=CATALOG)
        with pytest.raises(Invalid):
            set_referentiels(s, alice, pid, [ReferentielChoice("NOPE")], catalog=CATALOG)
        with pytest.raises(Invalid):
            set_referentiels(s, alice, pid, [ReferentielChoice("TP-APH", "2008-08-13"),
                                             ReferentielChoice("TP-APH", "2023-06-07")],
                             catalog=CATALOG)
    with transaction(sessions) as s:
        parcours = get_parcours(s, alice, pid)
        assert parcours.modalite.value == "transfert"
        assert {(r.referentiel_id, r.referentiel_version) for r in parcours.referentiels} == {
            ("TP-APH", "2008-08-13"), ("TP-AR", "2006-09-08")
        }


def test_course_may_restrict_the_referentiels(sessions, world) -> None:
    with transaction(sessions) as s:
        s.get(type(world.courses["X"]), world.courses["X"].id).referentiels = ["TP-APH@2008-08-13"]
    with transaction(sessions) as s, pytest.raises(Invalid, match="pas proposé"):
        set_referentiels(s, world.actor("alice"), world.parcours["alice"].id,
                         [ReferentielChoice("TP-AR")], catalog=CATALOG)


def test_a_stale_parcours_version_is_refused(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        version = get_parcours(s, alice, pid).version
        set_modalite(s, alice, pid, "concret", expected_version=version)
    with transaction(sessions) as s, pytest.raises(StaleVersion):
        set_modalite(s, alice, pid, "abstrait", expected_version=version)


def test_only_an_accompagnateur_chooses_accompagnateurs(sessions, world) -> None:
    pid = world.parcours["alice"].id
    with transaction(sessions) as s, pytest.raises(Forbidden):
        set_accompagnateurs(s, world.actor("alice"), pid, [world.people["carla"].id])
    with transaction(sessions) as s, pytest.raises(Invalid):
        set_accompagnateurs(s, world.actor("carla"), pid, [world.people["bob"].id])
    with transaction(sessions) as s:
        parcours = set_accompagnateurs(s, world.actor("carla"), pid, [world.people["carla"].id])
        assert [a.person_id for a in parcours.accompagnateurs] == [world.people["carla"].id]


# --- steps ---------------------------------------------------------------------------------


def test_steps_go_in_order_and_only_an_accompagnateur_moves_them(sessions, world) -> None:
    alice, carla, pid = world.actor("alice"), world.actor("carla"), world.parcours["alice"].id
    with transaction(sessions) as s, pytest.raises(Forbidden):
        change_status(s, alice, pid, "pret_pour_le_jury")
    with transaction(sessions) as s, pytest.raises(Conflict, match="modalité"):
        change_status(s, carla, pid, "pret_pour_le_jury")
    with transaction(sessions) as s:
        set_modalite(s, alice, pid, "concret")
    with transaction(sessions) as s, pytest.raises(Conflict, match="ordre"):
        change_status(s, carla, pid, "presente")
    with transaction(sessions) as s:
        change_status(s, carla, pid, "pret_pour_le_jury")
    with transaction(sessions) as s, pytest.raises(Invalid, match="date du jury"):
        change_status(s, carla, pid, "presente")
    with transaction(sessions) as s, pytest.raises(Conflict):
        # The référentiel cannot change once ready for the jury.
        set_referentiels(s, alice, pid, [ReferentielChoice("TP-AR")], catalog=CATALOG)
    with transaction(sessions) as s:
        change_status(s, carla, pid, "presente", jury_date=date(2026, 5, 12))
    with transaction(sessions) as s:
        parcours = change_status(
            s, carla, pid, "reconnu", catalog=CATALOG,
            recognitions=[
                RecognitionInput("TP-APH", "2008-08-13", "CCP1", True),
                RecognitionInput("TP-APH", "2008-08-13", "C4", False, "à revoir"),
            ],
        )
        assert parcours.status is ParcoursStatus.RECONNU
        assert parcours.closed_at is not None
    with transaction(sessions) as s, pytest.raises(Conflict, match="déjà reconnu"):
        change_status(s, carla, pid, "presente")
    with transaction(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Recognition)) == 2
        back = change_status(s, carla, pid, "en_preparation")
        assert back.status is ParcoursStatus.EN_PREPARATION and back.closed_at is None
    with transaction(sessions) as s:
        actions = [h.action for h, _ in history(s, alice, pid, limit=200)]
    assert actions.count("status.changed") == 4


def test_recognition_of_an_unknown_code_is_refused(sessions, world) -> None:
    carla, pid = world.actor("carla"), world.parcours["alice"].id
    with transaction(sessions) as s:
        set_modalite(s, carla, pid, "concret")
        change_status(s, carla, pid, "pret_pour_le_jury")
        change_status(s, carla, pid, "presente", jury_date=date(2026, 5, 12))
    with transaction(sessions) as s, pytest.raises(Invalid):
        change_status(s, carla, pid, "reconnu", catalog=CATALOG,
                      recognitions=[RecognitionInput("TP-APH", "2008-08-13", "C99")])


# --- tasks and tags ------------------------------------------------------------------------


def test_candidat_writes_a_task_and_links_a_competence(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        task = create_task(s, alice, pid, {
            "title": "  Je passe la serpillière\x00 dans les couloirs\x1b ",
            "description": "Tous les matins.\r\nAvec le chariot.",
            "started_on": "2024-01-15",
        })
        assert task.title == "Je passe la serpillière dans les couloirs"
        assert task.description == "Tous les matins.\nAvec le chariot."
        tag, created = add_tag(s, alice, task.id, referentiel_id="TP-APH",
                               competence_code="C1", comment="Je le fais seule", catalog=CATALOG)
        assert created and tag.referentiel_version == "2008-08-13"
        again, created = add_tag(s, alice, task.id, referentiel_id="TP-APH",
                                 competence_code="C1", comment="Je le fais seule, vite",
                                 catalog=CATALOG)
        assert not created and again.id == tag.id and again.comment.endswith("vite")
    assert _count(sessions, Tag) == 1


def test_bad_task_inputs_are_refused_with_the_field(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    cases = [
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "ok", "description": "y" * 10_001}, "description"),
        ({"title": "ok", "started_on": "31/02/2024"}, "started_on"),
        ({"title": "ok", "started_on": "2024-03-01", "ended_on": "2024-02-01"}, "ended_on"),
        ({"title": "ok", "source": "moodle"}, "source"),
        ({"title": 12}, "title"),
        ({"title": "ok", "owner": 3}, "owner"),
    ]
    for data, field in cases:
        with transaction(sessions) as s, pytest.raises(Invalid) as caught:
            create_task(s, alice, pid, data)
        assert caught.value.field == field
    assert _count(sessions, Task) == 0


def test_a_tag_to_a_competence_that_does_not_exist_is_refused(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        task_id = create_task(s, alice, pid, {"title": "Ménage"}).id
    for ref_id, version, code in (
        ("TP-APH", "2008-08-13", "C9"),     # no such compétence in that version
        ("TP-APH", "2023-06-07", "C1"),     # a version not chosen
        ("TP-AR", None, "1.1"),             # a référentiel not chosen
        ("TP-APH", None, "CCP1"),           # a bloc that has compétences
    ):
        with transaction(sessions) as s, pytest.raises(Invalid):
            add_tag(s, alice, task_id, referentiel_id=ref_id, referentiel_version=version,
                    competence_code=code, catalog=CATALOG)
    assert _count(sessions, Tag) == 0


def test_a_bloc_is_never_tagged_in_place_of_its_competences(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        task = create_task(s, alice, pid, {"title": "Je nettoie les bureaux"})
        with pytest.raises(Invalid):
            add_tag(s, alice, task.id, referentiel_id="TP-APH", competence_code="CCP1",
                    catalog=CATALOG)


def test_a_task_edit_with_an_old_version_is_refused_and_old_words_are_kept(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        task = create_task(s, alice, pid, {"title": "Plonge"})
    with transaction(sessions) as s:
        update_task(s, alice, task.id, {"title": "La plonge du midi"}, expected_version=1)
    with transaction(sessions) as s, pytest.raises(StaleVersion) as caught:
        update_task(s, alice, task.id, {"title": "Autre"}, expected_version=1)
    assert caught.value.current_version == 2
    with transaction(sessions) as s:
        entries = [h for h, _ in history(s, alice, pid) if h.action == "task.updated"]
        assert entries[0].detail["old"]["title"] == "Plonge"


def test_a_removed_task_is_hidden_and_can_be_restored(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        task = create_task(s, alice, pid, {"title": "Plonge"})
    with transaction(sessions) as s:
        delete_task(s, alice, task.id)
    with transaction(sessions) as s:
        assert list_tasks(s, alice, pid) == []
        assert [t.id for t in list_tasks(s, alice, pid, deleted=True)] == [task.id]
        restore_task(s, alice, task.id)
    with transaction(sessions) as s:
        assert [t.id for t in list_tasks(s, alice, pid)] == [task.id]


def test_another_persons_task_does_not_exist(sessions, world) -> None:
    with transaction(sessions) as s:
        task = create_task(s, world.actor("alice"), world.parcours["alice"].id, {"title": "A"})
    for intruder in ("bob", "eve", "dan", "gina", "fred"):
        with transaction(sessions) as s, pytest.raises(NotFound):
            update_task(s, world.actor(intruder), task.id, {"title": "pris"})
    with transaction(sessions) as s:
        assert s.get(Task, task.id).title == "A"


# --- reviews and coverage ----------------------------------------------------------------------


def test_reviews_are_for_accompagnateurs_and_signed(sessions, world) -> None:
    alice, carla, pid = world.actor("alice"), world.actor("carla"), world.parcours["alice"].id
    with transaction(sessions) as s, pytest.raises(Forbidden):
        add_review(s, alice, pid, referentiel_id="TP-APH", competence_code="C1", verdict="oui",
                   catalog=CATALOG)
    with transaction(sessions) as s, pytest.raises(Invalid):
        add_review(s, carla, pid, referentiel_id="TP-APH", competence_code="C1",
                   verdict="peut-être", catalog=CATALOG)
    with transaction(sessions) as s:
        add_review(s, carla, pid, referentiel_id="TP-APH", competence_code="C1",
                   verdict="partiellement", comment="Il manque les vitres.", catalog=CATALOG)
        review = add_review(s, carla, pid, referentiel_id="TP-APH", competence_code="C1",
                            verdict="Oui", catalog=CATALOG)
        assert review.reviewer_name == "Carla" and review.created_at is not None
    assert _count(sessions, Review) == 2
    with transaction(sessions) as s:
        parcours = get_parcours(s, alice, pid)
        assert [a.person_id for a in parcours.accompagnateurs] == [world.people["carla"].id]


def test_coverage_shows_tasks_evidence_and_reviews(sessions, world) -> None:
    alice, carla, pid = world.actor("alice"), world.actor("carla"), world.parcours["alice"].id
    with transaction(sessions) as s:
        t1 = create_task(s, alice, pid, {"title": "Sols"})
        t2 = create_task(s, alice, pid, {"title": "Toilettes"})
        add_tag(s, alice, t1.id, referentiel_id="TP-APH", competence_code="C1", catalog=CATALOG)
        add_tag(s, alice, t2.id, referentiel_id="TP-APH", competence_code="C1", catalog=CATALOG)
        add_tag(s, alice, t2.id, referentiel_id="TP-APH", competence_code="C2", catalog=CATALOG)
        add_review(s, carla, pid, referentiel_id="TP-APH", competence_code="C2", verdict="non",
                   catalog=CATALOG)
    with transaction(sessions) as s:
        cov = parcours_progress(s, alice, pid, catalog=CATALOG)
    ref = cov.referentiels[0]
    items = {i.code: i for b in ref.blocs for i in b.items}
    assert items["C1"].task_ids == sorted([t1.id, t2.id])
    assert items["C2"].review is not None and items["C2"].review.verdict == "non"
    assert ref.totals.items == 6 and ref.totals.with_tasks == 2 and ref.totals.reviewed == 1
    assert ref.totals.non == 1
    # A version change keeps the tags made before; coverage counts them apart.
    with transaction(sessions) as s:
        set_referentiels(s, alice, pid, [ReferentielChoice("TP-APH", "2023-06-07")],
                         catalog=CATALOG)
    with transaction(sessions) as s:
        assert parcours_progress(s, alice, pid, catalog=CATALOG).tags_elsewhere == 3
    assert _count(sessions, Tag) == 3


def test_removing_a_tag_keeps_its_comment_in_the_history(sessions, world) -> None:
    alice, pid = world.actor("alice"), world.parcours["alice"].id
    with transaction(sessions) as s:
        task = create_task(s, alice, pid, {"title": "Sols"})
        tag, _ = add_tag(s, alice, task.id, referentiel_id="TP-APH", competence_code="C4",
                         comment="avec l'autolaveuse", catalog=CATALOG)
    with transaction(sessions) as s:
        remove_tag(s, alice, tag.id)
    with transaction(sessions) as s:
        removed = s.scalars(select(HistoryEntry).where(HistoryEntry.action == "tag.removed")).one()
        assert removed.detail["comment"] == "avec l'autolaveuse"


def test_imported_referentiels_join_the_catalog(sessions) -> None:
    from integration.parcours.catalog import import_referentiel, resolve

    ref = CATALOG.get("TP-AR")
    import dataclasses

    from referentiels.model import Provenance

    copy = dataclasses.replace(
        ref, provenance=dataclasses.replace(ref.provenance, version="2030-01-01"))
    assert isinstance(copy.provenance, Provenance)
    with transaction(sessions) as s:
        assert import_referentiel(s, copy, "json") is True
        assert import_referentiel(s, copy, "json") is False
    with transaction(sessions) as s:
        catalog = load_catalog(s, platform_id=None)
        assert resolve(catalog, "TP-AR@2030-01-01").version == "2030-01-01"
        assert resolve(catalog, "TP-AR", "2006-09-08").version == "2006-09-08"
