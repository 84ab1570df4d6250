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
        from ..secrets_at_rest import SecretsError

        if self._runtime is None:
            try:
                self._runtime = Runtime.from_settings(self.settings)
            except SecretsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._runtime


# Sub-commands are imported when they run, so that `reperes --help` answers at once:
# name -> (module of integration.cli, attribute, the line `reperes --help` shows).
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("demo", "command", "Serve Repères with the demo platform at /demo."),
    "dossier": ("dossier", "group", "Word dossiers de preuves."),
    "keys": ("keys", "group", "The tool's RSA keys (JWKS at /lti/jwks)."),
    "person": ("person", "group", "What is stored about a person (GDPR)."),
    "platform": ("platform", "group", "LTI platforms (Moodle sites) allowed to launch Repères."),
    "referentiels": ("referentiels", "group", "The compétence frameworks (shipped and imported)."),
    "retention": ("person", "retention", "Erase the parcours closed longer than the retention."),
    "storage": ("dossier", "storage", "Shared storage (Nextcloud or a local folder): the queue."),
    "suggest": ("suggest", "command", "Propose the compétences a sentence points to."),
    "sync": ("sync", "sync_command", "Copy Moodle completions into tasks, then retry storage."),
}


def _load(name: str) -> click.Command:
    import importlib

    module_name, attribute, _ = LAZY_COMMANDS[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    command: click.Command = getattr(module, attribute)
    if name == "platform" and isinstance(command, click.Group) and "moodle" not in command.commands:
        from .sync import moodle_command

        command.add_command(moodle_command)
    return command


class LazyGroup(click.Group):
    """A group whose sub-commands are imported only when one of them is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            self.add_command(_load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, LAZY_COMMANDS[name][2]))
            elif (command := super().get_command(ctx, name)) is not None:
                rows.append((name, command.get_short_help_str(formatter.width - 20)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


pass_ctx = click.make_pass_decorator(CliContext)


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", is_flag=True, help="More detail in logs.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Repères: tasks, compétences and dossiers de preuves, from inside Moodle."""
    from ..ops.observability import configure_logging

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
    from ..ops.background import start_background_work

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


def run() -> None:  # pragma: no cover - console entry for `python -m`
    sys.exit(main())
