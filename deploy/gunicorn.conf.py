"""gunicorn settings for Repères: `gunicorn -c deploy/gunicorn.conf.py integration.wsgi:app`.

Every value can be changed by a GUNICORN_* environment variable (listed in the guides).
The defaults suit one machine behind a reverse proxy that terminates HTTPS.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cpu_count() -> int:
    try:  # the CPUs this process may use (a container's limit), not the host's
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# Workers: two per CPU plus one, at most 8 unless told otherwise. Each worker holds its
# own database pool: with PostgreSQL's default of 100 connections, 8 workers x 4 threads
# (+ the sync) stay well below it. Several machines: lower this, or raise max_connections.
workers = _int("GUNICORN_WORKERS", min(2 * _cpu_count() + 1, _int("GUNICORN_MAX_WORKERS", 8)))
# Threads wait on I/O (PostgreSQL, Moodle, Nextcloud) while another thread of the same
# worker serves; the CPU-bound part (a dossier, photo reductions) runs in one of them.
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# A dossier with 40 photos builds in a few seconds; a slow Nextcloud can add tens more.
# The timeout is the worker's heartbeat: a worker silent for that long is restarted.
timeout = _int("GUNICORN_TIMEOUT", 120)
# On stop or reload, requests in flight (a dossier being written) get this long to end.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 60)
# Keep-alive with the proxy; a little longer than nothing, shorter than proxies' idle time.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Workers are renewed from time to time: a slow leak in a library never grows for long.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Repères loads once per worker, after the fork: nothing is shared in memory between them.
preload_app = False
# The heartbeat file lives in memory when possible (a container's /tmp may be slow disk).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Repères writes one line per request itself (reperes.access: method, path, status,
# duration, request id), in the same format as its other lines (JSON with
# REPERES_LOG_JSON=true). gunicorn's own access log is off unless asked for
# (GUNICORN_ACCESSLOG=- for standard output); its format never has the query string.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# Behind a reverse proxy. gunicorn takes X-Forwarded-Proto (https) only from these
# addresses (comma-separated IPs or networks); Repères reads X-Forwarded-For/-Host/-Proto
# when REPERES_TRUST_PROXY=true. `pre_request` below removes every X-Forwarded-* and
# Forwarded header from other peers, so a client that reaches gunicorn directly cannot
# pretend to be the proxy. "*" trusts every peer: only when nothing but the proxy can
# reach this port.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Request headers and lines: generous for LTI id_tokens (form bodies, not headers), tight
# enough to refuse abuse.
limit_request_line = 8190
limit_request_fields = 100


def _trusted_networks(value: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """The networks of forwarded_allow_ips; None when every peer is trusted ("*")."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    networks = []
    for item in (str(i).strip() for i in items):
        if item == "*":
            return None
        if item:
            networks.append(ipaddress.ip_network(item, strict=False))
    return networks


_FORWARDED = ("X-FORWARDED-", "FORWARDED", "X-REAL-IP")


def _from_proxy(peer: Any, networks: list[Any] | None) -> bool:
    if networks is None or not isinstance(peer, tuple):  # "*", or a UNIX socket
        return True
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


_networks_cache: dict[str, list[Any] | None] = {}


def pre_request(worker: Any, req: Any) -> None:
    """Forget proxy headers that do not come from the proxy."""
    allowed = worker.cfg.forwarded_allow_ips
    key = ",".join(allowed) if isinstance(allowed, list | tuple) else str(allowed)
    if key not in _networks_cache:
        _networks_cache[key] = _trusted_networks(allowed)
    networks = _networks_cache[key]
    if _from_proxy(getattr(req, "peer_addr", None), networks):
        return
    req.headers = [
        (name, value) for name, value in req.headers if not name.upper().startswith(_FORWARDED)
    ]


def _json_logging() -> dict[str, Any] | None:
    """gunicorn's own lines (boot, worker restarts) as JSON too, when Repères logs JSON."""
    if os.environ.get("REPERES_LOG_JSON", "").strip().lower() not in {"1", "true", "yes", "on"}:
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "integration.ops.observability.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
        },
        # The root logger gets its handler from Repères in each worker (wsgi.py).
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            # Off unless GUNICORN_ACCESSLOG asks: reperes.access already has each request.
            "gunicorn.access": {
                "level": "INFO" if accesslog else "WARNING",
                "handlers": ["stdout"] if accesslog else [],
                "propagate": False,
            },
        },
    }


logconfig_dict = _json_logging() or {}
