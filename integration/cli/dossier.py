"""`reperes dossier build|template|settings|share` and `reperes storage check|retry|pending`.

Exit codes of `reperes dossier build`: 0 written to the store (or kept here with
--no-publish), 3 only queued (the store is down or refuses: the queue retries it), 4 the
store refused it for good (the dossier stays downloadable from Repères).
Exit codes of `reperes storage retry`: 0 nothing left due (or the queue is empty), 3 some
writes still wait (the store is still down or refuses: see the errors printed), 75 another
process is retrying right now (EX_TEMPFAIL). `reperes storage check`: 0 the folder is there,
1 it is not (or the store does not answer).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import CliContext, pass_ctx
from .progress import Progress, progress_option

EXIT_WAITING = 3
EXIT_REFUSED = 4
EXIT_BUSY = 75


def _err(text: str) -> None:
    """A line on stderr for the operator, without people's names in paths (redacted)."""
    from ..ops.observability import redact

    click.echo(redact(text), err=True)


def _ready(cli: CliContext):  # type: ignore[no-untyped-def]
    from ..db import DatabaseNotReady, check_ready

    runtime = cli.runtime
    try:
        check_ready(runtime.engine)
    except DatabaseNotReady as exc:
        raise click.ClickException(str(exc)) from None
    return runtime


@click.group("dossier")
def group() -> None:
    """Word dossiers de preuves."""


@group.command("build")
@click.option("--parcours", "parcours_id", required=True, type=int, help="The parcours id.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the .docx here ('-' for standard output).")
@click.option("--no-publish", is_flag=True, help="Record it, but do not write it to the store.")
@pass_ctx
def build(cli: CliContext, parcours_id: int, out: Path | None, no_publish: bool) -> None:
    """Make a new version of a parcours' dossier, record it and write it to the store."""
    from ..db import transaction
    from ..dossier.build import generate_dossier, operator_actor
    from ..parcours.errors import ParcoursError

    runtime = _ready(cli)
    try:
        with transaction(runtime.sessions) as session:
            actor = operator_actor(session, parcours_id)
        made = generate_dossier(runtime, actor, parcours_id, publish=not no_publish,
                                queue=not no_publish)
    except ParcoursError as exc:
        raise click.ClickException(exc.message) from None
    if out is not None:
        if str(out) == "-":
            sys.stdout.buffer.write(made.data)
            sys.stdout.buffer.flush()
        else:
            out.write_bytes(made.data)
    echo = _err if str(out) == "-" else click.echo
    echo(f"dossier version {made.version} of parcours {parcours_id}: {len(made.data)} bytes, "
         f"template {made.template}")
    if made.outcome is not None:
        where = made.outcome.path or "(queued)"
        echo(f"store: {made.outcome.state} {where}")
        if made.outcome.message:
            echo(made.outcome.message)
        if made.outcome.error:
            _err(f"storage error: {made.outcome.error}")
        if made.outcome.state == "queued":
            raise SystemExit(EXIT_WAITING)
        if made.outcome.state == "failed":
            raise SystemExit(EXIT_REFUSED)
    elif no_publish:
        echo("store: not written (--no-publish): kept in Repères only")


@group.command("template")
@click.option("--platform", "platform_id", required=True, type=int, help="The platform id.")
@click.option("--default", "use_default", is_flag=True,
              help="Forget the platform's template: use the default one again.")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(1, 600),
              help="Seconds allowed to check the template.")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False,
                                                         path_type=Path))
@pass_ctx
def template(
    cli: CliContext, platform_id: int, use_default: bool, timeout: float, file: Path | None
) -> None:
    """Check a structure's Word template (.docx) and keep it for its platform."""
    from ..db import transaction
    from ..dossier.templates import clear_platform_template, set_platform_template

    if use_default == (file is not None):
        raise click.UsageError("give a FILE, or --default (not both)")
    runtime = _ready(cli)
    if use_default:
        with transaction(runtime.sessions) as session:
            removed = clear_platform_template(session, platform_id)
        click.echo("default template in use" + ("" if removed else " (it already was)"))
        return
    assert file is not None
    with transaction(runtime.sessions) as session:
        problems = set_platform_template(session, platform_id, file.read_bytes(), file.name,
                                         timeout=timeout)
    if problems:
        _err("Modèle refusé :")
        for problem in problems:
            _err(f"- {problem}")
        raise SystemExit(1)
    click.echo(f"template {file.name} kept for platform {platform_id}")


@group.command("check")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(1, 600))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(timeout: float, file: Path) -> None:
    """Check a Word template without keeping it (e.g. the one REPERES_DOSSIER_TEMPLATE names)."""
    from ..dossier.templates import check_template_isolated

    problems = check_template_isolated(file.read_bytes(), timeout=timeout)
    if problems:
        _err("Modèle refusé :")
        for problem in problems:
            _err(f"- {problem}")
        raise SystemExit(1)
    click.echo(f"{file.name}: le modèle est bon")


@group.command("settings")
@click.option("--platform", "platform_id", required=True, type=int, help="The platform id.")
@click.option("--nextcloud-user", type=click.Choice(["username", "email", "email_localpart",
                                                     "sub", "none"]),
              help="How an accompagnateur's Nextcloud user name is found, to share the "
                   "candidats' folders with them ('none': never share).")
