"""WSGI entry for gunicorn: `gunicorn -c deploy/gunicorn.conf.py integration.wsgi:app`."""

from __future__ import annotations

import logging

from . import create_app
from .observability import configure_logging
from .settings import Settings

_settings = Settings.from_env()
configure_logging(_settings.log_json, logging.INFO)
app = create_app(_settings)
if _settings.sync_every:  # gunicorn loads this module in each worker, after the fork
    from .sync import start_background_sync

    start_background_sync(app.extensions["reperes"], _settings.sync_every)
