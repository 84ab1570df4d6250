"""Launch validation speed: Repères against pylti1p3 on the same id_token, JWKS cached.

Run: python tests/bench/bench_lti.py [--runs N] [--launches N]

First, token validation alone: both validate a Moodle-shaped id_token (the recorded
student launch, re-signed) with the platform keys already in memory: signature,
registration, deployment, message claims and nonce. Figures are the median CPU time
(time.process_time) per validation. pylti1p3 is installed in a throw-away folder for this
run only; without network it is skipped.

Then the whole launch, side by side: POST /lti/launch through Flask's test client, Repères
on SQLite (state and nonce consumed, person, course, membership and session record
written in one transaction, registrations and JWKS cached) against pylti1p3's whole Flask
launch (FlaskMessageLaunch, ToolConfDict, its state in the cookie session, nothing
written). Median wall and CPU time per launch over --launches launches each, interleaved;
the target is Repères no slower than pylti1p3.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
import requests  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from jwt.algorithms import RSAAlgorithm  # noqa: E402

from integration.lti.jwks import PlatformKeys  # noqa: E402
from integration.lti.validation import Registration, validate_id_token  # noqa: E402

SHARED = ROOT.parent / "shared"
ISSUER = "http://127.0.0.1:8081"
CLIENT_ID = "Ey5Wwi28NMqbCdQ"
JWKS_URL = ISSUER + "/mod/lti/certs.php"
TARGET = "http://127.0.0.1:5055/lti/launch"
NONCE = "bench-nonce-0123456789"


def claims() -> dict[str, Any]:
    path = SHARED / "data/moodle-4.3/lti/student_resource_link__id_token.json"
    body = dict(json.loads(path.read_text(encoding="utf-8"))["claims"])
    now = int(time.time())
    body.update(iat=now, exp=now + 3600, nonce=NONCE)
    return body


def median_cpu(run: Callable[[], object], runs: int) -> float:
    for _ in range(min(50, runs)):  # warm up
        run()
    samples = []
    for _ in range(runs):
        start = time.process_time()
        run()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


class _StaticJwks(requests.Session):
    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__()
        self.document = document

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(self.document).encode()
        return response


def ours(token: str, jwks: dict[str, Any], runs: int) -> float:
    registration = Registration(1, ISSUER, CLIENT_ID, JWKS_URL, frozenset({"1"}))
    registry = {ISSUER: [registration]}
    keys = PlatformKeys(_StaticJwks(jwks))

    def run() -> object:
        return validate_id_token(
            token,
            registrations=registry.__getitem__,
            key_for=keys.key,
            expected_nonce=NONCE,
            expected_target=TARGET,
        )

    run()  # fills the JWKS cache
    return median_cpu(run, runs)


def install_pylti1p3() -> Path | None:
    target = Path(tempfile.mkdtemp(prefix="bench-pylti1p3-"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(target),
            "pylti1p3",
            "jwcrypto",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        print(f"pylti1p3 could not be installed: {result.stderr.strip()[-300:]}")
        shutil.rmtree(target, ignore_errors=True)
        return None
    atexit.register(shutil.rmtree, target, ignore_errors=True)  # the folder goes with the run
    return target


def theirs(token: str, jwks: dict[str, Any], runs: int, folder: Path) -> float:
    sys.path.insert(0, str(folder))
    from pylti1p3.cookie import CookieService
    from pylti1p3.message_launch import MessageLaunch
    from pylti1p3.request import Request
    from pylti1p3.session import SessionService
    from pylti1p3.tool_config import ToolConfDict

    config = ToolConfDict(
        {
            ISSUER: [
                {
                    "default": True,
                    "client_id": CLIENT_ID,
                    "auth_login_url": ISSUER + "/mod/lti/auth.php",
                    "auth_token_url": ISSUER + "/mod/lti/token.php",
                    "key_set_url": JWKS_URL,
                    "key_set": jwks,
                    "deployment_ids": ["1"],
                }
            ]
        }
    )

    class BenchRequest(Request):
        def __init__(self) -> None:
            self._session: dict[str, Any] = {}

        @property
        def session(self) -> dict[str, Any]:
            return self._session

        def is_secure(self) -> bool:
            return True

        def get_param(self, key: str) -> str:
            return {"id_token": token, "state": "bench-state"}.get(key, "")

    class Cookies(CookieService):
        def get_cookie(self, name: str) -> str | None:
            return "bench-state" if name == "bench-state" else None

        def set_cookie(self, name: str, value: Any, exp: int | None = 3600) -> None:
            pass

    class Launch(MessageLaunch):
        def _get_request_param(self, key: str) -> str:
            return self._request.get_param(key)

    def run() -> object:
        request = BenchRequest()
        sessions = SessionService(request)
        sessions.save_nonce(NONCE)
        return Launch(
            request, config, session_service=sessions, cookie_service=Cookies()
        ).validate()

    run()
    return median_cpu(run, runs)


def _ours_app(tmp: Path) -> Any:
    """Repères on a migrated SQLite file, with the FakePlatform registered."""
    from integration import create_app
    from integration.db import make_engine, upgrade
    from integration.settings import Settings

    settings = Settings(var_dir=tmp, secret_key="bench", base_url="http://127.0.0.1:5055")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return create_app(settings)


def _pylti1p3_app(folder: Path, platform: Any) -> Any:
    """The smallest Flask app running pylti1p3's whole Flask login and launch: FlaskRequest,
    FlaskOIDCLogin, FlaskMessageLaunch over a ToolConfDict (the platform keys in memory),
    Flask's cookie session and pylti1p3's default launch data storage (that session)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from flask import Flask, redirect
    from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
    from pylti1p3.tool_config import ToolConfDict

    config = ToolConfDict(
        {
            platform.issuer: [
                {
                    "default": True,
                    "client_id": platform.client_id,
                    "auth_login_url": platform.auth_url,
                    "auth_token_url": platform.token_url,
                    "key_set_url": platform.jwks_url,
                    "key_set": platform.jwks(),
                    "deployment_ids": [platform.deployment_id],
                }
            ]
        }
    )
    app = Flask("pylti1p3_bench")
    app.secret_key = "bench"

    @app.route("/lti/login", methods=["GET", "POST"])
    def login() -> Any:
        request = FlaskRequest()
        return FlaskOIDCLogin(request, config).redirect(request.get_param("target_link_uri"))

    @app.post("/lti/launch")
    def launch() -> Any:
        message = FlaskMessageLaunch(FlaskRequest(), config)
        data = message.get_launch_data()  # validates: state cookie, nonce, signature, claims
        assert data["sub"]
        return redirect("/", code=303)

    return app


