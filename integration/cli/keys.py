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


# --- the encryption of secrets at rest (integration/secrets_at_rest.py) -------------------


@group.command("new-encryption-key")
def new_encryption_key() -> None:
    """Print a fresh encryption key, for the file named by REPERES_ENCRYPTION_KEY_FILE."""
    from ..secrets_at_rest import new_key

    click.echo(new_key())


def _reseal(cli: CliContext, old_key_files: tuple[str, ...]) -> tuple[int, int]:
    from ..db import make_session_factory
    from ..lti import keys
    from ..moodle.connection import reseal_tokens
    from ..secrets_at_rest import SecretBox, SecretsError, install

    _sessions(cli)  # the database is ready
    try:
        box = SecretBox.from_settings(cli.settings, old_key_files=old_key_files)
    except SecretsError as exc:
        raise click.ClickException(str(exc)) from None
    sessions = make_session_factory(cli.runtime.engine)
    install(sessions, box)
    try:
        with sessions.begin() as session:
            return keys.reseal_all(session), reseal_tokens(session)
    except SecretsError as exc:
        raise click.ClickException(f"{exc}; nothing was changed") from None


def _report(changed: tuple[int, int]) -> None:
    private, tokens = changed
    click.echo(f"{private} private key(s) and {tokens} Moodle token(s) sealed with the "
               "current encryption key (the first one of REPERES_ENCRYPTION_KEY_FILE)")


@group.command("encrypt")
@pass_ctx
def encrypt(cli: CliContext) -> None:
    """Encrypt the secrets still kept in clear (rows from before encryption existed)."""
    _report(_reseal(cli, ()))


@group.command("reencrypt")
@click.option("--old-key-file", "old_key_files", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="The key file the secrets are encrypted with now (repeat for several).")
@pass_ctx
def reencrypt(cli: CliContext, old_key_files: tuple[str, ...]) -> None:
    """Change the encryption key: read with the old key file, seal with the current one.

    First point REPERES_ENCRYPTION_KEY_FILE at the new key, then run this, then restart the
    instances (or keep both keys in the file, the new one first, until every instance has
    the new file).
    """
    _report(_reseal(cli, old_key_files))
