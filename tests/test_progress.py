"""One progress model: the grid, the course board, the API's coverage, the gradebook score
and the Word dossier say the same thing about the same candidat."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from integration import parcours as services
from integration.dossier.context import gather
from integration.models import Evidence, EvidenceKind, Recognition, Review, Tag, TaskSource, Verdict
from integration.pages.board import Roster, course_board
from integration.pages.grades import progress_of
from integration.parcours.catalog import load_catalog
from integration.parcours.progress import decide, load_facts
from tests.support.parcours import APH, Cast, committed, login, make_task

REF, VERSION = APH


def _tag(session: Any, task_id: int, code: str) -> None:
    session.add(Tag(task_id=task_id, referentiel_id=REF, referentiel_version=VERSION,
                    competence_code=code))


def _every_kind_of_evidence(database_url: str, cast: Cast) -> int:
    """Alice's parcours: words only (C1), a photo (C2), a PDF (C3), a completed Moodle
    module (C4), a module not complete (C5), an activity tagged with nothing, avis and a
    recognition."""
    with committed(database_url) as s:
        parcours = s.merge(cast.parcours["alice"])
        words = make_task(s, parcours, title="Je nettoie les bureaux")
        photo = make_task(s, parcours, title="Je lave les vitres")
        pdf = make_task(s, parcours, title="Fiche de poste", source=TaskSource.COURSEWORK)
        module = make_task(s, parcours, title="Module hygiène", source=TaskSource.MOODLE,
                           moodle_cmid=11, moodle_completed=True,
                           moodle_completed_at=datetime(2026, 11, 2, tzinfo=UTC))
        pending = make_task(s, parcours, title="Module sécurité", source=TaskSource.MOODLE,
                            moodle_cmid=12, moodle_completed=False)
        make_task(s, parcours, title="Je sors les poubelles")
        s.flush()
        for task, code in ((words, "C1"), (photo, "C2"), (pdf, "C3"), (module, "C4"),
                           (pending, "C5")):
            _tag(s, task.id, code)
        s.add(Evidence(task_id=photo.id, kind=EvidenceKind.PHOTO, storage_path="p.jpg"))
        s.add(Evidence(task_id=pdf.id, kind=EvidenceKind.PDF, storage_path="f.pdf"))
        s.add(Evidence(task_id=module.id, kind=EvidenceKind.MOODLE, caption="Module terminé"))
        carla = cast.people["carla"]
        for code, verdict in (("C1", Verdict.PARTIELLEMENT), ("C2", Verdict.NON),
                              ("C2", Verdict.OUI)):
            s.add(Review(parcours_id=parcours.id, referentiel_id=REF,
                         referentiel_version=VERSION, competence_code=code, verdict=verdict,
                         reviewer_id=carla.id, reviewer_name="Carla"))
        s.add(Recognition(parcours_id=parcours.id, referentiel_id=REF,
                          referentiel_version=VERSION, code="C3", recognised=True))
        return parcours.id


EXPECTED = {  # code: (shown, proven, latest verdict)
    "C1": (True, False, "partiellement"),
    "C2": (True, True, "oui"),
    "C3": (True, True, None),
    "C4": (True, True, None),
    "C5": (False, False, None),
    "C6": (False, False, None),
}


def test_the_grid_the_board_the_api_the_score_and_the_dossier_agree(
    api_app: Any, database_url: str, cast: Cast
) -> None:
    pid = _every_kind_of_evidence(database_url, cast)
    carla = cast.actor("carla")
    runtime = api_app.extensions["reperes"]

    with runtime.sessions() as db:
        catalog = load_catalog(db, platform_id=carla.platform_id)
        grid = services.parcours_progress(db, carla, pid, catalog=catalog)
        grid_view = {item.code: (item.shown, item.proven, item.verdict)
                     for _, _, item in grid.competences()}
        assert grid_view == EXPECTED
        assert grid.untagged_task_ids and len(grid.untagged_task_ids) == 1
        recognised = {item.code for _, _, item in grid.competences() if item.recognised}
        assert recognised == {"C3"}

        with api_app.test_request_context():
            board = course_board(db, carla, catalog, Roster(None, False))
        row = next(r for r in board.rows if r.parcours is not None and r.parcours.id == pid)
        assert (row.totals.items, row.totals.with_tasks, row.totals.with_evidence,
                row.totals.oui, row.totals.partiellement, row.totals.non) == (6, 4, 3, 1, 1, 0)
        for ref_progress in grid.referentiels:
            for bloc in ref_progress.blocs:
                cell = row.cells[(REF, VERSION, bloc.code)]
                assert cell == bloc.totals

        score = progress_of(db, carla, pid, catalog)
        assert score.given == 1.5 and score.maximum == 6

        context = gather(db, carla, pid, catalog=catalog, version=1,
                         now=datetime(2026, 12, 4, tzinfo=UTC)).context
    in_dossier = {c["code"]: c for b in context["blocs"] for c in b["competences"]}
    for code, (shown, proven, verdict) in EXPECTED.items():
        assert (code in in_dossier) == (shown or verdict is not None), code
        if code in in_dossier:
            assert (in_dossier[code]["nb_preuves"] > 0) == proven, code
            assert (in_dossier[code]["revue"]["verdict"] or None) == verdict, code
    assert [m["nom"] for m in in_dossier["C4"]["modules"]] == ["Module hygiène"]

    client = api_app.test_client()
    login(client, carla)
    api = client.get(f"/api/v1/parcours/{pid}/coverage").get_json()
    api_view = {item["code"]: (bool(item["task_ids"]), item["evidence_count"] > 0,
                               item["review"]["verdict"] if item["review"] else None)
                for ref in api["referentiels"] for bloc in ref["blocs"] for item in bloc["items"]}
    assert api_view == EXPECTED
    assert api["referentiels"][0]["totals"]["with_evidence"] == 3


def test_the_model_reads_a_whole_course_in_a_fixed_number_of_queries(
    api_app: Any, database_url: str, cast: Cast
) -> None:
    from sqlalchemy import event

    pid = _every_kind_of_evidence(database_url, cast)
    runtime = api_app.extensions["reperes"]
    statements: list[str] = []
    event.listen(runtime.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    with runtime.sessions() as db:
        load_facts(db, [pid])  # the transaction's own first statements are not counted
        statements.clear()
        few = load_facts(db, [pid])
        one = len(statements)
        statements.clear()
        many = load_facts(db, [p.id for p in cast.parcours.values()])
        assert len(statements) == one <= 5
    catalog_refs = [r for r in load_catalog_refs(api_app)]
    assert decide(few, pid, catalog_refs).totals == decide(many, pid, catalog_refs).totals


def load_catalog_refs(api_app: Any) -> list[Any]:
    runtime = api_app.extensions["reperes"]
    with runtime.sessions() as db:
        catalog = load_catalog(db, platform_id=None)
    ref = catalog.find(REF, VERSION)
    assert ref is not None
    return [ref]


def test_a_course_read_as_counts_decides_the_same_as_a_read_of_every_activity(
    api_app: Any, database_url: str, cast: Cast
) -> None:
    pid = _every_kind_of_evidence(database_url, cast)
    refs = load_catalog_refs(api_app)
    with api_app.extensions["reperes"].sessions() as db:
        ids = [p.id for p in cast.parcours.values()]
        detailed = decide(load_facts(db, ids), pid, refs)
        counted = decide(load_facts(db, ids, detail=False), pid, refs)
    assert counted.totals == detailed.totals
    assert counted.activity_count == detailed.activity_count == 6
    assert counted.tags_elsewhere == detailed.tags_elsewhere
    assert counted.last_activity_at == detailed.last_activity_at
    for (_, _, a), (_, _, b) in zip(detailed.competences(), counted.competences(), strict=True):
        assert (a.code, a.shown, a.proven, a.evidence_count, a.file_count, a.verdict) == (
            b.code, b.shown, b.proven, b.evidence_count, b.file_count, b.verdict)

