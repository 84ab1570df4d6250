"""Issue 14, in a real Chromium through the demo platform: a coordinateur enters a
référentiel of 3 blocs and 12 compétences from its official document with the keyboard
only (Tab, typing, Space, Enter), offers it in the course, and a candidat tags an activity
against it. Every page is checked with axe (zero violations), as in test_browser_pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.test_browser_pages import World, world  # noqa: F401  (the module's fixture)
from tests.test_referentiel_entry import BLOCS

pytestmark = pytest.mark.browser


def tab_to(page: Any, selector: str, limit: int = 600) -> None:
    """Press Tab until the focus is on `selector`: reachable by keyboard, in order."""
    for _ in range(limit):
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached with Tab")


def type_into(page: Any, field_id: str, text: str) -> None:
    tab_to(page, f"#{field_id}")
    page.keyboard.type(text)


def press_button(page: Any, selector: str) -> None:
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")


def test_a_coordinateur_enters_3_blocs_and_12_competences_with_the_keyboard_only(world: World):  # noqa: F811
    page = world.page("coordinateur")
    press_button(page, ".nav a[href$='/cours/referentiels']")
    page.wait_for_url("**/cours/referentiels")
    press_button(page, "a[href$='/cours/referentiels/saisir']")
    page.wait_for_url("**/cours/referentiels/saisir")
    world.check(page, "referentiel-saisir")

    type_into(page, "f-intitule", "Agent de propreté et d’hygiène (REAC 2023)")
    type_into(page, "f-code", "TP-APH")
    type_into(page, "f-rncp", "RNCP37872")
    type_into(page, "f-certificateur", "Ministère du Travail")
    type_into(page, "f-niveau", "Niveau 3")
    type_into(page, "f-source", "REAC TP-00380 version 04")
    type_into(page, "f-version", "07/06/2023")
    for b, (title, words) in enumerate(BLOCS.items(), 1):
        if b > 1:
            press_button(page, "button[value='bloc']")
            # The new bloc has the focus: the keyboard goes on where it was.
            assert page.evaluate("document.activeElement.id") == f"f-b{b}-intitule"
            assert page.input_value("#f-b1-c1-intitule") == "Préparer son intervention"
        type_into(page, f"f-b{b}-intitule", title)
        for c, wording in enumerate(words, 1):
            type_into(page, f"f-b{b}-c{c}-intitule", wording)
            if (b, c) == (1, 2):
                type_into(page, "f-b1-c2-falc", "je nettoie les sols")
                tab_to(page, "#f-b1-c2-picto")
                page.keyboard.type("nettoyer")
                assert page.input_value("#f-b1-c2-picto") == "nettoyer"
    world.check(page, "referentiel-saisir-rempli")
    press_button(page, "#enregistrer-fin")
    page.wait_for_url("**/cours/referentiels#proposes")
    assert page.get_by_text(re.compile(r"Enregistré : Agent de propreté et d’hygiène "
                                       r"\(REAC 2023\) \(p\d+~TP-APH@2023-06-07\)")).is_visible()
    world.check(page, "referentiels-apres-saisie")

    # Offered in the course, still with the keyboard.
    box = "input[name='referentiels'][value$='~TP-APH@2023-06-07']"
    tab_to(page, box)
    page.keyboard.press("Space")
    assert page.is_checked(box)
    press_button(page, "form[action$='/cours/referentiels'] button[type='submit']")
    assert page.get_by_text("C’est enregistré : les candidats choisissent parmi ces "
                            "référentiels.").is_visible()
    page.context.close()


def test_a_candidat_then_tags_an_activity_against_it(world: World):  # noqa: F811
    page = world.page("candidat2")
    page.goto(f"{world.base}/moi/referentiel/choisir")
    world.check(page, "choisir-metier-saisi")
    # The métier in plain words on the candidat's page (issue 15).
    page.get_by_label(re.compile("Agent de propreté et d’hygiène")).check()
    page.get_by_role("button", name="C’est mon métier").click()
    page.wait_for_url("**/moi/referentiel")
    assert page.get_by_text("Décaper un sol", exact=True).is_visible()
    world.check(page, "mon-referentiel-saisi")

    from integration.models import Parcours, Person, Task

    runtime = world.story["app"].extensions["reperes"]
    with runtime.sessions.begin() as db:
        parcours = db.scalars(select(Parcours).join(Person).where(
            Person.sub == "demo-jean-marc")).one()
        task = Task(parcours=parcours, title="Je lave le sol du hall", source="workplace")
        db.add(task)
        db.flush()
        task_id = task.id
    page.goto(f"{world.base}/moi/activites/{task_id}/competences")
    world.check(page, "competences-saisi")
    card = page.locator("li.comp", has_text="je nettoie les sols").first
    card.get_by_role("button", name=re.compile("C’est ça")).click()
    page.get_by_text("Choisie pour cette activité").first.wait_for()
    world.check(page, "competences-saisi-choisie")
    page.goto(f"{world.base}/moi/referentiel")
    assert page.get_by_text(re.compile(r"sur 12\b")).first.is_visible()
    from integration.models import Tag

    with runtime.sessions.begin() as db:
        tag = db.scalars(select(Tag).where(Tag.task_id == task_id)).one()
        assert (tag.referentiel_version, tag.competence_code) == ("2023-06-07", "BC01-C2")
        assert tag.referentiel_id.endswith("~TP-APH")
    page.context.close()
