"""The demo's people and the parcours already under way — for `reperes demo` and tests only.

Five sample people in trades a newcomer can follow through, each matching a shipped,
complete référentiel: Samira is an agent de propreté (Titre professionnel Agent de propreté
et d'hygiène, 2013), Jean-Marc works in espaces verts (TP Ouvrier du paysage), Fatou puts
goods on the shelves of a shop (TP Employé commercial en magasin, 2014). Nadia accompanies,
Olivier coordinates.

`seed_demo` gives Samira a parcours already well under way (activities in her own words,
photos made with Pillow, links to compétences, Nadia's avis) when the demo starts on an
empty database; it does nothing once the demo's people exist (idempotent).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .actor import Actor
from .models import Course, Membership, Modalite, Person, Platform, Role

log = logging.getLogger(__name__)

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
LEARNER = _LIS + "membership#Learner"
INSTRUCTOR = _LIS + "membership#Instructor"
INSTITUTION_ADMIN = _LIS + "institution/person#Administrator"


@dataclass(frozen=True)
class DemoPerson:
    key: str
    sub: str
    given_name: str
    family_name: str
    email: str
    roles: tuple[str, ...]
    what: str  # how the demo page presents them
    referentiel: str = ""  # the shipped référentiel that fits their trade, "id@version"

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


PEOPLE: dict[str, DemoPerson] = {
    p.key: p
    for p in (
        DemoPerson("candidat1", "demo-samira", "Samira", "B.", "samira.b@demo.invalid",
                   (LEARNER,), "candidate, agent de propreté (parcours bien avancé)",
                   "TP-APH@2013-08-13"),
        DemoPerson("candidat2", "demo-jean-marc", "Jean-Marc", "D.",
                   "jean-marc.d@demo.invalid", (LEARNER,), "candidat, espaces verts",
                   "TP-OP@RNCP37875"),
        DemoPerson("candidat3", "demo-fatou", "Fatou", "K.", "fatou.k@demo.invalid",
                   (LEARNER,), "candidate, mise en rayon en magasin", "TP-EC@2014-12-15"),
        DemoPerson("accompagnatrice", "demo-nadia", "Nadia", "L.", "nadia.l@demo.invalid",
                   (INSTRUCTOR,), "accompagnatrice"),
        DemoPerson("coordinateur", "demo-olivier", "Olivier", "R.", "olivier.r@demo.invalid",
                   (INSTITUTION_ADMIN, INSTRUCTOR), "coordinateur RAE"),
    )
}
COURSES = {
    "rae": "Parcours RAE – La Fabrique de l’Emploi",
    "accompagnement": "Accompagnement de parcours RAE",
}
DEFAULT_COURSE = "rae"

# Samira's parcours: what she does, in her words, and the compétences she links it to.
SAMIRA_TASKS: tuple[dict[str, Any], ...] = (
    {"task": {"title": "Je nettoie les bureaux le matin",
              "how": "Je vide les poubelles, je dépoussière les bureaux, je passe le balai "
                     "humide. Je commence par le fond de la pièce.",
              "tools": "chariot, balai humide, chiffons de couleur",
              "where": "les bureaux de la Fabrique", "frequency": "tous les jours"},
     "photo": ((70, 130, 180), "chariot"), "tags": ("C1",),
     "avis": ("C1", "oui", "Samira suit bien l’ordre : du haut vers le bas, du propre vers "
                           "le sale.")},
    {"task": {"title": "Je nettoie les toilettes et les lavabos",
              "how": "Je mets des gants. Je détartre, je désinfecte, je remets le papier "
                     "et le savon. Je note l’heure sur la feuille.",
              "tools": "gants, produit détartrant, chiffons rouges",
              "where": "les sanitaires du rez-de-chaussée", "frequency": "tous les jours"},
     "photo": ((200, 60, 60), "sanitaires"), "tags": ("C2",),
     "avis": ("C2", "partiellement", "Bien fait. À montrer : le dosage des produits.")},
    {"task": {"title": "Je lave le sol du hall avec la machine",
              "how": "Je mets le panneau « sol glissant ». Je remplis la machine, je lave, "
                     "puis je rince et je range la machine.",
              "tools": "autolaveuse, panneau", "where": "le hall d’accueil",
              "frequency": "toutes les semaines"},
     "photo": ((90, 150, 90), "autolaveuse"), "tags": ("C4",), "avis": None},
)


def photo_bytes(color: tuple[int, int, int], label: str) -> bytes:
    """A small JPEG made with Pillow: a coloured scene with a word on it."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((120, 160, 520, 400), fill=tuple(min(255, c + 60) for c in color))
    draw.text((140, 180), label, fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _person(session: Session, platform: Platform, who: DemoPerson) -> Person:
    person = Person(platform_id=platform.id, sub=who.sub, name=who.name,
                    given_name=who.given_name, family_name=who.family_name, email=who.email,
                    is_coordinateur=INSTITUTION_ADMIN in who.roles)
    session.add(person)
    session.flush()
    return person


def seed_demo(session: Session, store: Any, issuer: str, deployment_id: str) -> bool:
    """Samira's parcours well under way, on a demo platform nobody used yet. True if seeded."""
    from referentiels import Catalog

    from .parcours import reviews, services, tags, tasks
    from .parcours.catalog import load_catalog
    from .parcours.evidence import attach_evidence

    platform = session.scalar(select(Platform).where(Platform.issuer == issuer))
    if platform is None:
        return False
    if session.scalar(select(Person.id).where(Person.platform_id == platform.id).limit(1)):
        return False  # the demo was used already: never touch what people did
    # The course offers the three trades' référentiels (two are historical texts, whole).
    course = Course(platform_id=platform.id, context_id=DEFAULT_COURSE,
                    deployment_id=deployment_id, title=COURSES[DEFAULT_COURSE],
                    referentiels=[p.referentiel for p in PEOPLE.values() if p.referentiel])
    session.add(course)
    session.flush()
    people = {key: _person(session, platform, who) for key, who in PEOPLE.items()}
    roles = {"candidat1": Role.CANDIDAT, "candidat2": Role.CANDIDAT,
             "candidat3": Role.CANDIDAT, "accompagnatrice": Role.ACCOMPAGNATEUR,
             "coordinateur": Role.COORDINATEUR}
    for key, role in roles.items():
        session.add(Membership(course_id=course.id, person_id=people[key].id, role=role,
                               roles_raw=list(PEOPLE[key].roles), launched=True))
    session.flush()

    def actor(key: str) -> Actor:
        return Actor(person_id=people[key].id, platform_id=platform.id,
                     course_id=course.id, role=roles[key], deployment_id=deployment_id)

    catalog: Catalog = load_catalog(session, platform_id=platform.id)
    samira, nadia = actor("candidat1"), actor("accompagnatrice")
    parcours = services.get_or_create_parcours(session, samira, catalog=catalog)
    ref_id, _, version = PEOPLE["candidat1"].referentiel.partition("@")
    services.set_referentiels(session, samira, parcours.id,
                              [services.ReferentielChoice(ref_id, version)], catalog=catalog)
    services.set_modalite(session, samira, parcours.id, Modalite.CONCRET.value)
    for step in SAMIRA_TASKS:
        task = tasks.create_task(session, samira, parcours.id, step["task"])
        color, label = step["photo"]
        attach_evidence(session, samira, store, task.id, photo_bytes(color, label),
                        filename=f"{label}.jpg", caption=step["task"]["title"])
        for code in step["tags"]:
            tags.add_tag(session, samira, task.id, referentiel_id=ref_id,
                         referentiel_version=version, competence_code=code, catalog=catalog)
        if step["avis"]:
            code, verdict, comment = step["avis"]
            reviews.add_review(session, nadia, parcours.id, referentiel_id=ref_id,
                               referentiel_version=version, competence_code=code,
                               verdict=verdict, comment=comment, catalog=catalog)
    session.flush()
    log.info("demo: Samira's parcours seeded (%d activities)", len(SAMIRA_TASKS))
    return True
