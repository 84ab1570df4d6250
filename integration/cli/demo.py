"""`reperes demo`: the service with the demo LTI platform, for a first look without Moodle."""

from __future__ import annotations

import os

import click

from . import CliContext, pass_ctx


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@pass_ctx
def command(cli: CliContext, host: str, port: int) -> None:
    """Serve Repères with the demo platform at /demo (migrates the database first)."""
    from .. import create_app
    from ..db import head_revision, make_engine, upgrade

    settings = cli.settings.with_changes(demo=True)
    if not os.environ.get("REPERES_BASE_URL"):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        settings = settings.with_changes(base_url=f"http://{shown}:{port}")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    app = create_app(settings)
    from ..demo_people import seed_demo
    from ..demo_platform import DEPLOYMENT_ID, demo_of

    runtime = app.extensions["reperes"]
    with runtime.sessions.begin() as session:
        # On an empty database only: Samira's parcours well under way (idempotent).
        if seed_demo(session, runtime.store, demo_of(app).issuer, DEPLOYMENT_ID):
            click.echo("demo: Samira's parcours seeded (agent de propreté, 3 activities)")
    from ..ops.background import start_background_work

    # Like `reperes serve`: the storage queue is retried every minute (and the sync runs
    # when REPERES_SYNC_EVERY is set).
    start_background_work(app.extensions["reperes"])
    click.echo(f"database at migration {head_revision()}")
    click.echo(f"Repères with the demo platform: {settings.base_url}/demo")
    app.run(host=host, port=port, threaded=True, use_reloader=False)
