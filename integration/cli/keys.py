"""`reperes keys …`: the tool's signing keys, published at /lti/jwks."""

from __future__ import annotations

from datetime import timedelta

import click

from . import CliContext, pass_ctx
from .platform import _sessions

group = click.Group("keys", help="The tool's RSA keys (JWKS at /lti/jwks).")


@group.command("list")
@pass_ctx
def list_(cli: CliContext) -> None:
    """Published keys: the current one signs, the others await the end of their grace period."""
    from ..lti import keys

    with _sessions(cli).begin() as session:
        keys.current_key(session)
        keys.drop_retired(session)
        for row in keys.published_keys(session):
            status = (
                "current"
                if row.current_for
                else f"retired, published until {row.retire_at:%Y-%m-%d %H:%M}"
            )
            click.echo(f"{row.kid}\tcreated {row.created_at:%Y-%m-%d %H:%M}\t{status}")


@group.command("rotate")
@click.option(
    "--grace-days",
    type=float,
    default=7.0,
    show_default=True,
    help="How long the previous key stays published (platforms cache our JWKS).",
)
@pass_ctx
def rotate(cli: CliContext, grace_days: float) -> None:
    """Make a new signing key; the previous one stays published for the grace period."""
    from ..lti import keys

    with _sessions(cli).begin() as session:
        row = keys.rotate(session, grace=timedelta(days=grace_days))
        click.echo(
            f"new signing key {row.kid}; the previous one stays published {grace_days:g} day(s)"
        )
    click.echo("running instances use it within a minute")
