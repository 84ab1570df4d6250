"""The pages in a real headless Chromium, through the demo platform, as people use them:
a candidat adds a task with a photo and tags it, an accompagnateur reviews it and marks the
parcours ready for the jury, a second candidat never sees the first one's data.

Every page visited is checked with axe-core (WCAG 2.0/2.1/2.2 A and AA: zero violations)
and photographed at 360 px and 1280 px wide under test-artifacts/screenshots/.
One Chromium and one server for the module; the tests run in order and share the story.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import served_demo
from tests.support.parcours import jpeg_bytes

pytestmark = pytest.mark.browser

# What a finger must hit: buttons, action links, the menu, choices, unfolding parts, files.
TARGETS = "main button, main .button, .nav a, main .choice, main summary, main input[type=file]"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


@dataclass
class World:
    base: str
    browser: Any
    axe: Any
    checked: dict[str, int] = field(default_factory=dict)  # page name -> violations
    story: dict[str, Any] = field(default_factory=dict)

    def page(self, who: str, *, width: int = 1280) -> Any:
        """A new browser context launched as `who` through the demo platform."""
        context = self.browser.new_context(viewport={"width": width, "height": 900},
                                           locale="fr-FR")
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(f"{self.base}/demo/start?who={who}&course=rae")
        page.wait_for_url(re.compile(r"/(moi|cours)$"))
        return page

    def check(self, page: Any, name: str) -> None:
        """axe on the page as it is, then screenshots at 360 and 1280 px (and back)."""
        page.wait_for_load_state("networkidle")
        results = self.axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
        self.checked[name] = results.violations_count
        assert results.violations_count == 0, f"{name}:\n{results.generate_report()}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            if width == 360:
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"{name}: {overflow}px wider than a 360 px phone"
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size(size)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("browser-pages")
    with served_demo(tmp, name="browser-pages") as served:
        yield World(served.base, served.browser, served.axe,
                    story={"photo": tmp / "atelier.jpg", "app": served.app})


def test_a_candidat_adds_a_task_with_a_photo_and_tags_it(world: World):
    page = world.page("candidat1")
    world.check(page, "moi-vide")
    page.get_by_role("link", name="Choisir mon métier").first.click()
    world.check(page, "choisir-metier")
    page.get_by_label(re.compile("Équipier polyvalent du commerce")).check()
    page.get_by_role("button", name="C’est mon métier").click()
    page.wait_for_url("**/moi/referentiel")
    world.check(page, "mon-referentiel-vide")

    page.get_by_role("link", name="Ma façon de montrer").first.click()
    world.check(page, "modalite")
    page.get_by_label(re.compile("Je montre ce que je fais")).check()
    page.get_by_role("button", name="Enregistrer mon choix").click()
    page.wait_for_url(re.compile(r"/moi$"))

    page.goto(page.url.replace("/moi", "/moi/activites/nouvelle"))  # the form from its start
    # One step at a time with JavaScript: the first step only, then « Suivant ».
    assert page.get_by_role("button", name="Enregistrer").is_hidden()
    world.check(page, "activite-etape-1")
    page.get_by_role("button", name="Suivant").first.click()  # nothing written yet
    assert page.get_by_text("Écrivez ce que vous faites.").is_visible()
    page.get_by_label("Ce que je fais").fill("Je mets les vêtements en rayon")
    page.get_by_role("button", name="Suivant").first.click()
    page.get_by_label("Le lieu (si vous voulez)").fill("à la recyclerie")
    page.locator("[data-step='2']").get_by_role("button", name="Suivant").click()
    page.locator("[data-step='3']").get_by_role("button", name="Suivant").click()
    page.get_by_label("toutes les semaines").check()
    page.locator("[data-step='4']").get_by_role("button", name="Suivant").click()
    photo: Path = world.story["photo"]
    photo.write_bytes(jpeg_bytes((1200, 900), (90, 140, 60)))
    page.locator("#f-file").set_input_files(str(photo))
    page.locator("#apercu img").wait_for()  # previewed before sending
    world.check(page, "activite-etape-5")
    page.get_by_role("button", name="Enregistrer").click()
    # One flow (issue 15): saved, then « À quoi ça correspond ? ».
    page.wait_for_url(re.compile(r"/moi/activites/\d+/competences\?nouvelle=1$"))
    world.story["task_url"] = page.url.split("/competences")[0]
    assert page.get_by_text("C’est enregistré. Avec la photo.").is_visible()
    world.check(page, "competences")
    page.locator("#proposees ~ ul.comp-list").get_by_role("button", name=re.compile("C’est ça")
                                                           ).first.click()
    page.get_by_text("Choisie pour cette activité").first.wait_for()
    world.check(page, "competences-choisie")
    page.goto(world.story["task_url"])
    page.locator("#preuves ~ ul.photos img").first.wait_for()
    assert page.evaluate("document.querySelector('ul.photos img').naturalWidth") > 0
    world.check(page, "activite")

    page.get_by_role("link", name="Mon métier").first.click()
    assert page.get_by_text("1 chose montrée avec une photo, sur 14.").is_visible()
    world.check(page, "mon-referentiel")
    page.get_by_role("link", name="Ce que je fais").first.click()
    world.check(page, "moi")
    page.context.close()


def test_an_accompagnateur_reviews_it_and_marks_the_parcours_ready(world: World):
    page = world.page("accompagnatrice")
    world.check(page, "cours")
    page.get_by_role("link", name="Samira B.").click()
    world.check(page, "candidat")
    page.locator("tr", has=page.locator(".mark.ok")).get_by_role("link").first.click()
    world.check(page, "avis")
    page.get_by_label("Oui").check()
    page.get_by_label("Votre commentaire (si vous voulez)").fill("Vu en rayon, très sûre.")
    page.get_by_role("button", name="Enregistrer mon avis").click()
    page.get_by_text("Votre avis est enregistré : Oui.").wait_for()
    # Blocs without proof: the step asks a confirmation first (issue 17).
    page.get_by_role("button", name="Le parcours est prêt pour le jury").click()
    page.get_by_text("Je confirme : le parcours va au jury avec des blocs sans preuve.").wait_for()
    page.get_by_label("Je confirme : le parcours va au jury avec des blocs sans preuve.").check()
    page.get_by_role("button", name="Le parcours est prêt pour le jury").click()
    page.get_by_text("le parcours est « prêt pour le jury »").wait_for()
    world.check(page, "candidat-pret")
    page.get_by_role("link", name="Le tableau du cours").click()
    world.check(page, "tableau")
    page.context.close()


def test_a_second_candidat_never_sees_the_first_ones_data(world: World):
    page = world.page("candidat2")
    assert "Je mets les vêtements en rayon" not in page.content()
    response = page.goto(world.story["task_url"])
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", name="Cette page n’existe pas.").is_visible()
    world.check(page, "introuvable")
    page.context.close()


def test_the_coordinateur_page_and_the_keyboard(world: World):
    page = world.page("coordinateur")
    page.get_by_role("link", name="Les référentiels").click()
    world.check(page, "referentiels")
    # The keyboard alone: the first Tab shows the skip link, with a visible focus.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "(() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.textContent.trim(), s.outlineStyle, s.outlineWidth]; })()")
    assert focused[0] == "Aller au contenu" and focused[1] != "none"
    page.context.close()


def test_targets_are_large_and_pages_fit_320_px(world: World):
    page = world.page("candidat1", width=320)
    for path in ("/moi", world.story["task_url"], "/moi/activites/nouvelle",
                 world.story["task_url"] + "/competences"):
        page.goto(world.base + path if path.startswith("/") else path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path}: {overflow}px too wide at 320 px"
        small = page.evaluate("""(targets) => [...document.querySelectorAll(targets)]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.textContent.trim().slice(0, 30), e.getBoundingClientRect()])
            .filter(([_, r]) => r.width < 44 || r.height < 44)
            .map(([t, r]) => `${t} ${Math.round(r.width)}x${Math.round(r.height)}`)""", TARGETS)
        assert small == [], f"{path}: {small}"
    page.context.close()


def test_every_page_was_checked_without_violation(world: World):
    assert len(world.checked) >= 14, sorted(world.checked)
    assert set(world.checked.values()) == {0}