@click.option("--structure", help="The structure's name, as the dossier prints it.")
@click.option("--folder", help="The top folder of the dossiers in the store (default RAE).")
@click.option("--timezone", help="The structure's time zone (default Europe/Paris).")
@pass_ctx
def settings(cli: CliContext, platform_id: int, nextcloud_user: str | None,
             structure: str | None, folder: str | None, timezone: str | None) -> None:
    """Show or change a platform's dossier and sharing settings."""
    from ..db import transaction
    from ..dossier.shares import rule_warning
    from ..models import Platform
    from ..platform_settings import PlatformSettings, SettingError

    runtime = _ready(cli)
    changes = {"nextcloud_user": nextcloud_user, "structure": structure,
               "dossier_folder": folder, "timezone": timezone}
    with transaction(runtime.sessions) as session:
        platform = session.get(Platform, platform_id)
        if platform is None:
            raise click.ClickException(f"no platform {platform_id}")
        try:
            updated = PlatformSettings.of(platform).changed(**changes)
        except SettingError as exc:
            raise click.ClickException(str(exc)) from None
        platform.settings = updated.to_json()
        stored = platform.settings
        warning = rule_warning(session, platform_id, updated.nextcloud_user or "")
    for key in changes:
        value = stored.get(key)
        click.echo(f"{key}: {value if value is not None else '(default)'}")
    if warning:
        click.echo(warning, err=True)
    if nextcloud_user and nextcloud_user != "none":
        _share_now(runtime, platform_id)


def _share_now(runtime, platform_id: int) -> None:  # type: ignore[no-untyped-def]
    from ..dossier.shares import _is_nextcloud, share_platform_folders

    if not _is_nextcloud(runtime.store):
        click.echo("shares: none (the store is not Nextcloud)")
        return
    folders, problems = share_platform_folders(runtime, platform_id)
    click.echo(f"shares: {folders} folder(s) looked at, {len(problems)} problem(s)")
    for problem in problems:
        _err(f"- {problem}")
    if problems:
        raise SystemExit(EXIT_WAITING)


@group.command("share")
@click.option("--platform", "platform_id", required=True, type=int, help="The platform id.")
@pass_ctx
def share(cli: CliContext, platform_id: int) -> None:
    """Share every dossier folder of a platform now, by its rule (else at the next write)."""
    from ..db import transaction
    from ..dossier.shares import rule_warning
    from ..models import Platform
    from ..platform_settings import PlatformSettings

    runtime = _ready(cli)
    with transaction(runtime.sessions) as session:
        platform = session.get(Platform, platform_id)
        if platform is None:
            raise click.ClickException(f"no platform {platform_id}")
        rule = PlatformSettings.of(platform).nextcloud_user or ""
        warning = rule_warning(session, platform_id, rule)
    if not rule or rule == "none":
        raise click.ClickException(
            f"platform {platform_id} has no sharing rule: set one with "
            f"`reperes dossier settings --platform {platform_id} --nextcloud-user RULE`")
    if warning:
        click.echo(warning, err=True)
    _share_now(runtime, platform_id)


@click.group("storage")
def storage() -> None:
    """Shared storage (Nextcloud or a local folder): the queue of writes."""


@storage.command("check")
@pass_ctx
def check_storage(cli: CliContext) -> None:
    """Check that the store answers and that its folder exists (never creates it)."""
    from connectors.storage import StorageError

    store = cli.runtime.store
    try:
        root = store.stat("")
    except StorageError as error:
        _err(f"storage: error: {error}")
        raise SystemExit(1) from None
    if root is None or not root.is_folder:
        click.echo(
            f"storage: error: {store.describe()}: the folder does not exist. Check "
            "REPERES_STORAGE_URL (a typo there names another folder) or create the folder "
            "as the storage user; Repères never creates it.", err=True)
        raise SystemExit(1)
    click.echo(f"storage: ok: {store.describe()}")


@storage.command("retry")
@click.option("--all", "retry_all", is_flag=True, help="Also the writes not due yet.")
@progress_option
@pass_ctx
def retry(cli: CliContext, retry_all: bool, progress: bool | None) -> None:
    """Try again the writes that failed (a store down, a quota full…)."""
    from ..dossier.queue import drain_pending_writes

    runtime = _ready(cli)
    shown = Progress(progress)
    report = drain_pending_writes(runtime, include_not_due=retry_all, progress=shown)
    shown.end()
    click.echo(report.summary())
    for error in report.errors:
        _err(f"- {error}")
    if report.busy:
        raise SystemExit(EXIT_BUSY)
    if report.still_queued or report.errors:
        raise SystemExit(EXIT_WAITING)


@storage.command("pending")
@pass_ctx
def pending(cli: CliContext) -> None:
    """List the writes waiting in the queue."""
    from ..db import transaction
    from ..dossier.queue import pending_writes

    runtime = _ready(cli)
    with transaction(runtime.sessions) as session:
        rows = pending_writes(session)
        if not rows:
            click.echo("the queue is empty")
        for row in rows:
            what = f"dossier {row.dossier_id}" if row.dossier_id else f"photo {row.evidence_id}"
            click.echo(f"{what}: {row.attempts} attempt(s), next at "
                       f"{row.next_attempt_at.isoformat(timespec='seconds')}"
                       + (f", last error: {row.last_error}" if row.last_error else ""))


#: What `reperes` registers from this module.
COMMANDS = (group, storage)


def register(main: click.Group) -> None:
    for command in COMMANDS:
        main.add_command(command)
