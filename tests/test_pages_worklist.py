"""The accompagnateur's day (issue 17): « À regarder », review by activity with
« Enregistrer et suivante », comments and proposals (the candidat decides), the course list
(search, sort, filter, what each one waits for), the matrix's links, ready for the jury
with care, and the score in the activity's own gradebook column."""

from __future__ import annotations

import re
from io import BytesIO

from flask import Flask
from sqlalchemy import func, select

from integration.demo_platform import demo_of
from integration.models import (
    ActivityComment,
    HistoryEntry,
    Parcours,
    ParcoursStatus,
    Review,
    Tag,
    TagProposal,
    Task,
    TaskSeen,
)
from tests.support.lti import launch_as
from tests.test_pages_accompagnateur import EPC_ID, EPC_VERSION, candidat_with_a_tagged_photo
from tests.test_pages_support import db_of, jpeg_bytes, launched, post, text_of, values_of


def _untagged(app: Flask, who: str = "candidat1", title: str = "Je range la réserve") -> int:
    candidat = launched(app, who)
    created = post(candidat, "/moi/activites/nouvelle", {"title": title},
                   token_from="/moi/activites/nouvelle")
    found = re.search(r"/moi/activites/(\d+)", created.headers["Location"])
    assert found, created.headers["Location"]
    return int(found.group(1))


def _task_of(app: Flask, parcours_id: int, title_part: str) -> int:
    with db_of(app) as db:
        return db.scalars(select(Task.id).where(Task.parcours_id == parcours_id,
                                                Task.title.contains(title_part))).one()


