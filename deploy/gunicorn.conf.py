"""gunicorn settings for Repères. Every value can be overridden by GUNICORN_* variables."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Two workers per core plus one is the usual rule; dossier generation is CPU-bound, so
# we stay at that and use threads for the I/O (Moodle, Nextcloud) waits.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# A dossier with 40 photos builds in a couple of seconds; leave room for a slow storage.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
# Repères loads once per worker; nothing is shared in memory between them.
preload_app = False
accesslog = "-"
errorlog = "-"
# The path only: query strings may carry tokens (LTI state, registration tokens).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
# X-Forwarded-* are trusted only from the proxy's address (set it to the proxy's IP).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
