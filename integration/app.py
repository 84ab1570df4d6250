"""The Flask application factory: `create_app(settings)`; nothing happens at import."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, Map

from .db import MAX_ID, DatabaseNotReady, check_ready
from .runtime import Runtime
from .settings import Settings

log = logging.getLogger(__name__)

# Uploads (multipart forms) carry photos and PDF files; any other body is a few texts: a
# page's form (its long texts percent-encoded) or a JSON body of the API.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_FORM_BYTES = 1024 * 1024
MAX_BODY_BYTES = 256 * 1024


def _limit_body() -> None:
    """A body that is not an upload is read up to its small limit, then refused with 413."""
    if request.mimetype == "multipart/form-data":
        return
    if request.mimetype == "application/x-www-form-urlencoded":
        request.max_content_length = MAX_FORM_BYTES
    else:
        request.max_content_length = MAX_BODY_BYTES


class DatabaseId(IntegerConverter):
    """`<int:…>` in routes: a positive id that fits the database's integer columns."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(settings: Settings | None = None, *, check_database: bool = True) -> Flask:
    """Build the service. Refuses to start on a database that is not migrated."""
    settings = settings or Settings.from_env()
    runtime = Runtime.from_settings(settings)
    if check_database:
        check_ready(runtime.engine)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
    )
    app.extensions["reperes"] = runtime
    app.before_request(_limit_body)
    from .ops.budget import bound_storage_time

    app.wsgi_app = bound_storage_time(app.wsgi_app)  # type: ignore[method-assign]
    # Ids in URLs are database keys: out of range is "not found", never a database error.
    app.url_map.converters["int"] = DatabaseId

    if settings.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    from . import errors
    from .ops import health, observability

    observability.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.bp)
    # One line per room of the service; each module owns its own line.
    # -- blueprints --
    from . import api, lti, pages
    from .dossier import views as dossier_views
    from .moodle import views as sync_views
    from .pages import home

    lti.init_app(app)  # the actor session, /lti/*, and /demo when settings.demo
    app.register_blueprint(home.bp)  # /
    app.register_blueprint(api.bp)  # /api/v1
    app.register_blueprint(sync_views.bp)  # /sync
    app.register_blueprint(pages.bp)  # /moi, /cours
    app.register_blueprint(pages.handoff.bp)  # /t/<token>, /telephone: the phone's way in
    app.register_blueprint(dossier_views.bp)  # /dossier
    # -- end blueprints --
    return app


__all__ = ["create_app", "Settings", "DatabaseNotReady"]
