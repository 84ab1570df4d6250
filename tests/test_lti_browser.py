"""A real Chromium launches Repères inside a cross-site iframe with third-party cookies
blocked: state and nonce pass through the platform's postMessage storage.

The tool is served on 127.0.0.1 and the demo platform, same process, on `localhost`:
two different sites for the browser. Over HTTPS the partitioned session cookie keeps the
launch inside the frame; over plain HTTP no cookie survives the frame and the launch goes
on in a new window.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from integration import create_app
from integration.lti.context import lti_context
from integration.models import Membership, Role
from integration.settings import Settings
from tests.support import browser as browser_support
from tests.support import components
from tests.support.database import migrate

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    *browser_support.CHROMIUM_ARGS,
    "--test-third-party-cookie-phaseout",  # block third-party cookies (partitioned ones stay)
    "--host-resolver-rules=MAP localhost 127.0.0.1",
]


def _certificate(directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def _probe(environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
    """Pages that show whether this browser blocks third-party cookies."""
    path = environ["PATH_INFO"]
    if path == "/__probe/set":
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html"),
                ("Set-Cookie", "unpartitioned=1; Secure; SameSite=None; Path=/"),
                ("Set-Cookie", "partitioned=1; Secure; SameSite=None; Path=/; Partitioned"),
            ],
        )
        return [b'<script>location.href="/__probe/get"</script>']
    if path == "/__probe/get":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("cookies:" + environ.get("HTTP_COOKIE", "")).encode()]
    return None


@dataclass
class Served:
    app: Any
    tool: str  # https://127.0.0.1:PORT
    platform: str  # https://localhost:PORT


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    from werkzeug.serving import make_server

    scheme = request.param
    holder: dict[str, Any] = {}

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return _probe(environ, start_response) or holder["app"](environ, start_response)

    tls = _certificate(tmp_path) if scheme == "https" else None
    server = make_server("127.0.0.1", 0, wsgi, threaded=True, ssl_context=tls)
    port = server.server_port
    tool, platform = f"{scheme}://127.0.0.1:{port}", f"{scheme}://localhost:{port}"
    settings = Settings(
        var_dir=tmp_path / "var",
        secret_key="browser-secret",
        testing=True,
        demo=True,
        base_url=tool,
        extra={"demo_base_url": platform},
    )
    migrate(settings.database_url)
    holder["app"] = create_app(settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(holder["app"], tool, platform)
    finally:
        server.shutdown()
        holder["app"].extensions["reperes"].engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = components.chromium_path()
    components.require(executable is not None, "Chromium", "apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        components.require(False, "Playwright", "pip install playwright")
        raise
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = chromium.new_context(ignore_https_errors=True)
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
            chromium.close()


def _memberships(app: Any) -> list[Role]:
    with lti_context(app).sessions.begin() as session:
        return [m.role for m in session.scalars(select(Membership))]


@pytest.mark.parametrize("served", ["https"], indirect=True)
def test_launch_in_a_cross_site_iframe_through_postmessage_storage(served: Served, browser: Any):
    page = browser.new_page()
    # The browser blocks third-party cookies; partitioned ones are kept per embedding site.
    page.set_content(f'<iframe src="{served.tool}/__probe/set"></iframe>')
    probe = page.frames[1]
    probe.wait_for_url("**/__probe/get")
    assert "partitioned=1" in probe.content() and "unpartitioned" not in probe.content()

    page.goto(f"{served.platform}/demo/course?who=candidat1&course=rae")
    tool_frame = next(f for f in page.frames if f != page.main_frame)
    tool_frame.wait_for_url(f"{served.tool}/moi")  # the candidat's space, inside the frame
    subjects = page.evaluate("window.demoMessages.map(m => m.subject)")
    assert "lti.put_data" in subjects and "lti.get_data" in subjects
    origins = set(page.evaluate("window.demoMessages.map(m => m.origin)"))
    assert origins == {served.tool}
    assert _memberships(served.app) == [Role.CANDIDAT]


@pytest.mark.parametrize("served", ["http"], indirect=True)
def test_without_any_cookie_in_the_frame_the_launch_goes_on_in_a_new_window(
    served: Served, browser: Any
):
    page = browser.new_page()
    page.goto(f"{served.platform}/demo/course?who=accompagnatrice&course=rae")
    tool_frame = page.frame_locator("#tool")
    button = tool_frame.get_by_role("button", name="Ouvrir Repères dans une nouvelle fenêtre")
    button.wait_for()
    with browser.expect_page() as popup_info:
        button.click()
    popup = popup_info.value
    popup.wait_for_url(f"{served.tool}/cours")  # the accompagnatrice's space, first-party
    tool_frame.get_by_text("Repères est ouvert dans une autre fenêtre.").wait_for()
    subjects = page.evaluate("window.demoMessages.map(m => m.subject)")
    assert "lti.get_data" in subjects
    assert _memberships(served.app) == [Role.ACCOMPAGNATEUR]
