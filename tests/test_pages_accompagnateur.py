"""The accompagnateur's pages: the candidats of the course (names and roles merged with who
launched), one candidat's file, reviews, the step « prêt pour le jury », the course table,
and progress sent to Moodle's gradebook."""

from __future__ import annotations

from io import BytesIO

from flask import Flask
from sqlalchemy import select

from integration.demo_platform import demo_of
from integration.models import Course, Parcours, ParcoursStatus, Review
from tests.test_pages_support import db_of, jpeg_bytes, launched, post, text_of, values_of

EPC_ID, EPC_VERSION = "CAP-EPC", "2019-10-29"


def candidat_with_a_tagged_photo(app: Flask, who: str = "candidat1") -> tuple[int, str]:
    """A candidat who chose CAP-EPC and tagged one task with a photo: (parcours id, code)."""
    candidat = launched(app, who)
    page = candidat.get("/moi/referentiel/choisir").get_data(as_text=True)
    post(candidat, "/moi/referentiel/choisir",
         {"referentiel": f"{EPC_ID}@{EPC_VERSION}", "version": values_of(page, "version")[0]},
         token_from="/moi/referentiel/choisir")
    created = post(candidat, "/moi/activites/nouvelle",
                   {"title": "J’accueille les clients et je tiens la caisse",
                    "photo": (BytesIO(jpeg_bytes()), "caisse.jpg")},
                   token_from="/moi/activites/nouvelle", content_type="multipart/form-data")
    task_path = created.headers["Location"].split("localhost")[-1]
    codes = values_of(candidat.get(task_path + "/competences").get_data(as_text=True),
                      "competence_code")
    post(candidat, task_path + "/competences",
         {"referentiel_id": EPC_ID, "referentiel_version": EPC_VERSION,
          "competence_code": codes[0]}, token_from=task_path)
    with db_of(app) as db:
        parcours_id = db.scalars(select(Parcours)).all()[-1].id
    return parcours_id, codes[0]


def review_path(parcours_id: int, code: str) -> str:
    return f"/cours/candidats/{parcours_id}/competences/{EPC_ID}/{EPC_VERSION}/{code}"


