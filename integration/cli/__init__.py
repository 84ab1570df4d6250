"""The `reperes` command."""

from __future__ import annotations

import logging
import sys

import click

from ..settings import Settings, SettingsError


class CliContext:
    """Settings and a lazily opened runtime, shared by every sub-command."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime = None

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        from ..runtime import Runtime

        if self._runtime is None:
            self._runtime = Runtime.from_settings(self.settings)
        return self._runtime


pass_ctx = click.make_pass_decorator(CliContext)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="More detail in logs.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Repères: tasks, compétences and dossiers de preuves, from inside Moodle."""
    from ..observability import configure_logging

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_json, logging.DEBUG if verbose else logging.INFO)
    ctx.obj = CliContext(settings)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Reload on code changes (development only).")
@click.option("--sync-every", default=None, metavar="INTERVAL",
              help="Run the Moodle sync and storage retries in the service, e.g. 15m.")
@pass_ctx
def serve(cli: CliContext, host: str, port: int, debug: bool, sync_every: str | None) -> None:
    """Start the service (development server; use gunicorn in production)."""
    from .. import create_app
    from ..db import DatabaseNotReady
    from ..settings import parse_interval

    settings = cli.settings
    if sync_every:
        try:
            settings = settings.with_changes(sync_every=parse_interval(sync_every))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--sync-every") from None
    try:
        app = create_app(settings)
    except DatabaseNotReady as exc:
        raise click.ClickException(str(exc)) from None
    from ..background import start_background_work

    start_background_work(app.extensions["reperes"])
    app.run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True)


@main.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(cli: CliContext) -> None:
    """Apply the migrations (safe to run again)."""
    from ..db import head_revision, upgrade

    upgrade(cli.runtime.engine)
    click.echo(f"database at migration {head_revision()}")


def _register_groups() -> None:
    from . import demo, dossier, keys, person, platform, referentiels, suggest, sync

    main.add_command(referentiels.group)
    main.add_command(platform.group)
    platform.group.add_command(sync.moodle_command)
    main.add_command(keys.group)
    main.add_command(demo.command)
    main.add_command(sync.sync_command)
    main.add_command(suggest.command)
    main.add_command(person.group)
    main.add_command(person.retention)
    dossier.register(main)  # dossier, storage


_register_groups()


def run() -> None:  # pragma: no cover - console entry for `python -m`
    sys.exit(main())
