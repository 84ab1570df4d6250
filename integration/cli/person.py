"""`reperes person …` and `reperes retention`: a person's data, exported or erased."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select

from ..db import transaction
from . import CliContext, pass_ctx
from .progress import Progress, progress_option

group = click.Group("person", help="What is stored about a person (GDPR).")


def _resolve(session, person_id: int | None, platform: int | None, sub: str | None,  # type: ignore[no-untyped-def]
             email: str | None) -> int:
    from .. import models as m

    if person_id is not None:
        return person_id
    query = select(m.Person.id)
    if sub is not None:
        if platform is None:
            raise click.UsageError("--sub needs --platform")
        query = query.where(m.Person.platform_id == platform, m.Person.sub == sub)
    elif email is not None:
        query = query.where(m.Person.email == email)
        if platform is not None:
            query = query.where(m.Person.platform_id == platform)
    else:
        raise click.UsageError("give --id, --platform with --sub, or --email")
    found = list(session.scalars(query))
    if not found:
        raise click.ClickException("no such person")
    if len(found) > 1:
        raise click.ClickException(f"{len(found)} people match: give --platform or --id")
    return found[0]


def _who(f):  # type: ignore[no-untyped-def]
    f = click.option("--email", default=None, help="The person's email.")(f)
    f = click.option("--sub", default=None, help="The LTI user id (with --platform).")(f)
    f = click.option("--platform", type=int, default=None, help="Platform id.")(f)
    f = click.option("--id", "person_id", type=int, default=None, help="Person id.")(f)
    return f


@group.command("export")
@_who
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The zip to write.")
@progress_option
@pass_ctx
def export_(cli: CliContext, person_id, platform, sub, email, out: str, progress) -> None:  # type: ignore[no-untyped-def]
    """Everything stored about a person, as a zip (JSON and files)."""
    from ..ops.privacy import PrivacyError, export_person

    shown = Progress(progress)
    with transaction(cli.runtime.sessions) as session:
        pid = _resolve(session, person_id, platform, sub, email)
        try:
            archive = export_person(session, cli.runtime.store, pid, progress=shown)
        except PrivacyError as error:
            shown.end()
            raise click.ClickException(str(error)) from None
    shown.end()
    Path(out).write_bytes(archive)
    click.echo(f"person {pid}: written {out} ({len(archive)} bytes, {shown.elapsed:.1f} s)")


@group.command()
@_who
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def erase(cli: CliContext, person_id, platform, sub, email, yes: bool) -> None:  # type: ignore[no-untyped-def]
    """Erase a person, their parcours and files; only an audit line remains."""
    from ..ops.privacy import PrivacyError, erase_person

    with transaction(cli.runtime.sessions) as session:
        pid = _resolve(session, person_id, platform, sub, email)
        if not yes and not click.confirm(
            f"Erase person {pid} and everything of theirs? This cannot be undone", default=False
        ):
            click.echo("nothing erased")
            sys.exit(1)
        try:
            counts = erase_person(session, cli.runtime.store, pid,
                                      var_dir=cli.runtime.settings.var_dir)
        except PrivacyError as error:
            raise click.ClickException(str(error)) from None
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    click.echo(f"person {pid} erased ({summary})")


@click.command("retention")
@click.option("--months", type=int, default=None,
              help="Closed parcours older than this are erased (default REPERES_RETENTION_MONTHS).")
@progress_option
@pass_ctx
def retention(cli: CliContext, months: int | None, progress: bool | None) -> None:
    """Erase the parcours closed for longer than the retention period."""
    from ..ops.privacy import PrivacyError, apply_retention

    months = months or cli.settings.retention_months
    if not months:
        raise click.ClickException("no retention period: set REPERES_RETENTION_MONTHS or --months")
    shown = Progress(progress)
    with transaction(cli.runtime.sessions) as session:
        try:
            erased = apply_retention(session, cli.runtime.store, months, datetime.now(UTC),
                                     var_dir=cli.runtime.settings.var_dir, progress=shown)
        except PrivacyError as error:
            shown.end()
            raise click.ClickException(str(error)) from None
    shown.end()
    click.echo(f"{len(erased)} parcours erased ({shown.elapsed:.1f} s)")