def _login(client: Any, platform: Any) -> tuple[str, str]:
    """The platform's login initiation: the (state, nonce) the tool put in its redirect."""
    from urllib.parse import parse_qs, urlsplit

    response = client.post(
        "/lti/login",
        data={
            "iss": platform.issuer,
            "login_hint": "5",
            "target_link_uri": TARGET,
            "lti_message_hint": '{"cmid":6,"launchid":"ltilaunch1_1"}',
            "client_id": platform.client_id,
            "lti_deployment_id": platform.deployment_id,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return query["state"][0], query["nonce"][0]


class Timings:
    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def launch(self, client: Any, token: str, state: str) -> None:
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        response = client.post("/lti/launch", data={"id_token": token, "state": state})
        self.cpu.append(time.process_time() - start_cpu)
        self.wall.append(time.perf_counter() - start_wall)
        assert response.status_code == 303, response.get_data(as_text=True)[:300]

    def medians(self, warm_up: int) -> tuple[float, float]:
        return statistics.median(self.cpu[warm_up:]), statistics.median(self.wall[warm_up:])


def whole_launches(runs: int, folder: Path | None) -> tuple[Timings, Timings | None]:
    """POST /lti/launch through the Flask test client, Repères (SQLite, JWKS cached) and,
    when installed, pylti1p3, on the same kind of token, launches interleaved so that a
    busy machine slows both alike. Each launch follows its own login (a fresh state and
    nonce: Repères consumes them); the login is not timed. The same person launches again
    and again from the same browser (Repères: the previous session is replaced). pylti1p3
    keeps every launch's data in its cookie session, so it gets a fresh browser each time
    (one browser's cookie would grow past 4 KB within a few launches)."""
    import responses

    from tests.support.lti import FakePlatform

    with tempfile.TemporaryDirectory() as tmp:
        app = _ours_app(Path(tmp))
        platform = FakePlatform()
        platform.register(app)
        theirs_app = _pylti1p3_app(folder, platform) if folder is not None else None
        base = claims()
        mine, other = Timings(), (Timings() if theirs_app is not None else None)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            platform.serve(mock)  # fetched once: the JWKS stays cached
            client = app.test_client()
            for _ in range(runs + 20):
                state, nonce = _login(client, platform)
                token = platform.sign(platform.claims(base, nonce=nonce, target=TARGET))
                mine.launch(client, token, state)
                if theirs_app is not None and other is not None:
                    browser = theirs_app.test_client()
                    state, nonce = _login(browser, platform)
                    token = platform.sign(platform.claims(base, nonce=nonce, target=TARGET))
                    other.launch(browser, token, state)
        app.extensions["reperes"].engine.dispose()
    return mine, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="token validations timed")
    parser.add_argument("--launches", type=int, default=300, help="whole launches timed")
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256"}
    jwks = {"keys": [jwk]}
    token = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": "k1"})

    mine = ours(token, jwks, args.runs)
    print(f"Repères  validate_id_token       median CPU {mine * 1e6:8.1f} µs  ({args.runs} runs)")
    folder = install_pylti1p3()
    if folder is not None:
        other = theirs(token, jwks, args.runs, folder)
        print(
            f"pylti1p3 MessageLaunch.validate  median CPU {other * 1e6:8.1f} µs  ({args.runs} runs)"
        )
        verdict = "no slower" if mine <= other else "SLOWER"
        print(
            f"Repères is {other / mine:.1f}x the speed of pylti1p3: {verdict} (target: no slower)"
        )
    runs = args.launches
    launches, reference = whole_launches(runs, folder)
    cpu, wall = launches.medians(20)
    print(
        f"Repères  whole POST /lti/launch (Flask, SQLite)  median wall {wall * 1e3:6.2f} ms, "
        f"CPU {cpu * 1e3:6.2f} ms  ({runs} runs)"
    )
    if reference is None:
        print("pylti1p3 whole Flask launch: not measured (pylti1p3 could not be installed)")
        return
    their_cpu, their_wall = reference.medians(20)
    print(
        f"pylti1p3 whole POST /lti/launch (Flask, cookie)  median wall {their_wall * 1e3:6.2f} ms, "
        f"CPU {their_cpu * 1e3:6.2f} ms  ({runs} runs)"
    )
    verdict = "no slower" if wall <= their_wall else "SLOWER"
    print(
        f"whole launch: Repères takes {wall / their_wall:.2f}x the time of pylti1p3 "
        f"(wall; CPU {cpu / their_cpu:.2f}x): {verdict} (target: no slower)"
    )


if __name__ == "__main__":
    main()
