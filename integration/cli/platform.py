"""`reperes platform …`: the LTI registrations (Moodle sites) Repères trusts."""

from __future__ import annotations

from datetime import timedelta

import click
from sqlalchemy import func, select

from ..lti.context import ToolUrls
from . import CliContext, pass_ctx

group = click.Group("platform", help="LTI platforms (Moodle sites) allowed to launch Repères.")


def _sessions(cli: CliContext):  # type: ignore[no-untyped-def]
    from ..db import DatabaseNotReady, check_ready

    try:
        check_ready(cli.runtime.engine)
    except DatabaseNotReady as exc:
        raise click.ClickException(str(exc)) from None
    return cli.runtime.sessions


def _ensure_tool_key(cli: CliContext) -> None:
    from ..lti import keys

    with _sessions(cli).begin() as session:
        keys.current_key(session, keys.TOOL)


def echo_tool_urls(urls: ToolUrls) -> None:
    """What to paste into Moodle: Site administration › Plugins › External tool › Manage tools."""
    click.echo("Paste into Moodle (Manage tools › configure a tool manually, LTI 1.3):")
    for label, value in (
        ("Tool URL", urls.launch),
        ("Public key type", "Keyset URL"),
        ("Public keyset (JWKS)", urls.jwks),
        ("Initiate login URL", urls.login),
        ("Redirection URI(s)", urls.launch),
        ("Deep linking (Content Selection URL)", urls.deep_linking),
    ):
        click.echo(f"  {label:<38} {value}")
    click.echo(f"Or LTI Dynamic Registration: {urls.register} (see `reperes platform invite`).")


@group.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (Moodle: its wwwroot).")
@click.option("--client-id", required=True)
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="Repeat for several deployments.",
)
@click.option("--auth-url", required=True, help="Moodle: …/mod/lti/auth.php")
@click.option("--token-url", required=True, help="Moodle: …/mod/lti/token.php")
@click.option("--jwks-url", required=True, help="Moodle: …/mod/lti/certs.php")
@click.option("--name", default="", help="A name people recognise.")
@click.option("--second-registration", is_flag=True,
              help="Allow another client id for an issuer already registered (two tool "
                   "registrations in one Moodle: each user becomes two persons).")
@pass_ctx
def add(
    cli: CliContext,
    issuer: str,
    client_id: str,
    deployment_ids: tuple[str, ...],
    auth_url: str,
    token_url: str,
    jwks_url: str,
    name: str,
    second_registration: bool,
) -> None:
    """Register a platform (or add deployments to one already registered)."""
    from ..lti.registration import SameIssuer, add_platform

    with _sessions(cli).begin() as session:
        try:
            platform, created = add_platform(
                session,
                issuer=issuer.rstrip("/"),
                client_id=client_id,
                deployment_ids=list(deployment_ids),
                auth_url=auth_url,
                token_url=token_url,
                jwks_url=jwks_url,
                name=name,
                second_registration=second_registration,
            )
        except SameIssuer as exc:
            raise click.ClickException(str(exc)) from None
        deployments = ", ".join(d.deployment_id for d in platform.deployments)
        click.echo(
            f"{'added' if created else 'updated'} platform {platform.id}: "
            f"{platform.issuer} client {platform.client_id} (deployments: {deployments})"
        )
    _ensure_tool_key(cli)
    echo_tool_urls(ToolUrls(cli.settings.base_url))


@group.command("list")
@pass_ctx
def list_(cli: CliContext) -> None:
    """The registered platforms and their deployments."""
    from ..lti.registration import list_platforms

    with _sessions(cli).begin() as session:
        platforms = list_platforms(session)
        if not platforms:
            click.echo(
                "no platform registered: `reperes platform add` or `reperes platform invite`"
            )
        for p in platforms:
            state = "" if p.active else " (switched off)"
            click.echo(
                f"{p.id}\t{p.name}{state}\n\tissuer {p.issuer}\n\tclient_id {p.client_id}"
                f"\n\tdeployments {', '.join(d.deployment_id for d in p.deployments) or '-'}"
                f"\n\tauth {p.auth_url}\n\ttoken {p.token_url or '-'}\n\tjwks {p.jwks_url}"
            )
    echo_tool_urls(ToolUrls(cli.settings.base_url))


