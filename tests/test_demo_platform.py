"""The demo platform: a newcomer tries Repères without Moodle, and tests launch through it."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from integration import create_app
from integration.cli import main
from integration.demo_platform import CLIENT_ID, PEOPLE, demo_of
from integration.lti.context import lti_context
from integration.models import Course, Deployment, Platform, Role
from tests.support import lti as lti_support
from tests.support.lti import launch_as, read_form

demo_app = lti_support.demo_app
demo_client = lti_support.demo_client


def test_the_demo_page_shows_the_sample_people(demo_client):
    page = demo_client.get("/demo").get_data(as_text=True)
    for name in (
        "« Samira B. »",
        "« Jean-Marc D. »",
        "« Fatou K. »",
        "« Nadia L. »",
        "« Olivier R. »",
    ):
        assert name in page
    assert "Ajouter Repères au cours" in page


def test_each_sample_person_launches_with_their_role(demo_app):
    expected = {
        "candidat1": Role.CANDIDAT,
        "candidat2": Role.CANDIDAT,
        "candidat3": Role.CANDIDAT,
        "accompagnatrice": Role.ACCOMPAGNATEUR,
        "coordinateur": Role.COORDINATEUR,
    }
    for who, role in expected.items():
        client = demo_app.test_client()
        launched = launch_as(client, who)
        assert launched.response.status_code == 303, who
        assert launched.actor is not None and launched.actor.role is role, who
        home = client.get("/")
        assert home.headers["Location"] == ("/moi" if role is Role.CANDIDAT else "/cours")


def test_launch_as_in_another_course_with_other_roles_or_no_context(demo_app):
    client = demo_app.test_client()
    assert (
        launch_as(
            client,
            "accompagnatrice",
            "accompagnement",
            roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        ).actor.role
        is Role.CANDIDAT
    )
    launch_as(client, "candidat1", None)
    with lti_context(demo_app).sessions.begin() as session:
        contexts = {c.context_id: c.title for c in session.scalars(select(Course))}
    assert contexts == {"accompagnement": "Accompagnement de parcours RAE", "": "Hors cours"}


def test_the_demo_registers_itself_once(demo_app, settings):
    again = create_app(settings.with_changes(demo=True))
    again.extensions["reperes"].engine.dispose()
    with lti_context(demo_app).sessions.begin() as session:
        [platform] = session.scalars(select(Platform)).all()
        assert platform.issuer == "http://127.0.0.1:5000/demo" and platform.client_id == CLIENT_ID
        assert len(session.scalars(select(Deployment)).all()) == 1


def test_the_course_page_embeds_repères_with_postmessage_storage(demo_client):
    page = demo_client.get("/demo/course?who=candidat3&course=rae").get_data(as_text=True)
    assert "<iframe" in page and "/demo/start?" in page and "storage=1" in page
    assert "lti.put_data" in page and "lti.get_data" in page and "lti.capabilities.response" in page
    start = demo_client.get("/demo/start?who=candidat3&course=rae&storage=1")
    action, fields = read_form(start.get_data(as_text=True))
    assert action == "http://127.0.0.1:5000/lti/login"
    assert fields["lti_storage_target"] == "_parent" and fields["login_hint"] == "demo-fatou"


def test_the_demo_auth_endpoint_checks_what_a_platform_checks(demo_client, demo_app):
    demo = demo_of(demo_app)
    _, fields = demo.login_initiation("candidat1")
    base = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": CLIENT_ID,
        "redirect_uri": demo.tool.launch,
        "login_hint": "demo-samira",
        "lti_message_hint": fields["lti_message_hint"],
        "state": "s",
        "nonce": "n",
    }
    assert (
        demo_client.get(
            "/demo/auth", query_string={**base, "redirect_uri": "https://evil/"}
        ).status_code
        == 400
    )
    assert (
        demo_client.get("/demo/auth", query_string={**base, "prompt": "login"}).status_code == 400
    )
    for change, error in (
        ({"client_id": "x"}, "unauthorized_client"),
        ({"login_hint": "demo-nadia"}, "access_denied"),
        ({"lti_message_hint": "forged"}, "invalid_request"),
    ):
        page = demo_client.get("/demo/auth", query_string={**base, **change})
        assert read_form(page.get_data(as_text=True))[1] == {"error": error, "state": "s"}
    ok = read_form(demo_client.get("/demo/auth", query_string=base).get_data(as_text=True))[1]
    assert set(ok) == {"id_token", "state"}


def test_the_demo_token_endpoint_refuses_a_forged_assertion(demo_client):
    response = demo_client.post(
        "/demo/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "e30.e30.e30",
            "scope": "x",
        },
    )
    assert response.status_code == 401 and response.mimetype == "text/html"


def test_without_demo_mode_there_is_no_demo(client):
    assert client.get("/demo").status_code == 404
    assert "Ouvrez Repères depuis votre cours Moodle" in client.get("/").get_data(as_text=True)
    assert "/demo" not in client.get("/").get_data(as_text=True)


def test_reperes_demo_serves_with_the_demo_registered(tmp_path, monkeypatch):
    from flask import Flask

    served = {}
    monkeypatch.setattr(Flask, "run", lambda self, **kw: served.update(app=self, **kw))
    # The queue's retry thread is another test's (test_storage_real): none is left running.
    monkeypatch.setattr("integration.ops.background.start_background_work",
                        lambda runtime: served.update(background=runtime))
    monkeypatch.setenv("REPERES_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("REPERES_BASE_URL", raising=False)
    result = CliRunner().invoke(main, ["demo", "--port", "5077"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5077/demo" in result.output
    app = served["app"]
    assert served["port"] == 5077 and app.extensions["reperes"].settings.demo
    assert served["background"] is app.extensions["reperes"]
    with lti_context(app).sessions.begin() as session:
        assert session.scalars(select(Platform.issuer)).all() == ["http://127.0.0.1:5077/demo"]
    launched = launch_as(app.test_client(), "candidat2")
    assert launched.actor.role is Role.CANDIDAT
    app.extensions["reperes"].engine.dispose()


def test_people_keys_are_stable():
    assert list(PEOPLE) == [
        "candidat1",
        "candidat2",
        "candidat3",
        "accompagnatrice",
        "coordinateur",
    ]
