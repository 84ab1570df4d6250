"""WSGI entry for gunicorn: `gunicorn -c deploy/gunicorn.conf.py integration.wsgi:app`."""

from __future__ import annotations

import logging

from . import create_app
from .ops.background import start_background_work
from .ops.observability import configure_logging
from .settings import Settings

_settings = Settings.from_env()
configure_logging(_settings.log_json, logging.INFO)
app = create_app(_settings)
# gunicorn loads this module in each worker, after the fork: each starts its threads.
start_background_work(app.extensions["reperes"])
