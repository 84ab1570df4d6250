"""The candidat's journey in a real Chromium at 360 px, through the demo platform (issue 15).

Nothing typed is lost: an ended session mid-form, an oversize photo, three phone photos at
once, the top « Retour » and the browser's back button each leave the text recoverable;
Enter never saves early. One activity is added and tagged with a photo in at most 7 taps,
« C'est ça » on the first screen. A voice note is recorded with Chromium's fake microphone,
kept and played. « Continuer sur mon téléphone » opens the same space in a second browser
context, and a photo taken there shows on the first. Every page: axe, 0 violations, and a
screenshot at 360 px under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from integration.models import Evidence, SessionRecord, Task
from tests.support.browser import served_demo
from tests.support.photos import noisy_jpeg
from tests.test_browser_pages import AXE_TAGS, SHOTS

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@dataclass
class Journey:
    base: str
    browser: Any
    axe: Any
    app: Any
    files: Path
    checked: dict[str, int] = field(default_factory=dict)

    def phone(self, who: str = "candidat1") -> Any:
        context = self.browser.new_context(viewport=PHONE, locale="fr-FR", has_touch=True,
                                           permissions=["microphone"])
        context.set_default_timeout(20_000)
        page = context.new_page()
        if who:
            self.launch(page, who)
        return page

    def launch(self, page: Any, who: str = "candidat1") -> None:
        page.goto(f"{self.base}/demo/start?who={who}&course=rae")
        page.wait_for_url(re.compile(r"/(moi|cours)$"))

    def check(self, page: Any, name: str) -> None:
        page.wait_for_load_state("networkidle")
        results = self.axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
        self.checked[name] = results.violations_count
        assert results.violations_count == 0, f"{name}:\n{results.generate_report()}"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: {overflow}px wider than a 360 px phone"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"candidat-{name}-360.png"), full_page=True)

    def db(self) -> Any:
        return self.app.extensions["reperes"].sessions.begin()


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    tmp = tmp_path_factory.mktemp("browser-candidat")
    with served_demo(tmp, name="browser-candidat", chromium_args=FAKE_MEDIA) as served:
        yield Journey(served.base, served.browser, served.axe, served.app, tmp)


def choose_metier(page: Any) -> None:
    page.goto(page.url.split("/moi")[0] + "/moi/referentiel/choisir")
    page.get_by_label(re.compile("Équipier polyvalent du commerce")).check()
    page.get_by_role("button", name="C’est mon métier").click()
    page.wait_for_url("**/moi/referentiel")


def to_step(page: Any, step: int) -> None:
    for n in range(1, step):
        page.locator(f"[data-step='{n}'] [data-next]").click()


def task_count(journey: Journey) -> int:
    with journey.db() as db:
        return db.scalar(select(func.count(Task.id))) or 0


def test_one_activity_added_and_tagged_with_a_photo_in_seven_taps(journey: Journey):
    page = journey.phone()
    choose_metier(page)
    page.goto(f"{journey.base}/moi")
    journey.check(page, "moi")
    photo = journey.files / "rayon.jpg"
    from tests.support.parcours import jpeg_bytes
    photo.write_bytes(jpeg_bytes((1600, 1200), (120, 90, 60)))

    taps = 0
    page.get_by_label("Ce que je fais").fill("Je mets les vêtements en rayon")  # typing
    page.get_by_role("button", name="Suivant").click()
    taps += 1
    page.wait_for_url("**/moi/activites/nouvelle?title=*")
    assert page.locator("[data-step='2']").is_visible()  # the next question at once
    journey.check(page, "activite-etape-2")
    for step in (2, 3, 4):
        page.locator(f"[data-step='{step}'] [data-next]").click()
        taps += 1
    page.locator("#f-photo").set_input_files(str(photo))  # « Prendre une photo »
    taps += 1
    page.locator("#apercu .ok").wait_for()  # made ready on the phone
    journey.check(page, "activite-etape-5")
    page.get_by_role("button", name="Enregistrer").click()
    taps += 1
    page.wait_for_url(re.compile(r"/competences\?nouvelle=1$"))
    assert page.get_by_role("heading", name="À quoi ça correspond ?").is_visible()
    assert page.get_by_text("C’est enregistré. Avec la photo.").is_visible()
    journey.check(page, "a-quoi-ca-correspond")
    first = page.get_by_role("button", name=re.compile("C’est ça")).first
    box = first.bounding_box()
    assert page.evaluate("window.scrollY") == 0
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box  # no scroll
    first.click()
    taps += 1
    page.get_by_text("Choisie pour cette activité").first.wait_for()
    assert taps <= 7, taps
    with journey.db() as db:
        assert db.scalar(select(func.count(Evidence.id))) == 1
    page.context.close()


def test_enter_moves_to_the_next_step_and_never_saves_early(journey: Journey):
    page = journey.phone()
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    before = task_count(journey)
    page.get_by_label("Ce que je fais").fill("Je pèse les légumes")
    page.keyboard.press("Enter")
    assert page.locator("[data-step='2']").is_visible()
    assert page.locator("[data-step='1']").is_hidden()
    page.get_by_label("Le lieu (si vous voulez)").fill("à l’épicerie")
    page.keyboard.press("Enter")
    assert page.locator("[data-step='3']").is_visible()
    page.get_by_label(re.compile("Les outils")).fill("une balance")
    page.keyboard.press("Enter")
    assert page.locator("[data-step='4']").is_visible()
    page.wait_for_timeout(300)
    assert task_count(journey) == before and page.url.endswith("/moi/activites/nouvelle")
    page.context.close()


def test_the_top_retour_and_the_back_button_keep_the_text(journey: Journey):
    page = journey.phone()
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    page.get_by_label("Ce que je fais").fill("Je range la réserve")
    page.get_by_role("link", name="Retour à mes activités").click()
    page.wait_for_url(re.compile(r"/moi$"))
    offer = page.get_by_role("link", name="Je reprends ce que j’avais écrit").first
    offer.wait_for()
    journey.check(page, "moi-brouillon")
    offer.click()
    assert page.get_by_label("Ce que je fais").input_value() == "Je range la réserve"

    # The browser's back button, then the form again: offered, then restored.
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    page.get_by_label("Ce que je fais").fill("Je range la réserve du magasin")
    page.go_back()
    page.wait_for_url(re.compile(r"/moi"))
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    again = "Je reprends ce que j’avais écrit"  # offered by the server, or by this device
    page.get_by_role("link", name=again).or_(page.get_by_role("button", name=again)).first.click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_label("Ce que je fais").input_value() == "Je range la réserve du magasin"
    journey.check(page, "activite-reprise")
    page.context.close()


def test_an_expired_session_mid_form_keeps_the_text_and_the_photo(journey: Journey):
    from tests.support.parcours import jpeg_bytes

    photo = journey.files / "caisse.jpg"
    photo.write_bytes(jpeg_bytes((1200, 900), (30, 60, 150)))
    page = journey.phone()
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    page.get_by_label("Ce que je fais").fill("Je tiens la caisse")
    to_step(page, 2)
    page.get_by_label("Le lieu (si vous voulez)").fill("à l’épicerie solidaire")
    with journey.db() as db:
        db.execute(delete(SessionRecord))  # the session ends (idle, or another person)
    to_step_from(page, 2, 5)
    page.locator("#f-photo").set_input_files(str(photo))
    page.locator("#apercu .ok").wait_for()
    page.get_by_role("button", name="Enregistrer").click()
    alert = page.locator(".send-state")
    alert.wait_for()
    assert "Vous n’êtes plus connecté" in alert.inner_text()
    assert page.url.endswith("/moi/activites/nouvelle")
    # The person reopens Repères from Moodle: the words come back.
    journey.launch(page)
    page.get_by_role("link", name="Je reprends ce que j’avais écrit").first.click()
    page.wait_for_url("**/moi/activites/nouvelle?reprendre=1")
    assert page.get_by_label("Ce que je fais").input_value() == "Je tiens la caisse"
    assert page.get_by_label("Le lieu (si vous voulez)").input_value() == "à l’épicerie solidaire"
    # The photo chosen before the session ended is back in the form, and goes up with it.
    page.wait_for_function("document.querySelector('#f-photo').files.length === 1")
    for _ in range(5):  # on to the last question, wherever the form reopened
        nexts = page.locator("[data-step]:visible [data-next]")
        if not nexts.count():
            break
        nexts.first.click()
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/competences\?nouvelle=1$"))
    assert page.get_by_text("C’est enregistré. Avec la photo.").is_visible()

    # The expired page itself says where to relaunch, and does not loop.
    other = journey.phone(who="")
    other.goto(f"{journey.base}/moi")
    assert other.get_by_text("Touchez « Repères » dans la page du cours.").is_visible()
    assert other.get_by_role("link", name=re.compile("accueil")).count() == 0
    journey.check(other, "session-finie")
    other.context.close()
    page.context.close()


def to_step_from(page: Any, start: int, end: int) -> None:
    for n in range(start, end):
        page.locator(f"[data-step='{n}'] [data-next]").click()


def test_an_oversize_photo_is_refused_on_the_form_and_the_text_stays(journey: Journey):
    page = journey.phone()
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    page.get_by_label("Ce que je fais").fill("Je nettoie la vitrine")
    to_step(page, 5)
    huge = journey.files / "enorme.jpg"
    if not huge.exists():
        huge.write_bytes(b"\xff\xd8\xff" + b"\x01" * (26 * 1024 * 1024))  # not even decodable
    page.locator("#f-file").set_input_files(str(huge))
    refused = page.locator("#apercu .refused")
    refused.wait_for()
    assert "trop grosse" in refused.inner_text()
    journey.check(page, "photo-trop-grosse")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/competences\?nouvelle=1$"))
    assert page.get_by_text("Je nettoie la vitrine").first.is_visible()
    page.context.close()


def test_three_phone_photos_at_once_go_up(journey: Journey):
    photos = [noisy_jpeg(journey.files / f"telephone-{i}.jpg") for i in range(3)]
    assert all(p.stat().st_size > 10_000_000 for p in photos)
    page = journey.phone()
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    page.get_by_label("Ce que je fais").fill("Je trie les dons")
    to_step(page, 5)
    page.locator("#f-file").set_input_files([str(p) for p in photos])
    page.locator("#apercu .ok").nth(2).wait_for(timeout=30_000)
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/competences\?nouvelle=1$"), timeout=30_000)
    assert page.get_by_text("C’est enregistré. Avec 3 photos.").is_visible()
    with journey.db() as db:
        sizes = db.scalars(select(Evidence.size).order_by(Evidence.id.desc()).limit(3)).all()
    assert len(sizes) == 3 and max(sizes) < 3_000_000  # made smaller before leaving
    page.context.close()


def test_a_voice_note_is_recorded_kept_and_played(journey: Journey):
    page = journey.phone()
    page.goto(f"{journey.base}/moi/activites/nouvelle")
    page.get_by_label("Ce que je fais").fill("Je prépare les commandes")
    to_step(page, 5)
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(re.compile(r"/competences"))
    page.get_by_role("link", name="Retour à l’activité").click()
    page.get_by_role("button", name="Je le dis").click()
    page.wait_for_timeout(2500)
    page.get_by_role("button", name="J’ai fini de parler").click()
    page.get_by_text("Votre note de voix est prête").wait_for()
    journey.check(page, "note-de-voix-prete")
    page.get_by_role("button", name="Garder ma note de voix").click()
    page.get_by_text("La note de voix est gardée.").wait_for()
    audio = page.locator("audio[data-voice-note]")
    audio.wait_for()
    played = page.evaluate("""async () => {
        const a = document.querySelector('audio[data-voice-note]');
        a.muted = true;
        await a.play();
        await new Promise(r => setTimeout(r, 500));
        return [a.currentTime > 0, a.error === null];
    }""")
    assert played == [True, True]
    with journey.db() as db:
        note = db.scalars(select(Evidence).where(Evidence.kind == "audio")).one()
        assert note.content_type in ("audio/webm", "audio/ogg", "audio/mp4") and note.size > 1000
    journey.check(page, "activite-note-de-voix")
    page.context.close()


def test_the_phone_opens_the_same_space_and_its_photo_shows_on_the_computer(journey: Journey):
    computer = journey.phone()
    computer.set_viewport_size({"width": 1280, "height": 900})
    computer.goto(f"{journey.base}/moi/activites/nouvelle")
    computer.get_by_label("Ce que je fais").fill("Je taille la haie")
    to_step(computer, 5)
    computer.get_by_role("button", name="Enregistrer").click()
    computer.wait_for_url(re.compile(r"/competences"))
    task_url = computer.url.split("/competences")[0]
    computer.goto(f"{journey.base}/moi")
    computer.get_by_role("link", name="Continuer sur mon téléphone").click()
    link = computer.locator("figure.qr").get_attribute("data-link")
    assert link and computer.locator("figure.qr svg").is_visible()
    computer.set_viewport_size(PHONE)
    journey.check(computer, "continuer-sur-mon-telephone")

    phone = journey.phone(who="")
    phone.goto(link)
    journey.check(phone, "telephone-ouvrir")
    phone.get_by_role("button", name="Ouvrir mon espace").click()
    phone.wait_for_url(re.compile(r"/moi$"))
    assert phone.get_by_text("Je taille la haie").is_visible()
    phone.goto(task_url)
    from tests.support.parcours import jpeg_bytes
    shot = journey.files / "haie.jpg"
    shot.write_bytes(jpeg_bytes((1200, 900), (40, 120, 40)))
    phone.locator("#f-photo").set_input_files(str(shot))
    phone.locator("#apercu .ok").wait_for()
    phone.get_by_role("button", name="Envoyer").click()
    phone.get_by_text("La photo est ajoutée.").wait_for()

    computer.goto(task_url)
    computer.locator("ul.photos img").first.wait_for()
    assert computer.evaluate("document.querySelector('ul.photos img').naturalWidth") > 0
    phone.context.close()
    computer.context.close()


def test_every_page_was_checked_without_violation(journey: Journey):
    assert len(journey.checked) >= 10, sorted(journey.checked)
    assert set(journey.checked.values()) == {0}
