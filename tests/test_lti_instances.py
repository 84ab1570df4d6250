"""Two instances (two gunicorn workers, two machines) share one database: a launch started on
one finishes on the other, and a replay on either is refused. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from integration import create_app
from integration.actor import Actor
from integration.db import make_engine
from integration.demo_platform import demo_of
from integration.lti import keys
from integration.lti.context import lti_context
from integration.lti.errors import LaunchError
from integration.lti.launch import accept_launch, check_launch
from integration.settings import Settings
from tests.support.database import migrate
from tests.support.lti import read_form, session_actor


def test_a_launch_started_on_one_instance_finishes_on_the_other(database_url: str, tmp_path: Path):
    settings = Settings(
        var_dir=tmp_path / "var",
        secret_key="shared-secret",
        testing=True,
        database_url=database_url,
        demo=True,
    )
    migrate(database_url)
    first, second = create_app(settings), create_app(settings)
    try:
        browser_a, browser_b = first.test_client(), second.test_client()
        login_url, fields = demo_of(first).login_initiation("candidat2")
        login = browser_a.post(urlsplit(login_url).path, data=fields)  # instance A
        assert login.status_code == 302
        cookie = next(h for h in login.headers.getlist("Set-Cookie") if h.startswith("lti_state_"))
        name, value = cookie.split(";")[0].split("=", 1)
        browser_b.set_cookie(name, value, path="/lti/")  # the same browser, routed to B
        auth = urlsplit(login.headers["Location"])
        page = browser_b.get(auth.path, query_string=auth.query)  # demo auth served by B
        _, form = read_form(page.get_data(as_text=True))
        launched = browser_b.post("/lti/launch", data=form)  # instance B accepts it
        assert launched.status_code == 303, launched.get_data(as_text=True)[:300]
        actor = session_actor(browser_b)
        assert actor is not None and actor.role.value == "candidat"

        # The session signed by B is read by A (same secret key).
        browser_a.set_cookie("session", browser_b.get_cookie("session").value)
        assert session_actor(browser_a) == actor
        # The same id_token replayed on A is refused: the state was consumed in the database.
        browser_a.set_cookie(name, value, path="/lti/")
        replay = browser_a.post("/lti/launch", data=form)
        assert replay.status_code == 400
        # Both instances publish the same tool key.
        assert (
            first.test_client().get("/lti/jwks").json == second.test_client().get("/lti/jwks").json
        )
    finally:
        first.extensions["reperes"].engine.dispose()
        second.extensions["reperes"].engine.dispose()


def _racing(database_url: str, work: Any, n: int = 4) -> list[Any]:
    """Run `work(sessionmaker)` in n threads at once, each with its own engine (an instance)."""
    from integration.db import make_session_factory

    engines = [make_engine(database_url) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(make_session_factory(engines[i]))
        except Exception as exc:  # collected: the test looks at them
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    return results


def test_instances_starting_together_make_a_single_tool_key(database_url: str):
    migrate(database_url)

    def first_use(sessions: Any) -> str:
        with sessions.begin() as session:
            return keys.current_key(session).kid

    kids = _racing(database_url, first_use)
    assert all(isinstance(k, str) for k in kids), kids
    assert len(set(kids)) == 1


def test_a_launch_posted_twice_at_once_is_accepted_once(database_url: str, tmp_path: Path):
    settings = Settings(
        var_dir=tmp_path / "var",
        secret_key="shared-secret",
        testing=True,
        database_url=database_url,
        demo=True,
    )
    migrate(database_url)
    app = create_app(settings)
    try:
        client = app.test_client()
        login_url, fields = demo_of(app).login_initiation("candidat3")
        login = client.post(urlsplit(login_url).path, data=fields)
        auth = urlsplit(login.headers["Location"])
        _, form = read_form(client.get(auth.path, query_string=auth.query).get_data(as_text=True))
        lti = lti_context(app)
        pending = check_launch(lti, form)

        def accept(sessions: Any) -> Any:
            return accept_launch(replace(lti, sessions=sessions), pending)

        outcomes = _racing(database_url, accept, n=3)
        accepted = [o for o in outcomes if isinstance(o, Actor)]
        refused = [o for o in outcomes if isinstance(o, LaunchError)]
        assert len(accepted) == 1 and len(refused) == 2, outcomes
    finally:
        app.extensions["reperes"].engine.dispose()
