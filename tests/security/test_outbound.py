"""One outbound policy for every URL someone else gave us (issue 12, SSRF).

Each test is named after a finding; they failed before connectors/outbound.py existed and
the service's sessions went through it. Servers are real, on loopback; names that must
not reach the network get an injected resolver.
"""

from __future__ import annotations

import logging

import pytest
import requests

from connectors.outbound import (
    OutboundPolicy,
    OutboundRefused,
    OutboundSession,
    set_default_policy,
)
from integration.settings import Settings, SettingsError
from tests.security.hostile_server import hostile_server

STRICT = OutboundPolicy()
LOOPBACK = OutboundPolicy.from_allow("127.0.0.0/8")


@pytest.fixture
def hostile():
    with hostile_server() as server:
        server.answer("GET", "/", 200, {"Content-Type": "text/plain"}, b"hello")
        yield server


def test_outbound_refuses_loopback_unless_the_operator_allowed_it(hostile):
    with pytest.raises(OutboundRefused):
        OutboundSession(STRICT).get(hostile.origin + "/")
    assert hostile.hits == []
    assert OutboundSession(LOOPBACK).get(hostile.origin + "/").text == "hello"


def test_outbound_refuses_ipv4_mapped_loopback(hostile):
    with pytest.raises(OutboundRefused):
        OutboundSession(STRICT).get(f"http://[::ffff:127.0.0.1]:{hostile.port}/")
    assert hostile.hits == []


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "169.254.169.254", "192.168.1.1", "0.0.0.0", "::1", "fe80::1",
                "fd00::1", "224.0.0.1", "100.64.0.1"]
)
def test_outbound_refuses_a_name_resolving_to_a_private_address(address):
    policy = OutboundPolicy(resolver=lambda host, port: [address])
    with pytest.raises(OutboundRefused, match="not allowed"):
        OutboundSession(policy).get("https://moodle.example.test/")


def test_outbound_refuses_a_name_when_any_of_its_addresses_is_private():
    policy = OutboundPolicy(resolver=lambda host, port: ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(OutboundRefused):
        OutboundSession(policy).get("https://moodle.example.test/")


def test_outbound_connects_to_the_address_it_checked_and_keeps_the_host_name(hostile):
    """No second DNS answer (rebinding): resolved once, connected to that address."""
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["169.254.169.254"]

    policy = OutboundPolicy.from_allow("127.0.0.0/8", resolver=resolver)
    answer = OutboundSession(policy).get(f"http://platform.example.test:{hostile.port}/")
    assert answer.text == "hello" and calls == ["platform.example.test"]


def test_outbound_refuses_ports_the_operator_did_not_allow():
    policy = OutboundPolicy(resolver=lambda host, port: ["93.184.216.34"])
    with pytest.raises(OutboundRefused, match="port 8080"):
        OutboundSession(policy).get("http://moodle.example.test:8080/")
    allowed = OutboundPolicy.from_allow(
        "moodle.example.test:8080", resolver=lambda host, port: ["127.0.0.2"]
    )
    with pytest.raises(requests.ConnectionError) as caught:  # allowed: it tries to connect
        OutboundSession(allowed).get("http://moodle.example.test:8080/", timeout=1)
    assert not isinstance(caught.value, OutboundRefused)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5098\\@moodle.example.org/x",
        "http://user:secret@moodle.example.org/x",
        "file:///etc/passwd",
        "gopher://moodle.example.org/x",
        "http://moodle.example.org/a b",
    ],
)
def test_outbound_refuses_ambiguous_urls_and_other_schemes(url):
    with pytest.raises(OutboundRefused):
        LOOPBACK.check_url(url)  # the URL as given, before requests rewrites it
    if " " not in url:  # requests encodes a space in a path: no longer ambiguous
        with pytest.raises((OutboundRefused, requests.exceptions.InvalidSchema)):
            OutboundSession(LOOPBACK).get(url)


def test_outbound_follows_no_redirect_to_the_metadata_address(hostile):
    hostile.answer("GET", "/jump", 302, {"Location": "http://169.254.169.254/latest/meta-data"})
    with pytest.raises(OutboundRefused, match="redirect"):
        OutboundSession(LOOPBACK).get(hostile.origin + "/jump")
    with pytest.raises(OutboundRefused, match="another origin"):
        OutboundSession(LOOPBACK, same_origin_redirects=True).get(hostile.origin + "/jump")


