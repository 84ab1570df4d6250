"""Issue 14: the demo's people work in trades that match shipped, complete référentiels, and
Samira's parcours is already well under way when the demo starts on an empty database."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select

from integration.demo_people import PEOPLE, seed_demo
from integration.demo_platform import DEPLOYMENT_ID, demo_of
from integration.models import Evidence, Parcours, Person, Review, Tag, Task
from referentiels import Catalog
from referentiels.completeness import is_complete
from tests.test_pages_support import db_of, launched, text_of


def test_each_demo_candidat_has_a_trade_with_a_shipped_complete_referentiel() -> None:
    catalog = Catalog.shipped()
    candidats = [p for p in PEOPLE.values() if p.referentiel]
    assert len(candidats) == 3
    for person in candidats:
        ref = catalog.get(*person.referentiel.split("@"))
        assert is_complete(ref), person.referentiel
        assert not any(word in person.what for word in ("recyclerie", "maraîchage", "couture"))


def test_the_demo_is_seeded_once_on_an_empty_database(demo_app: Flask) -> None:
    runtime = demo_app.extensions["reperes"]
    issuer = demo_of(demo_app).issuer
    with runtime.sessions.begin() as session:
        assert seed_demo(session, runtime.store, issuer, DEPLOYMENT_ID)
    with runtime.sessions.begin() as session:
        assert not seed_demo(session, runtime.store, issuer, DEPLOYMENT_ID)  # idempotent
    with db_of(demo_app) as db:
        parcours = db.scalars(select(Parcours).join(Person).where(
            Person.sub == "demo-samira")).one()
        assert [(r.referentiel_id, r.referentiel_version) for r in parcours.referentiels] == [
            ("TP-APH", "2013-08-13")]
        tasks = db.scalars(select(Task).where(Task.parcours_id == parcours.id)).all()
        assert len(tasks) == 3 and all(t.title.startswith("Je ") for t in tasks)
        ids = [t.id for t in tasks]
        assert db.scalar(select(func.count(Evidence.id)).where(Evidence.task_id.in_(ids))) == 3
        assert db.scalar(select(func.count(Tag.id)).where(Tag.task_id.in_(ids))) == 3
        assert db.scalar(select(func.count(Review.id)).where(
            Review.parcours_id == parcours.id)) == 2
    # Samira launches as Moodle would and finds her parcours under way.
    samira = launched(demo_app, "candidat1")
    page = text_of(samira.get("/moi/referentiel"))
    assert re.search(r"\b3 [^<]*sur 6\b", page), "3 of 6 compétences with a photo"
    # Jean-Marc and Fatou find their trade in the choice.
    choice = text_of(launched(demo_app, "candidat3").get("/moi/referentiel/choisir"))
    assert "commercial" in choice and "paysag" in choice.lower()
    # Nadia sees her in the course.
    assert "Samira" in text_of(launched(demo_app, "accompagnatrice").get("/cours"))
