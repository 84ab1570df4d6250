"""`reperes sync` (one run, for cron, a systemd timer or a Kubernetes CronJob) and
`reperes platform moodle …` (the Moodle connection of a platform).

Exit codes of `reperes sync`:

- 0: done, no error (or nothing to sync);
- 1: failed: no platform could be synced (Moodle unreachable, token refused…);
- 3: partial: some courses or people failed, the others were synced; the next run
  catches up;
- 75: another run holds the lock (EX_TEMPFAIL): nothing done, try later. With
  `--busy-ok` this case exits 0 instead (for schedulers that alert on any failure).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from . import CliContext, pass_ctx
from .progress import Progress, progress_option


@click.command("sync")
@click.option(
    "--platform", "platform_keys", multiple=True,
    help="Only this platform (id or name); repeat for several.",
)
@click.option(
    "--course", "course_ids", multiple=True, type=int,
    help="Only this course (Repères course id); repeat for several.",
)
@click.option(
    "--wait", "wait_seconds", default=0.0, show_default=True, type=click.FloatRange(0),
    help="Seconds to wait for a running sync to end before giving up.",
)
@click.option(
    "--workers", default=4, show_default=True, type=click.IntRange(1, 16),
    help="Moodle requests in flight at once.",
)
@click.option("--busy-ok", is_flag=True, help="Exit 0 (not 75) when another run holds the lock.")
@progress_option
@pass_ctx
def sync_command(
    cli: CliContext,
    platform_keys: tuple[str, ...],
    course_ids: tuple[int, ...],
    wait_seconds: float,
    workers: int,
    busy_ok: bool,
    progress: bool | None,
) -> None:
    """Copy Moodle completions of mapped modules into the parcours, once.

    Exit 0 done, 1 failed, 3 partial, 75 another run holds the lock.
    """
    from ..db import DatabaseNotReady, check_ready
    from ..moodle.connection import MoodleLinkError, find_platform
    from ..moodle.report import EXIT_BUSY, exit_code
    from ..moodle.run import run_sync
    from ..ops.locks import LockBusy

    runtime = cli.runtime
    try:
        check_ready(runtime.engine)
    except DatabaseNotReady as exc:
        raise click.ClickException(str(exc)) from None
    platforms: list[int] | None = None
    if platform_keys:
        try:
            with runtime.sessions() as session:
                platforms = [find_platform(session, key).id for key in platform_keys]
        except MoodleLinkError as exc:
            raise click.ClickException(str(exc)) from None
    shown = Progress(progress)
    try:
        reports = run_sync(
            runtime,
            trigger="cli",
            wait_seconds=wait_seconds,
            platforms=platforms,
            courses=list(course_ids) or None,
            workers=workers,
            progress=shown,
        )
    except LockBusy as busy:
        shown.end()
        click.echo(f"another sync is running ({busy}); nothing done", err=True)
        sys.exit(0 if busy_ok else EXIT_BUSY)
    shown.end()
    if not reports:
        click.echo("no platform has a Moodle connection: nothing to sync")
    for report in reports:
        click.echo(report.line())
        for error in report.errors:
            click.echo(f"  error: {error}", err=True)
    # The same run retries the dossier copies waiting for the shared storage.
    from ..dossier.queue import drain_pending_writes

    drained = drain_pending_writes(runtime, progress=shown)
    shown.end()
    if drained.due or drained.written:
        click.echo(
            f"storage: {drained.written} written, {drained.still_queued} still waiting"
        )
    sys.exit(exit_code(reports))


def _read_token(path: str) -> str:
    if path == "-":
        return sys.stdin.readline().strip()
    file = Path(path)
    try:
        mode = file.stat().st_mode
        token = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.ClickException(f"cannot read the token file {path}: {exc.strerror}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        click.echo(
            f"warning: {path} can be read by other users; `chmod 600 {path}` keeps it secret",
            err=True,
        )
    return token


@click.command("moodle")
@click.argument("platform")
@click.option("--url", help="Moodle's address, e.g. https://moodle.example.org")
@click.option(
    "--token-file", type=click.Path(dir_okay=False, allow_dash=True),
    help="A file holding the web-service token ('-': read one line from standard input).",
)
@click.option(
    "--match", type=click.Choice(["id", "username", "email", "username,email"]),
    help="How Moodle users are matched beyond the Moodle id (default: id only).",
)
@click.option("--check", "check_only", is_flag=True, help="Check the stored connection only.")
@pass_ctx
def moodle_command(
    cli: CliContext,
    platform: str,
    url: str | None,
    token_file: str | None,
    match: str | None,
    check_only: bool,
) -> None:
    """Connect PLATFORM to Moodle's web services for the completion sync.

    The token is read from a file so that it stays out of shell history and logs.
    The connection is checked at once (core_webservice_get_site_info) and saved only
    when it works and its service offers the functions the sync needs.
    """
    from ..db import transaction
    from ..moodle.connection import (
        MoodleLinkError,
        check_connection,
        connect_moodle,
        find_platform,
        has_connection,
        moodle_token,
        platform_courseids,
    )

    runtime = cli.runtime
    try:
        if check_only:
            with runtime.sessions() as session:
                found = find_platform(session, platform)
                if not has_connection(found):
                    raise click.ClickException(f"platform {found.id} has no Moodle connection")
                report = check_connection(
                    found.id, str(found.moodle_url), moodle_token(found),
                    courseids=platform_courseids(session, found.id),
                )
        else:
            if not url or not token_file:
                raise click.UsageError("give --url and --token-file (or --check)")
            token = _read_token(token_file)
            with transaction(runtime.sessions) as session:
                report = connect_moodle(session, platform, url, token, match=match)
    except MoodleLinkError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)
