"""Repères as it runs in production: the image's entrypoint starts gunicorn with the deploy
config, two workers, on PostgreSQL; a browser-like client goes through the real HTTP flow.

- the whole cycle: the demo platform's OIDC launch, a task, a photo, a tag, the Word
  dossier made and downloaded, answered by both worker processes (no state in memory);
- the server's log lines are JSON with a request id and carry no name, email, id_token,
  CSRF token or session cookie;
- /readyz through gunicorn, the image's healthcheck command;
- proxy headers: X-Forwarded-Proto makes the cookies `Secure; SameSite=None; Partitioned`
  only when it comes from an address in GUNICORN_FORWARDED_ALLOW_IPS;
- a person's export then erasure with the `reperes` command through the entrypoint, after
  which nothing of theirs is left in the database or the storage.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from integration.demo_platform import PEOPLE
from tests.support import postgres
from tests.support.lti import read_form
from tests.support.parcours import jpeg_bytes

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
VENV_BIN = Path(sys.executable).parent
REFERENTIEL = "TP-APH@2008-08-13"

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPERES_", "GUNICORN_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["GUNICORN_CONF"] = str(ROOT / "deploy" / "gunicorn.conf.py")
    env.update(values)
    return env


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    database_url: str
    var_dir: Path

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (anything else is kept as a message)."""
        out = []
        for raw in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"message": raw, "logger": "-"})
        return out

    def workers(self) -> set[int]:
        found = set()
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            if f"\nPPid:\t{self.process.pid}\n" in text:
                found.add(int(status.parent.name))
        return found

    def entrypoint(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(ENTRYPOINT), *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)