@group.command("remove")
@click.argument("platform_id", type=int, required=False)
@click.option("--issuer", help="Instead of an id: the issuer…")
@click.option("--client-id", help="…and the client id.")
@click.option("--deployment-id", help="Remove only this deployment.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def remove(
    cli: CliContext,
    platform_id: int | None,
    issuer: str | None,
    client_id: str | None,
    deployment_id: str | None,
    yes: bool,
) -> None:
    """Remove a platform with its people, courses and parcours — or one of its deployments."""
    from ..models import Course, Deployment, Person, Platform

    with _sessions(cli).begin() as session:
        query = select(Platform)
        if platform_id is not None:
            query = query.where(Platform.id == platform_id)
        elif issuer and client_id:
            query = query.where(
                Platform.issuer == issuer.rstrip("/"), Platform.client_id == client_id
            )
        else:
            raise click.UsageError("give a PLATFORM_ID, or --issuer and --client-id")
        platform = session.scalar(query)
        if platform is None:
            raise click.ClickException("no such platform (see `reperes platform list`)")
        if deployment_id:
            row = session.scalar(
                select(Deployment).where(
                    Deployment.platform_id == platform.id, Deployment.deployment_id == deployment_id
                )
            )
            if row is None:
                raise click.ClickException(
                    f"platform {platform.id} has no deployment {deployment_id!r}"
                )
            session.delete(row)
            click.echo(f"removed deployment {deployment_id} of platform {platform.id}")
            return
        people = session.scalar(
            select(func.count()).select_from(Person).where(Person.platform_id == platform.id)
        )
        courses = session.scalar(
            select(func.count()).select_from(Course).where(Course.platform_id == platform.id)
        )
        if not yes:
            click.confirm(
                f"Remove {platform.issuer} client {platform.client_id} with its {people} people "
                f"and {courses} courses (their parcours too)?",
                abort=True,
            )
        from ..auth import end_sessions

        end_sessions(session, platform_id=platform.id)  # its people are signed out at once
        session.delete(platform)
        click.echo(f"removed platform {platform.id} ({people} people, {courses} courses)")


@group.command("invite")
@click.option(
    "--host",
    help="Allow dynamic registration from this host (moodle.example.org) "
    "instead of making a one-time URL: https on 443 only, unless you write a port "
    "(moodle.example.org:8443) or http://.",
)
@click.option(
    "--days",
    type=int,
    default=None,
    help="Valid for this many days (default: 7). Either kind is spent by its first use.",
)
@click.option("--note", default="", help="A reminder: who it is for.")
@pass_ctx
def invite_(cli: CliContext, host: str | None, days: int | None, note: str) -> None:
    """Open LTI Dynamic Registration to one platform: a one-time URL or an allowed host."""
    from ..lti.registration import invite, invite_url

    lifetime = timedelta(days=days) if days else None
    with _sessions(cli).begin() as session:
        try:
            row, token = invite(session, host=host, note=note, lifetime=lifetime)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--host") from None
        until = row.expires_at.strftime("%Y-%m-%d %H:%M UTC") if row.expires_at else "revoked"
        if token:
            click.echo(
                "One-time registration URL (Moodle: Manage tools › Tool URL › Add LTI Advantage):"
            )
            click.echo(f"  {invite_url(ToolUrls(cli.settings.base_url), token)}")
            click.echo(f"valid until {until}; shown once, keep it private.")
        else:
            click.echo(f"dynamic registration allowed from {row.host} until {until}:")
            click.echo(f"  {invite_url(ToolUrls(cli.settings.base_url), None)}")
    _ensure_tool_key(cli)


@group.command("invites")
@pass_ctx
def invites(cli: CliContext) -> None:
    """Registration invites and allowed hosts."""
    from ..lti.models import LtiRegistrationInvite

    with _sessions(cli).begin() as session:
        rows = session.scalars(
            select(LtiRegistrationInvite).order_by(LtiRegistrationInvite.id)
        ).all()
        if not rows:
            click.echo("no invite")
        for r in rows:
            what = f"host {r.host}" if r.host else "one-time URL"
            status = (
                f"used {r.used_at:%Y-%m-%d} by platform {r.platform_id}"
                if r.used_at
                else f"until {r.expires_at:%Y-%m-%d %H:%M}"
                if r.expires_at
                else "open"
            )
            click.echo(f"{r.id}\t{what}\t{status}\t{r.note}")


@group.command("revoke-invite")
@click.argument("invite_id", type=int)
@pass_ctx
def revoke_invite(cli: CliContext, invite_id: int) -> None:
    """Withdraw an invite or an allowed host."""
    from ..lti.models import LtiRegistrationInvite

    with _sessions(cli).begin() as session:
        row = session.get(LtiRegistrationInvite, invite_id)
        if row is None:
            raise click.ClickException(f"no invite {invite_id}")
        session.delete(row)
    click.echo(f"invite {invite_id} revoked")
