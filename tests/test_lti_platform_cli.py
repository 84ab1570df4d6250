"""`reperes platform add|list|remove|invite`: several Moodle sites, client ids, deployments."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from integration.cli import main
from integration.lti.context import lti_context
from integration.models import Person, Platform

MOODLE = [
    "--issuer",
    "https://moodle.fde.example",
    "--client-id",
    "abc",
    "--auth-url",
    "https://moodle.fde.example/mod/lti/auth.php",
    "--token-url",
    "https://moodle.fde.example/mod/lti/token.php",
    "--jwks-url",
    "https://moodle.fde.example/mod/lti/certs.php",
]


@pytest.fixture
def cli(migrated, monkeypatch) -> CliRunner:
    monkeypatch.setenv("REPERES_VAR_DIR", str(migrated.var_dir))
    monkeypatch.setenv("REPERES_DATABASE_URL", migrated.database_url)
    monkeypatch.setenv("REPERES_BASE_URL", "https://reperes.fde.example")
    return CliRunner()


def platforms(app) -> list[Platform]:
    with lti_context(app).sessions.begin() as session:
        found = list(session.scalars(select(Platform).order_by(Platform.id)))
        for p in found:
            p.deployments  # noqa: B018 (load before the session closes)
        return found


def test_add_prints_the_urls_to_paste_into_moodle(cli, app):
    result = cli.invoke(
        main,
        [
            "platform",
            "add",
            *MOODLE,
            "--deployment-id",
            "1",
            "--deployment-id",
            "2",
            "--name",
            "Moodle FDE",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "added platform" in result.output
    for url in (
        "https://reperes.fde.example/lti/login",
        "https://reperes.fde.example/lti/launch",
        "https://reperes.fde.example/lti/jwks",
    ):
        assert url in result.output
    assert "Deep linking" in result.output
    [platform] = platforms(app)
    assert platform.name == "Moodle FDE"
    assert sorted(d.deployment_id for d in platform.deployments) == ["1", "2"]
    assert app.test_client().get("/lti/jwks").json["keys"], "the tool key exists before Moodle asks"


def test_one_issuer_with_several_client_ids_and_sites(cli, app):
    assert cli.invoke(main, ["platform", "add", *MOODLE, "--deployment-id", "1"]).exit_code == 0
    other_client = [a if a != "abc" else "def" for a in MOODLE]
    refused = cli.invoke(main, ["platform", "add", *other_client, "--deployment-id", "1"])
    assert refused.exit_code == 1 and "already registered" in refused.output  # issue 18
    assert cli.invoke(main, ["platform", "add", *other_client, "--deployment-id", "1",
                             "--second-registration"]).exit_code == 0
    other_site = [a.replace("moodle.fde.example", "moodle.dc.example") for a in MOODLE]
    assert cli.invoke(main, ["platform", "add", *other_site, "--deployment-id", "7"]).exit_code == 0
    again = cli.invoke(main, ["platform", "add", *MOODLE, "--deployment-id", "3"])
    assert "updated platform" in again.output
    found = platforms(app)
    assert [(p.issuer, p.client_id) for p in found] == [
        ("https://moodle.fde.example", "abc"),
        ("https://moodle.fde.example", "def"),
        ("https://moodle.dc.example", "abc"),
    ]
    assert sorted(d.deployment_id for d in found[0].deployments) == ["1", "3"]
    listed = cli.invoke(main, ["platform", "list"])
    assert listed.exit_code == 0 and listed.output.count("issuer ") == 3


def test_remove_asks_then_removes_with_people(cli, app):
    cli.invoke(main, ["platform", "add", *MOODLE, "--deployment-id", "1", "--deployment-id", "2"])
    [platform] = platforms(app)
    with lti_context(app).sessions.begin() as session:
        session.add(Person(platform_id=platform.id, sub="5"))
    removed = cli.invoke(
        main,
        [
            "platform",
            "remove",
            "--issuer",
            "https://moodle.fde.example",
            "--client-id",
            "abc",
            "--deployment-id",
            "2",
        ],
    )
    assert removed.exit_code == 0 and "removed deployment 2" in removed.output
    refused = cli.invoke(main, ["platform", "remove", str(platform.id)], input="n\n")
    assert refused.exit_code != 0 and "1 people" in refused.output
    assert len(platforms(app)) == 1
    done = cli.invoke(main, ["platform", "remove", str(platform.id), "--yes"])
    assert done.exit_code == 0 and platforms(app) == []
    with lti_context(app).sessions.begin() as session:
        assert session.scalars(select(Person)).all() == []


def test_remove_unknown_platform_says_so(cli, app):
    result = cli.invoke(main, ["platform", "remove", "99", "--yes"])
    assert result.exit_code != 0 and "no such platform" in result.output


def test_invite_gives_a_one_time_url_or_allows_a_host(cli, app):
    once = cli.invoke(main, ["platform", "invite", "--note", "Moodle FDE"])
    assert once.exit_code == 0, once.output
    assert "https://reperes.fde.example/lti/register?invite=" in once.output
    host = cli.invoke(main, ["platform", "invite", "--host", "https://Moodle.DC.example/"])
    assert "allowed from moodle.dc.example" in host.output
    listed = cli.invoke(main, ["platform", "invites"])
    assert "one-time URL" in listed.output and "host moodle.dc.example" in listed.output
    revoked = cli.invoke(main, ["platform", "revoke-invite", "2"])
    assert revoked.exit_code == 0
    assert "moodle.dc.example" not in cli.invoke(main, ["platform", "invites"]).output