def _start(env: dict[str, str], workdir: Path, port: int, database_url: str,
           var_dir: Path) -> Server:
    log = workdir / f"gunicorn-{port}.log"
    process = subprocess.Popen(["sh", str(ENTRYPOINT), "serve"], cwd=ROOT, env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log, env, database_url, var_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn stopped:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(server.base + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        _stop(server)
        raise AssertionError(f"gunicorn did not answer:\n{log.read_text()[-3000:]}")
    while len(server.workers()) < int(env["GUNICORN_WORKERS"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return server


def _stop(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)


@pytest.fixture(scope="module")
def server(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn through the entrypoint: 2 workers, PostgreSQL, demo platform, JSON logs."""
    workdir = tmp_path_factory.mktemp("gunicorn")
    url = postgres.create_database(postgres_admin_url, f"reperes_gunicorn_{os.getpid()}")
    port = _free_port()
    var_dir = workdir / "var"
    env = _environment(
        REPERES_DATABASE_URL=url,
        REPERES_SECRET_KEY="gunicorn-test-secret",
        REPERES_VAR_DIR=str(var_dir),
        REPERES_BASE_URL=f"http://127.0.0.1:{port}",
        REPERES_DEMO="true",
        REPERES_LOG_JSON="true",
        REPERES_TRUST_PROXY="true",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
    )
    running = _start(env, workdir, port, url, var_dir)
    try:
        yield running
    finally:
        _stop(running)


# --- a browser that opens a new connection for each request ----------------------------


_ids = itertools.count(1)


@dataclass
class Browser:
    """requests.Session with cookies; `Connection: close` so that either worker may answer."""

    base: str
    tag: str
    http: requests.Session = field(default_factory=requests.Session)
    sent: list[str] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        rid = f"{self.tag}-{next(_ids)}"
        self.sent.append(rid)
        headers = {"Connection": "close", "X-Request-ID": rid, **kwargs.pop("headers", {})}
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 60)
        target = url if url.startswith("http") else self.base + url
        response = self.http.request(method, target, headers=headers, **kwargs)
        assert response.headers.get("X-Request-ID") == rid
        return response

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", url, **kwargs)


@dataclass
class Journey:
    browser: Browser
    id_token: str
    csrf: str
    parcours_id: int
    task_id: int
    photo: bytes
    dossier: bytes


def _launch(browser: Browser, who: str) -> str:
    """The demo platform's OIDC flow, over HTTP; the id_token that crossed the wire."""
    start = browser.get("/demo/start", params={"who": who, "course": "rae"})
    assert start.status_code == 200, start.text[:300]
    action, fields = read_form(start.text)
    login = browser.post(action, data=fields)
    assert login.status_code == 302, login.text[:300]
    assert any(c.name.startswith("lti_state_") for c in browser.http.cookies)
    auth = browser.get(login.headers["Location"])
    assert auth.status_code == 200, auth.text[:300]
    action, form = read_form(auth.text)
    assert action.endswith("/lti/launch") and form.get("id_token")
    launched = browser.post(action, data=form)
    assert launched.status_code == 303, launched.text[:500]
    assert browser.http.cookies.get("session")
    home = browser.get(launched.headers["Location"], allow_redirects=True)
    assert home.status_code == 200 and "<html" in home.text.lower()
    return form["id_token"]


def _journey(server: Server, who: str, tag: str) -> Journey:
    """Launch, task, photo, tag, dossier made and downloaded: a candidat's whole cycle."""
    browser = Browser(server.base, tag)
    id_token = _launch(browser, who)
    csrf = browser.get("/api/v1/session").json()["csrf_token"]
    write = {"X-CSRF-Token": csrf}
    parcours = browser.get("/api/v1/parcours/mine").json()
    chosen = browser.put(f"/api/v1/parcours/{parcours['id']}/referentiels", headers=write,
                         json={"referentiels": [REFERENTIEL]})
    assert chosen.status_code == 200, chosen.text
    task = browser.post(f"/api/v1/parcours/{parcours['id']}/tasks", headers=write,
                        json={"title": "Je trie les dons de vêtements"})
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    photo = jpeg_bytes(size=(320, 240))
    upload = browser.post(f"/api/v1/tasks/{task_id}/evidence", headers=write,
                          files={"file": ("tri.jpg", photo, "image/jpeg")},
                          data={"caption": "le tri du matin"})
    assert upload.status_code == 201, upload.text
    tagged = browser.post(f"/api/v1/tasks/{task_id}/tags", headers=write,
                          json={"address": f"{REFERENTIEL}#C1", "comment": "je sais faire"})
    assert tagged.status_code == 201, tagged.text
    made = browser.post(f"/dossier/{parcours['id']}", data={"csrf_token": csrf})
    assert made.status_code == 303, made.text[:500]
    dossier = browser.get(made.headers["Location"])
    assert dossier.status_code == 200, dossier.text[:300]
    assert "attachment" in dossier.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(dossier.content)) as docx:
        assert "word/document.xml" in docx.namelist()
        assert "Je trie les dons de vêtements" in docx.read("word/document.xml").decode()
    return Journey(browser, id_token, csrf, parcours["id"], task_id, photo, dossier.content)


def _served_by(server: Server, request_ids: list[str]) -> dict[str, int]:
    """request id -> pid of the worker that wrote its access line."""
    wanted = set(request_ids)
    return {
        line["request_id"]: line["pid"]
        for line in server.lines()
        if line.get("logger") == "reperes.access" and line.get("request_id") in wanted
    }


# --- the tests ------------------------------------------------------------------------


def test_a_candidat_goes_through_the_whole_cycle_on_both_workers(server: Server) -> None:
    journey = _journey(server, "candidat1", "cycle")
    browser = journey.browser
    workers = server.workers()
    assert len(workers) == 2, workers
    # Each request came on a new connection; the kernel spreads them between the two
    # workers. A few more reads with the same session make sure both were used, and
    # that the session and the CSRF token mean the same to both.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if set(_served_by(server, browser.sent).values()) >= workers:
            break
        answer = browser.get("/api/v1/session")
        assert answer.status_code == 200 and answer.json()["csrf_token"] == journey.csrf
    served = _served_by(server, browser.sent)
    assert set(served) == set(browser.sent), "a request has no access line"
    assert set(served.values()) == workers

    person = PEOPLE["candidat1"]
    cookie = browser.http.cookies.get("session")
    assert cookie
    logs = server.log.read_text(encoding="utf-8")
    for secret, what in ((person.given_name, "first name"), (person.email, "email"),
                         (journey.id_token, "id_token"), (journey.csrf, "CSRF token"),
                         (cookie, "session cookie"), ("Je trie les dons", "task title")):
        assert secret not in logs, f"the {what} appears in gunicorn's output"
    for line in server.lines():
        if line.get("logger") == "-":  # `reperes db upgrade` says where it left the database
            assert line["message"].startswith("database at migration "), line["message"][:200]
            continue
        assert "request_id" in line and "pid" in line, line


def test_readyz_and_the_image_healthcheck_through_gunicorn(server: Server) -> None:
    ready = requests.get(server.base + "/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok",
                            "checks": {"database": "ok", "migrations": "ok", "storage": "ok"}}
    assert server.entrypoint("healthcheck").returncode == 0
    elsewhere = {**server.env, "GUNICORN_BIND": f"127.0.0.1:{_free_port()}"}
    down = subprocess.run(["sh", str(ENTRYPOINT), "healthcheck"], env=elsewhere,
                          capture_output=True, text=True, timeout=30, check=False)
    assert down.returncode == 1 and "healthcheck" in down.stderr


def _state_cookie(browser: Browser, **headers: str) -> str:
    start = browser.get("/demo/start", params={"who": "candidat3", "course": "rae"})
    action, fields = read_form(start.text)
    login = browser.post(action, data=fields, headers=headers)
    assert login.status_code == 302
    return next(v for k, v in login.headers.items() if k.lower() == "set-cookie"
                and "lti_state_" in v)


def test_https_from_the_proxy_makes_cross_site_cookies(server: Server) -> None:
    browser = Browser(server.base, "proxy")
    secure = _state_cookie(browser, **{"X-Forwarded-Proto": "https"})
    assert "Secure" in secure and "SameSite=None" in secure and "Partitioned" in secure
    plain = _state_cookie(browser)
    assert "Secure" not in plain and "SameSite=Lax" in plain


def test_proxy_headers_from_elsewhere_are_ignored(tmp_path: Path) -> None:
    port = _free_port()
    var_dir = tmp_path / "var"
    env = _environment(
        REPERES_SECRET_KEY="t", REPERES_VAR_DIR=str(var_dir), REPERES_DEMO="true",
        REPERES_BASE_URL=f"http://127.0.0.1:{port}", REPERES_TRUST_PROXY="true",
        REPERES_LOG_JSON="true", GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1",
        GUNICORN_FORWARDED_ALLOW_IPS="192.0.2.10",  # the proxy is not us
    )
    other = _start(env, tmp_path, port, "", var_dir)
    try:
        cookie = _state_cookie(Browser(other.base, "forged"), **{"X-Forwarded-Proto": "https"})
        assert "Secure" not in cookie and "SameSite=Lax" in cookie
    finally:
        _stop(other)


def _everything_in(url: str) -> str:
    """Every value of every row of every table, as text (bytes decoded loosely)."""
    engine = sa.create_engine(url)
    out = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    out.append(f"{table}: {value}")
    engine.dispose()
    return "\n".join(out)


def _storage_text(folder: Path) -> str:
    """Every path, file content and .docx member below `folder`, as text."""
    out = []
    for path in sorted(folder.rglob("*")):
        out.append(str(path.relative_to(folder)))
        if path.is_file():
            data = path.read_bytes()
            out.append(data.decode("utf-8", "replace"))
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    out.extend(archive.read(n).decode("utf-8", "replace")
                               for n in archive.namelist())
    return "\n".join(out)


@dataclass
class Erased:
    marks: tuple[str, ...]
    database: str
    storage: str


@pytest.fixture(scope="module")
def erased(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Erased:
    """Jean-Marc's cycle, then `reperes person export` and `erase` through the entrypoint."""
    person = PEOPLE["candidat2"]
    journey = _journey(server, "candidat2", "erase")
    files = server.var_dir / "files"
    # The dossier's folder is theirs; it is written just after the page answers (issue 18).
    deadline = time.monotonic() + 30
    while person.given_name not in _storage_text(files) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert person.given_name in _storage_text(files)
    assert person.email in _everything_in(server.database_url)

    out = tmp_path_factory.mktemp("export") / "export.zip"
    exported = server.entrypoint("person", "export", "--email", person.email, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(out) as archive:
        document = json.loads(archive.read("donnees.json"))
        names = archive.namelist()
    assert document["rows"]["person"][0]["email"] == person.email
    assert [t["title"] for t in document["rows"]["tasks"]] == ["Je trie les dons de vêtements"]
    assert any(n.startswith("fichiers/") for n in names) and document["files_missing"] == []
    assert any(d["parcours_id"] == journey.parcours_id for d in document["rows"]["dossiers"])

    done = server.entrypoint("person", "erase", "--email", person.email, "--yes")
    assert done.returncode == 0, done.stderr
    assert "erased" in done.stdout
    still = server.entrypoint("person", "export", "--email", person.email, "--out", str(out))
    assert still.returncode != 0
    return Erased((person.given_name, person.email, person.sub),
                  _everything_in(server.database_url), _storage_text(files))


def test_after_export_and_erasure_the_database_keeps_nothing_of_the_person(
    erased: Erased,
) -> None:
    for mark in erased.marks:
        assert mark not in erased.database, f"{mark!r} is still in the database"
    assert "person_erased" in erased.database  # the audit line, with ids and counts only


def test_after_export_and_erasure_the_storage_keeps_nothing_of_the_person(
    erased: Erased,
) -> None:
    for mark in erased.marks:  # their folder RAE/<cours>/<Nom Prénom>/ and photos too
        assert mark not in erased.storage, f"{mark!r} is still in the storage"