def test_outbound_follows_a_same_origin_redirect_only_when_asked(hostile):
    hostile.answer("GET", "/moved", 301, {"Location": "/"})
    answer = OutboundSession(LOOPBACK, same_origin_redirects=True).get(hostile.origin + "/moved")
    assert answer.text == "hello"


def test_outbound_bounds_the_size_of_an_answer(hostile):
    big = b"x" * 50_000
    hostile.answer("GET", "/big", 200, {}, big)
    hostile.answer("GET", "/unsized", 200, {"Content-Length": "-"}, big)
    small = LOOPBACK.with_limits(max_bytes=10_000)
    with pytest.raises(OutboundRefused, match="bytes"):
        OutboundSession(small).get(hostile.origin + "/big")
    with pytest.raises(OutboundRefused, match="bytes"):
        OutboundSession(small).get(hostile.origin + "/unsized")
    assert len(OutboundSession(LOOPBACK).get(hostile.origin + "/big").content) == 50_000


def test_outbound_bounds_the_time_a_caller_may_ask_for():
    from connectors.outbound import _bounded_timeout

    assert _bounded_timeout(None, STRICT) == (STRICT.connect_timeout, STRICT.read_timeout)
    assert _bounded_timeout(3600, STRICT) == (STRICT.connect_timeout, STRICT.read_timeout)


def test_outbound_refusal_is_logged_with_the_real_target_and_no_token(hostile, caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(OutboundRefused):
        OutboundSession(STRICT).get(hostile.origin + "/webservice?wstoken=SECRET-TOKEN")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"port {hostile.port}" in logged and "address 127.0.0.1" in logged
    assert "SECRET-TOKEN" not in logged


def test_settings_read_reperes_outbound_allow():
    settings = Settings.from_env({"REPERES_OUTBOUND_ALLOW": "10.0.0.0/8, moodle.lan:8080"})
    assert len(settings.outbound_policy().allow) == 2
    with pytest.raises(SettingsError, match="REPERES_OUTBOUND_ALLOW"):
        Settings.from_env({"REPERES_OUTBOUND_ALLOW": "http://user@moodle.lan"})


# --- the service's sessions go through it ---------------------------------------------------


def test_lti_requests_go_through_the_outbound_policy(migrated, hostile):
    """Registration, JWKS, NRPS, AGS, tokens: lti.http refuses what the operator did not allow."""
    from integration import create_app
    from integration.lti.context import lti_context

    app = create_app(migrated.with_changes(outbound_allow=""))
    try:
        with pytest.raises(OutboundRefused):
            lti_context(app).http.get(hostile.origin + "/")
        assert hostile.hits == []
    finally:
        app.extensions["reperes"].engine.dispose()


def test_moodle_requests_go_through_the_outbound_policy(hostile):
    from integration.moodle.connection import check_connection

    previous = set_default_policy(STRICT)
    try:
        report = check_connection(1, hostile.origin, "secret-token")
    finally:
        set_default_policy(previous)
    assert not report.ok and hostile.hits == []


def test_the_nextcloud_store_goes_through_the_outbound_policy(tmp_path):
    from integration.runtime import Runtime

    settings = Settings(
        var_dir=tmp_path / "var",
        secret_key="t",
        storage_url="https://cloud.example.org/remote.php/dav/files/reperes/Dossiers",
        storage_username="reperes",
        storage_password="x",
    )
    store = Runtime.from_settings(settings).store
    session = store._session  # type: ignore[attr-defined]
    assert isinstance(session, OutboundSession)
    assert session.policy.max_bytes is None  # dossiers and evidence may be large


def test_nrps_and_ags_urls_off_the_platform_origin_are_ignored(migrated, hostile, caplog):
    """A launch's service URL on another host is never called, our token never sent there."""
    from integration import create_app
    from integration.lti.context import lti_context
    from integration.lti.errors import ServiceError
    from integration.lti.services import list_members
    from integration.models import Course, Platform

    app = create_app(migrated)
    try:
        platform = Platform(
            issuer="https://moodle.example.org",
            client_id="abc",
            auth_url="https://moodle.example.org/mod/lti/auth.php",
            token_url="https://moodle.example.org/mod/lti/token.php",
            jwks_url="https://moodle.example.org/mod/lti/certs.php",
        )
        course = Course(nrps_url=hostile.origin + "/members")
        with caplog.at_level(logging.WARNING), pytest.raises(ServiceError, match="ignored"):
            list_members(platform, course, lti=lti_context(app))
        assert hostile.hits == []
        assert any("ignored" in r.getMessage() for r in caplog.records)
    finally:
        app.extensions["reperes"].engine.dispose()