def test_a_regarder_lists_the_newest_first_and_opening_marks_it_seen(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    newest = _untagged(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    page = nadia.get("/cours/a-regarder")
    text = text_of(page)
    assert page.status_code == 200
    assert "2 activités à regarder" in text
    assert text.index("Je range la réserve") < text.index("J’accueille les clients")
    assert "Samira B." in text and "variant=preview" in page.get_data(as_text=True)
    # the same count on the course page
    assert "À regarder : 2 activités" in text_of(nadia.get("/cours"))
    opened = nadia.get(f"/cours/activites/{newest}")
    assert opened.status_code == 200
    assert "n’a pas encore de compétence" in text_of(opened)
    text = text_of(nadia.get("/cours/a-regarder"))
    assert "1 activité à regarder" in text and "Je range la réserve" not in text
    with db_of(demo_app) as db:
        assert db.scalar(select(func.count(TaskSeen.id))) == 1
    # The candidat changes it: it comes back.
    samira = launched(demo_app, "candidat1")
    edit = f"/moi/activites/{newest}/modifier"
    page_edit = samira.get(edit).get_data(as_text=True)
    fields = {"title": "Je range la réserve et je compte", "version":
              values_of(page_edit, "version")[0]}
    post(samira, edit, fields, token_from=edit)
    assert "Je range la réserve et je compte" in text_of(nadia.get("/cours/a-regarder"))
    assert parcours_id


def test_review_by_activity_then_the_next_one(demo_app: Flask):
    parcours_id, code = candidat_with_a_tagged_photo(demo_app)
    first = _task_of(demo_app, parcours_id, "J’accueille")
    second = _untagged(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    page = nadia.get(f"/cours/activites/{first}").get_data(as_text=True)
    assert "Enregistrer et suivante" in page and "Le candidat sait-il" not in page
    field = f"avis-{EPC_ID}-{EPC_VERSION}-{code}"
    assert f'name="{field}"' in page
    done = post(nadia, f"/cours/activites/{first}",
                {field: "oui", "comment": "Très bien à la caisse.", "suivante": "1"},
                token_from=f"/cours/activites/{first}")
    assert done.status_code == 303 and done.headers["Location"].endswith(
        f"/cours/activites/{second}")
    after = text_of(nadia.get(done.headers["Location"]))
    assert "C’est enregistré : Oui." in after
    with db_of(demo_app) as db:
        review = db.scalars(select(Review)).one()
        assert (review.verdict.value, review.competence_code, review.comment) == (
            "oui", code, "Très bien à la caisse.")
        assert db.scalars(select(ActivityComment)).one().task_id == first
    # the gradebook heard of it (the course's line item: no activity line item in the launch)
    scores = [s for item in demo_of(demo_app).props.scores.values() for s in item]
    assert scores[-1]["scoreGiven"] == 1 and "activité(s) à regarder" in scores[-1]["comment"]
    # the untagged one: a comment, then « suivante » ends the list
    done = post(nadia, f"/cours/activites/{second}",
                {"comment": "Dites-moi comment vous rangez.", "suivante": "1"},
                token_from=f"/cours/activites/{second}")
    assert done.headers["Location"].endswith("/cours/a-regarder")
    assert "Il n’y a plus rien à regarder" in text_of(nadia.get(done.headers["Location"]))
    # the candidat reads it under the activity
    samira = launched(demo_app, "candidat1")
    mine = text_of(samira.get(f"/moi/activites/{second}"))
    assert "Ce que dit votre accompagnateur" in mine
    assert "Dites-moi comment vous rangez." in mine


def test_a_proposed_competence_is_the_candidats_to_accept(demo_app: Flask):
    parcours_id, code = candidat_with_a_tagged_photo(demo_app)
    task_id = _untagged(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    path = f"/cours/activites/{task_id}"
    page = nadia.get(path).get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)"', page)
    assert options and all(v.startswith(f"{EPC_ID}@{EPC_VERSION}#") for v in options)
    empty = post(nadia, path + "/proposer", {"competence": ""}, token_from=path)
    assert empty.status_code == 422 and "Choisissez une compétence" in text_of(empty)
    done = post(nadia, path + "/proposer", {"competence": options[1]}, token_from=path)
    assert done.status_code == 303
    again = post(nadia, path + "/proposer", {"competence": options[1]}, token_from=path)
    assert again.status_code == 409 and "déjà proposée" in text_of(again)
    with db_of(demo_app) as db:
        proposal = db.scalars(select(TagProposal)).one()
        assert db.scalar(select(func.count(Tag.id)).where(Tag.task_id == task_id)) == 0
    # the accompagnateur cannot answer for the candidat
    refused = post(nadia, f"/moi/propositions/{proposal.id}/oui", {}, token_from=path)
    assert refused.status_code in (403, 404)
    samira = launched(demo_app, "candidat1")
    mine = text_of(samira.get(f"/moi/activites/{task_id}"))
    assert "pense que cette activité montre aussi" in mine and "C’est juste ?" in mine
    accepted = post(samira, f"/moi/propositions/{proposal.id}/oui", {},
                    token_from=f"/moi/activites/{task_id}")
    assert accepted.status_code == 303
    with db_of(demo_app) as db:
        tag = db.scalars(select(Tag).where(Tag.task_id == task_id)).one()
        assert tag.competence_code == options[1].rsplit("#", 1)[1]
        assert tag.created_by_id == db.get(Parcours, parcours_id).person_id
        assert db.get(TagProposal, proposal.id).accepted is True
    twice = post(samira, f"/moi/propositions/{proposal.id}/non", {},
                 token_from=f"/moi/activites/{task_id}")
    assert "déjà répondu" in text_of(samira.get(twice.headers["Location"]))
    # another candidat never sees it (404)
    fatou = launched(demo_app, "candidat2")
    assert fatou.get(f"/moi/activites/{task_id}").status_code == 404
    stolen = post(fatou, f"/moi/propositions/{proposal.id}/non", {}, token_from="/moi")
    assert stolen.status_code == 404


def test_another_course_accompagnateur_gets_404(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    task_id = _task_of(demo_app, parcours_id, "J’accueille")
    other = demo_app.test_client()
    launch_as(other, "accompagnatrice", course="autre")
    assert other.get(f"/cours/activites/{task_id}").status_code == 404
    assert "J’accueille" not in text_of(other.get("/cours/a-regarder"))
    candidat = launched(demo_app, "candidat1")
    assert candidat.get("/cours/a-regarder").status_code in (403, 404)
    assert candidat.get(f"/cours/activites/{task_id}").status_code in (403, 404)


def test_the_course_list_searches_sorts_and_filters(demo_app: Flask):
    candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    everyone = text_of(nadia.get("/cours"))
    assert "Samira B." in everyone and "Fatou K." in everyone
    assert "Attend votre regard" in everyone and "Pas encore venu dans Repères" in everyone
    found = text_of(nadia.get("/cours?q=samira"))
    assert "Samira B." in found and "Fatou K." not in found
    assert "Samira B." not in text_of(nadia.get("/cours?q=SAMIRAX"))
    waiting = text_of(nadia.get("/cours?etape=pas_commence"))
    assert "Fatou K." in waiting and "Samira B." not in waiting
    first = text_of(nadia.get("/cours?tri=a-regarder"))
    assert first.index("Samira B.") < first.index("Fatou K.")
    assert nadia.get("/cours?tri=nimporte&etape=quoi").status_code == 200


def test_the_matrix_links_every_cell_and_lists_who_has_no_metier(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    launched(demo_app, "candidat2")
    nadia = launched(demo_app, "accompagnatrice")
    page = nadia.get("/cours/tableau").get_data(as_text=True)
    assert f'/cours/candidats/{parcours_id}#bloc-{EPC_ID}-' in page
    assert "<caption" in page and 'scope="col"' in page
    assert "Pas encore de métier choisi" in text_of(nadia.get("/cours/tableau"))
    assert "@media print" in nadia.get("/static/accompagnateur.css").get_data(as_text=True)
    file = nadia.get(f"/cours/candidats/{parcours_id}").get_data(as_text=True)
    assert f'id="bloc-{EPC_ID}-' in file


def test_ready_for_the_jury_asks_a_confirmation_when_blocs_are_uncovered(demo_app: Flask):
    parcours_id, _ = candidat_with_a_tagged_photo(demo_app)
    with db_of(demo_app) as db:
        db.get(Parcours, parcours_id).modalite = "concret"
    nadia = launched(demo_app, "accompagnatrice")
    path = f"/cours/candidats/{parcours_id}"
    page = nadia.get(path)
    text = text_of(page)
    assert "sans aucune preuve" in text and "avec un avis « oui »" in text
    version = values_of(page.get_data(as_text=True), "version")[0]
    refused = post(nadia, path + "/etape", {"status": "pret_pour_le_jury", "version": version},
                   token_from=path)
    assert refused.status_code == 422
    assert "Cochez la case pour confirmer" in text_of(refused)
    with db_of(demo_app) as db:
        assert db.get(Parcours, parcours_id).status is ParcoursStatus.EN_PREPARATION
    ready = post(nadia, path + "/etape", {"status": "pret_pour_le_jury", "version": version,
                                          "confirme": "1"}, token_from=path)
    assert ready.status_code == 303
    back_page = nadia.get(path).get_data(as_text=True)
    version = values_of(back_page, "version")[0]
    back = post(nadia, path + "/etape", {"status": "en_preparation", "version": version},
                token_from=path)
    assert back.status_code == 303
    text = text_of(nadia.get(path))
    assert "Les changements d’étape" in text
    assert re.search(r"prêt pour le jury → (<strong>)?en préparation", text)
    with db_of(demo_app) as db:
        moves = db.scalars(select(HistoryEntry).where(
            HistoryEntry.action == "status.changed")).all()
        assert [m.detail["new"] for m in moves] == ["pret_pour_le_jury", "en_preparation"]


def test_a_graded_activity_gets_the_score_in_its_own_column(demo_app: Flask):
    """The launch carries `endpoint.lineitem` (a graded activity): the score goes there, and
    no « Repères » line item is created in the course."""
    demo = demo_of(demo_app)
    link = demo.place_link("rae", "Mon parcours RAE", score_maximum=100)
    candidat_with_a_tagged_photo(demo_app)
    parcours_id = None
    with db_of(demo_app) as db:
        parcours_id = db.scalars(select(Parcours.id)).one()
    task_id = _task_of(demo_app, parcours_id, "J’accueille")
    nadia = demo_app.test_client()
    launch_as(nadia, "accompagnatrice", course="rae", link=link["id"])
    page = nadia.get(f"/cours/activites/{task_id}").get_data(as_text=True)
    field = next(n for n in _names(page) if n.startswith("avis-"))
    post(nadia, f"/cours/activites/{task_id}", {field: "oui"},
         token_from=f"/cours/activites/{task_id}")
    item_id = int(link["lineitem"].rstrip("/").split("/")[-2])
    sent = demo.props.scores.get(item_id)
    assert sent and sent[-1]["userId"] == "demo-samira"
    assert sent[-1]["scoreGiven"] == 1 and sent[-1]["scoreMaximum"] == 14
    assert len(demo.props.line_items["rae"]) == 1  # nothing else created
    results = [s for k, v in demo.props.scores.items() if k != item_id for s in v]
    assert results == []


def _names(page: str) -> list[str]:
    return re.findall(r'name="([^"]+)"', page)


def test_photo_task_shows_in_the_list_with_its_photo(demo_app: Flask):
    candidat = launched(demo_app, "candidat1")
    page = candidat.get("/moi/referentiel/choisir").get_data(as_text=True)
    post(candidat, "/moi/referentiel/choisir",
         {"referentiel": f"{EPC_ID}@{EPC_VERSION}", "version": values_of(page, "version")[0]},
         token_from="/moi/referentiel/choisir")
    post(candidat, "/moi/activites/nouvelle",
         {"title": "Je plie le linge", "photo": (BytesIO(jpeg_bytes()), "linge.jpg")},
         token_from="/moi/activites/nouvelle", content_type="multipart/form-data")
    nadia = launched(demo_app, "accompagnatrice")
    page = nadia.get("/cours/a-regarder").get_data(as_text=True)
    assert "Je plie le linge" in page and 'loading="lazy"' in page


def test_an_avis_for_one_candidat_leaves_the_others_to_look_at(demo_app: Flask):
    """An avis answers the compétence of that parcours only (the subqueries are correlated
    with each activity, not with any activity of the course)."""
    first, code = candidat_with_a_tagged_photo(demo_app, "candidat1")
    second, _ = candidat_with_a_tagged_photo(demo_app, "candidat3")
    nadia = launched(demo_app, "accompagnatrice")
    task_id = _task_of(demo_app, first, "J’accueille")
    field = f"avis-{EPC_ID}-{EPC_VERSION}-{code}"
    post(nadia, f"/cours/activites/{task_id}", {field: "oui"},
         token_from=f"/cours/activites/{task_id}")
    text = text_of(nadia.get("/cours/a-regarder"))
    assert "1 activité à regarder" in text and "Fatou K." in text
    assert second != first


def test_the_course_pages_ask_the_same_number_of_statements_for_3_or_12_candidats(tmp_path):
    from tests.bench.bench_day import _app

    counts = {}
    for candidats in (3, 12):
        app, client, queries = _app(tmp_path, f"c{candidats}.sqlite3", candidats, 6)
        for path in ("/cours", "/cours/a-regarder"):
            assert client.get(path).status_code == 200
            before = queries[0]
            client.get(path)
            counts[(candidats, path)] = queries[0] - before
        app.extensions["reperes"].engine.dispose()
    for path in ("/cours", "/cours/a-regarder"):
        assert counts[(3, path)] == counts[(12, path)], counts


def test_the_list_being_gone_through_travels_with_the_page_and_garbage_is_dropped() -> None:
    from integration.pages.activities import QUEUE_LENGTH, queue_of

    assert queue_of("12,15,9") == [12, 15, 9]
    assert queue_of("12,x,-3,,15;drop table") == [12]
    assert queue_of(",".join(str(n) for n in range(100))) == list(range(QUEUE_LENGTH))
    assert queue_of("9" * 40) == []
    assert queue_of(None) == []
