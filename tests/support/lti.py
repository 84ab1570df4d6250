"""LTI helpers for tests: real launches through the demo platform, and signed id_tokens.

Launch as a sample person (the whole OIDC flow, through the Flask test client)::

    from tests.support import lti as lti_support
    from tests.support.lti import launch_as

    demo_app = lti_support.demo_app  # fixtures: an app with the demo platform on
    demo_client = lti_support.demo_client

    def test_candidat_sees_their_space(demo_client):
        launched = launch_as(demo_client, "candidat1")          # « Samira B. », course "rae"
        assert launched.actor.role is Role.CANDIDAT
        demo_client.get("/moi")                                 # the session is in the client

People: candidat1 « Samira B. », candidat2 « Jean-Marc D. », candidat3 « Fatou K. »,
accompagnatrice « Nadia L. », coordinateur « Olivier R. ». `course` is any context id
("rae" and "accompagnement" have titles; None = a launch without context). `roles` and
`custom` override the claims of that one launch.

For certification-style tests, `FakePlatform` signs whatever id_token a test needs and
serves its JWKS through `responses`.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from jwt.algorithms import RSAAlgorithm
from werkzeug.test import TestResponse

from integration import create_app
from integration.auth import SESSION_KEY, Actor
from integration.lti import claims as c
from integration.lti.context import lti_context
from integration.lti.registration import add_platform
from integration.settings import Settings
from tests.support.database import migrate

# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def demo_app(settings: Settings) -> Iterator[Flask]:
    """A migrated app with the demo platform on."""
    demo = settings.with_changes(demo=True)
    migrate(demo.database_url)
    application = create_app(demo)
    yield application
    application.extensions["reperes"].engine.dispose()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


@pytest.fixture
def moodle_tool_settings(tmp_path: Path) -> Settings:
    """Settings of a tool where the recorded Moodle launches point (MOODLE_TOOL_BASE).

    A module uses them with `settings = lti_support.moodle_tool_settings`."""
    return Settings(
        var_dir=tmp_path / "var", secret_key="test-secret", testing=True, base_url=MOODLE_TOOL_BASE
    )


@pytest.fixture
def platform_http() -> Iterator[responses.RequestsMock]:
    """The platform's side of the HTTP the tool sends, answered by `responses`.

    Every answer a test registers must be used (a request the tool should have made and
    did not fails the test); a FakePlatform's JWKS is the only optional one."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def fake_platform(app: Flask, platform_http: responses.RequestsMock) -> Iterator[FakePlatform]:
    """A FakePlatform registered on `app`, its JWKS served through `platform_http`."""
    fake = FakePlatform()
    fake.register(app)
    fake.serve(platform_http)
    yield fake
    fake.forget_unused_jwks(platform_http)


# --- launches through the demo platform ------------------------------------------------