def test_an_instructor_launch_opens_the_candidats_of_the_course(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    home = nadia.get("/")
    assert home.status_code == 303 and home.headers["Location"].endswith("/cours")
    page = nadia.get("/cours")
    text = text_of(page)
    assert page.status_code == 200
    assert "Parcours RAE – La Fabrique de l’Emploi" in text
    assert "Samira B." in text and f"/cours/candidats/{parcours_id}" in text
    assert "1 sur 14" in text  # compétences with a proof
    assert "en préparation" in text and "1 activité" in text and "Dernière action" in text
    # Names and roles: the other candidats of the Moodle course, not yet come.
    assert "Jean-Marc D." in text and "Fatou K." in text
    assert "Pas encore venu dans Repères" in text
    assert "Nadia L." not in text  # accompagnateurs are not candidats


def test_the_list_still_shows_who_launched_when_moodle_does_not_answer(demo_app: Flask):
    candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    with db_of(demo_app) as db:
        db.scalars(select(Course)).one().nrps_url = "http://127.0.0.1:9/nowhere"
    text = text_of(nadia.get("/cours"))
    assert "La liste du cours dans Moodle n’a pas pu être lue" in text
    assert "Samira B." in text and "Fatou K." not in text


def test_accompagnateur_reviews_a_competence_and_the_gradebook_hears_of_it(demo_app: Flask):
    parcours_id, code = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    file = text_of(nadia.get(f"/cours/candidats/{parcours_id}"))
    assert "Le positionnement" in file and "à voir" in file
    assert "J’accueille les clients et je tiens la caisse" in file
    assert "variant=preview" in file  # the photos, reduced
    review = nadia.get(review_path(parcours_id, code))
    assert review.status_code == 200
    assert "Le candidat sait-il le faire ?" in text_of(review)
    assert "J’accueille les clients" in text_of(review)
    empty = post(nadia, review_path(parcours_id, code), {"comment": "à revoir"},
                 token_from=review_path(parcours_id, code))
    assert empty.status_code == 422
    assert "Choisissez : oui, non ou partiellement." in text_of(empty)
    assert "à revoir" in text_of(empty)
    done = post(nadia, review_path(parcours_id, code),
                {"verdict": "oui", "comment": "Vu à la caisse, très sûre."},
                token_from=review_path(parcours_id, code))
    assert done.status_code == 303
    after = text_of(nadia.get(done.headers["Location"]))
    assert "Votre avis est enregistré : Oui." in after
    assert "Le carnet de notes" not in after  # sent without trouble
    scores = [s for item in demo_of(demo_app).props.scores.values() for s in item]
    assert scores and scores[-1]["userId"] == "demo-samira"
    assert scores[-1]["scoreGiven"] == 1 and scores[-1]["scoreMaximum"] == 14
    # The candidat sees the word of the accompagnateur, with an icon and the words.
    samira = launched(demo_app, "candidat1")
    mine = text_of(samira.get("/moi/referentiel"))
    assert "Votre accompagnateur a dit : Oui" in mine and "Vu à la caisse, très sûre." in mine


def test_a_gradebook_that_fails_never_blocks_the_review(demo_app: Flask):
    parcours_id, code = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    with db_of(demo_app) as db:
        course = db.scalars(select(Course)).one()
        course.ags_lineitems_url = "http://127.0.0.1:9/lineitems"
    done = post(nadia, review_path(parcours_id, code), {"verdict": "partiellement"},
                token_from=review_path(parcours_id, code))
    assert done.status_code == 303
    text = text_of(nadia.get(done.headers["Location"]))
    assert "Votre avis est enregistré : Partiellement." in text
    assert "Le carnet de notes de Moodle n’a pas répondu" in text
    with db_of(demo_app) as db:
        assert db.scalars(select(Review)).one().verdict.value == "partiellement"


def test_marking_the_parcours_ready_for_the_jury(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    path = f"/cours/candidats/{parcours_id}"
    page = nadia.get(path).get_data(as_text=True)
    refused = post(nadia, path + "/etape",
                   {"status": "pret_pour_le_jury", "version": values_of(page, "version")[0]},
                   token_from=path)
    assert refused.status_code == 409
    assert "Avant le jury, choisissez la modalité." in text_of(refused)
    with db_of(demo_app) as db:
        db.get(Parcours, parcours_id).modalite = "concret"
    page = nadia.get(path).get_data(as_text=True)
    ready = post(nadia, path + "/etape",
                 {"status": "pret_pour_le_jury", "version": values_of(page, "version")[0],
                  "confirme": "1"},  # blocs without proof: confirmed (issue 17)
                 token_from=path)
    assert ready.status_code == 303
    text = text_of(nadia.get(ready.headers["Location"]))
    assert "le parcours est « prêt pour le jury »" in text
    assert "Remettre en préparation" in text
    assert "1 prêt pour le jury" in text_of(nadia.get("/cours"))
    scores = [s for item in demo_of(demo_app).props.scores.values() for s in item]
    assert scores[-1]["activityProgress"] == "Submitted"
    with db_of(demo_app) as db:
        assert db.get(Parcours, parcours_id).status is ParcoursStatus.PRET_POUR_LE_JURY


def test_the_course_table_shows_candidats_by_bloc(demo_app: Flask):
    candidat_with_a_tagged_photo(demo_app, "candidat1")
    candidat_with_a_tagged_photo(demo_app, "candidat2")
    nadia = launched(demo_app, "accompagnatrice")
    page = nadia.get("/cours/tableau")
    text = text_of(page)
    assert page.status_code == 200
    assert "Samira B." in text and "Jean-Marc D." in text
    assert "Bloc 1" in text and "1/" in text
    assert 'role="region"' in text and 'tabindex="0"' in text


def test_an_accompagnateur_sees_only_the_candidats_of_the_course_of_the_launch(demo_app: Flask):
    parcours_id, code = candidat_with_a_tagged_photo(demo_app)  # course "rae"
    other = launched(demo_app, "accompagnatrice", course="accompagnement")
    listed = text_of(other.get("/cours"))
    # The demo's Moodle lists the same people in every course: Samira is named, but her
    # parcours (in the other course) is neither linked nor counted here.
    assert f"/cours/candidats/{parcours_id}" not in listed and "1 activité" not in listed
    assert other.get(f"/cours/candidats/{parcours_id}").status_code == 404
    assert other.get(review_path(parcours_id, code)).status_code == 404
    refused = post(other, review_path(parcours_id, code), {"verdict": "oui"}, token_from="/cours")
    assert refused.status_code == 404
    with db_of(demo_app) as db:
        assert db.scalars(select(Review)).all() == []


def test_unknown_parcours_and_competences_are_not_found(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    assert nadia.get("/cours/candidats/9999").status_code == 404
    assert nadia.get(review_path(parcours_id, "ZZZ")).status_code == 404
    assert nadia.get("/moi").status_code == 403


def test_an_accompagnateur_opens_a_photo_of_a_candidat_of_the_course(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    file = nadia.get(f"/cours/candidats/{parcours_id}").get_data(as_text=True)
    evidence = file.split('href="/preuve/')[1].split('"')[0]
    page = nadia.get(f"/preuve/{evidence}")
    assert page.status_code == 200 and "variant=medium" in page.get_data(as_text=True)
    assert f"/cours/candidats/{parcours_id}#t-" in page.get_data(as_text=True)
    other = launched(demo_app, "accompagnatrice", course="accompagnement")
    assert other.get(f"/preuve/{evidence}").status_code == 404


def test_the_pages_offer_the_dossier_and_the_module_mapping(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    course = nadia.get("/cours").get_data(as_text=True)
    assert "Relier les modules du cours aux compétences" in course
    page = nadia.get(f"/cours/candidats/{parcours_id}").get_data(as_text=True)
    assert "(Word)" in page and f'action="/dossier/{parcours_id}"' in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    made = nadia.post(f"/dossier/{parcours_id}", data={"csrf_token": token})
    assert made.status_code in (302, 303)
    download = nadia.get(made.headers["Location"])
    assert download.status_code == 200
    assert download.data[:2] == b"PK"
    assert "Dossier%20de%20preuves" in download.headers["Content-Disposition"]


def test_the_course_pages_ask_the_same_few_questions_for_2_or_20_candidats(demo_app: Flask):
    from sqlalchemy import event

    from integration.models import Membership, Person, Role
    from tests.support.parcours import make_membership, make_parcours, make_person, make_task

    candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")

    def more_candidats(count: int) -> None:
        with db_of(demo_app) as db:
            course = db.scalars(select(Course)).one()
            platform = db.get(Person, db.scalars(select(Membership)).first().person_id).platform
            for _ in range(count):
                person = make_person(db, platform)
                make_membership(db, course, person, Role.CANDIDAT)
                parcours = make_parcours(db, person, course, referentiels=[(EPC_ID, EPC_VERSION)])
                make_task(db, parcours)

    def queries(path: str) -> int:
        seen: list[object] = []
        engine = demo_app.extensions["reperes"].engine
        listener = lambda *args: seen.append(args)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert nadia.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    more_candidats(1)
    nadia.get("/cours")  # the first visit also reads Moodle's list (kept two minutes)
    few = (queries("/cours"), queries("/cours/tableau"))
    more_candidats(18)
    assert (queries("/cours"), queries("/cours/tableau")) == few