class _Forms(HTMLParser):
    """The first form of a page: its action and its input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        elif tag == "input" and self.action is not None and not self._done and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.action is not None:
            self._done = True


def read_form(html: str) -> tuple[str, dict[str, str]]:
    parser = _Forms()
    parser.feed(html)
    assert parser.action is not None, f"no form in page: {html[:300]}"
    return parser.action, parser.fields


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Launched:
    """What a launch left: the tool's last answer and the actor now in the client's session."""

    response: TestResponse
    actor: Actor | None
    steps: list[TestResponse] = field(default_factory=list)


def session_actor(client: FlaskClient) -> Actor | None:
    with client.session_transaction() as session:
        data = session.get(SESSION_KEY)
    return Actor.from_session(data) if isinstance(data, dict) else None


def launch_as(
    client: FlaskClient,
    who: str = "candidat1",
    course: str | None = "rae",
    *,
    roles: list[str] | None = None,
    custom: dict[str, str] | None = None,
    kind: str = "resource",
    link: str | None = None,
) -> Launched:
    """Launch Repères as a demo person: login initiation -> demo auth -> form_post id_token.

    `kind="deep_link"` sends an LtiDeepLinkingRequest (the response is the picker page).
    """
    from integration.demo_platform import demo_of

    app = client.application
    if "reperes_demo" not in app.extensions:
        raise RuntimeError(
            "launch_as needs the demo platform: Settings(demo=True) or `demo_client`"
        )
    login_url, fields = demo_of(app).login_initiation(
        who, course, kind=kind, link=link, roles=roles, custom=custom
    )
    steps = [client.post(_path(login_url), data=fields)]
    assert steps[-1].status_code == 302, steps[-1].get_data(as_text=True)[:500]
    steps.append(client.get(_path(steps[-1].headers["Location"])))
    assert steps[-1].status_code == 200, steps[-1].get_data(as_text=True)[:500]
    action, form = read_form(steps[-1].get_data(as_text=True))
    steps.append(client.post(_path(action), data=form))
    return Launched(steps[-1], session_actor(client), steps)


# --- certification: a platform that signs anything ---------------------------------------


def moodle_id_token(shared_dir: Path, name: str) -> dict[str, Any]:
    """The claims of a recorded Moodle 4.3 id_token (`student_resource_link`, …)."""
    path = shared_dir / "data" / "moodle-4.3" / "lti" / f"{name}__id_token.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))["claims"])


MOODLE_ISSUER = "http://127.0.0.1:8081"
MOODLE_CLIENT_ID = "Ey5Wwi28NMqbCdQ"
MOODLE_TOOL_BASE = "http://127.0.0.1:5055"  # where the recorded launches pointed


_KEY_POOL: list[Any] = []


def test_key(index: int) -> Any:
    """The index-th RSA key of this test session (made once: key generation is slow)."""
    while len(_KEY_POOL) <= index:
        _KEY_POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY_POOL[index]


class FakePlatform:
    """A platform with its own RSA keys; its JWKS is served through `responses`."""

    def __init__(
        self,
        issuer: str = MOODLE_ISSUER,
        client_id: str = MOODLE_CLIENT_ID,
        deployment_id: str = "1",
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.auth_url = issuer + "/mod/lti/auth.php"
        self.token_url = issuer + "/mod/lti/token.php"
        self.jwks_url = issuer + "/mod/lti/certs.php"
        self.keys: dict[str, Any] = {}
        self.kid = ""
        self.jwks_fetches = 0
        self.platform_id = 0
        self._jwks_routes: list[Any] = []
        self.rotate()

    def rotate(self) -> str:
        """A new signing key (published next to the old ones); its kid."""
        self.kid = f"kid-{len(self.keys) + 1}"
        self.keys[self.kid] = test_key(len(self.keys))
        return self.kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}

    def register(self, app: Flask, *, second_registration: bool = False) -> int:
        with lti_context(app).sessions.begin() as session:
            platform, _ = add_platform(
                session,
                second_registration=second_registration,
                issuer=self.issuer,
                client_id=self.client_id,
                deployment_ids=[self.deployment_id],
                auth_url=self.auth_url,
                token_url=self.token_url,
                jwks_url=self.jwks_url,
                name="Moodle (test)",
            )
            self.platform_id = platform.id
        return self.platform_id

    def serve(self, mock: responses.RequestsMock) -> None:
        def answer(_request: Any) -> tuple[int, dict[str, str], str]:
            self.jwks_fetches += 1
            return 200, {"Content-Type": "application/json"}, json.dumps(self.jwks())

        self._jwks_routes.append(mock.add_callback(responses.GET, self.jwks_url, callback=answer))

    def forget_unused_jwks(self, mock: responses.RequestsMock) -> None:
        """Unregister the JWKS if nobody fetched it: a test refused before the signature
        check never needs it, and a strict mock would call it an unused answer."""
        for route in self._jwks_routes:
            if route.call_count == 0:
                mock.remove(route)
        self._jwks_routes.clear()

    def claims(
        self, base: dict[str, Any], *, nonce: str, target: str, **overrides: Any
    ) -> dict[str, Any]:
        """`base` (e.g. a recorded Moodle launch) with our issuer, fresh times and `nonce`."""
        now = int(time.time())
        body = copy.deepcopy(base)
        body.update(
            iss=self.issuer,
            aud=self.client_id,
            nonce=nonce,
            iat=now,
            exp=now + 60,
        )
        body[c.DEPLOYMENT_ID] = self.deployment_id
        body[c.TARGET_LINK_URI] = target
        body.update(overrides)
        return body

    def sign(
        self,
        body: dict[str, Any],
        *,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
        key: Any = None,
        algorithm: str = "RS256",
    ) -> str:
        header = {"kid": kid or self.kid, **(headers or {})}
        return jwt.encode(
            body,
            key if key is not None else self.keys[kid or self.kid],
            algorithm=algorithm,
            headers=header,
        )


@dataclass(frozen=True)
class Login:
    state: str
    nonce: str
    redirect: str


def start_login(client: FlaskClient, platform: FakePlatform, target: str, **extra: str) -> Login:
    """The platform's login initiation (a POST, as Moodle does); the state and nonce we got."""
    fields = {
        "iss": platform.issuer,
        "login_hint": "5",
        "target_link_uri": target,
        "lti_message_hint": '{"cmid":6,"launchid":"ltilaunch1_1"}',
        "client_id": platform.client_id,
        "lti_deployment_id": platform.deployment_id,
        **extra,
    }
    response = client.post("/lti/login", data=fields)
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    if response.status_code == 200:  # postMessage storage page: the URL is in its config
        config = (
            response.get_data(as_text=True).split('id="lti-config">', 1)[1].split("</script>")[0]
        )
        location = json.loads(config)["auth_url"]
    else:
        location = response.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return Login(query["state"], query["nonce"], location)
