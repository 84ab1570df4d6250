#!/bin/sh
# Repères container entrypoint (also usable on a plain machine, see the guides).
#
#   serve        apply the migrations (unless REPERES_MIGRATE=false), then start gunicorn
#   sync-loop    run `reperes sync` every REPERES_SYNC_INTERVAL seconds (default 900)
#   healthcheck  exit 0 when /healthz answers 200 on this machine (the image's HEALTHCHECK)
#   anything else: the `reperes` command, e.g. `sync`, `person export --id 3 --out -`,
#                  `keys rotate`, `db upgrade`, `platform invite`
set -eu

GUNICORN_CONF="${GUNICORN_CONF:-/etc/reperes/gunicorn.conf.py}"
GUNICORN_BIND="${GUNICORN_BIND:-0.0.0.0:8000}"
export GUNICORN_BIND

case "${1:-serve}" in
  serve)
    # One instance migrates; with several, set REPERES_MIGRATE=false on all but one, or
    # run `reperes db upgrade` once before starting them. The service refuses to start
    # on a database whose migrations are not at the code's head.
    case "${REPERES_MIGRATE:-true}" in
      true|1|yes|on) reperes db upgrade ;;
      *) ;;
    esac
    exec gunicorn -c "$GUNICORN_CONF" integration.wsgi:app
    ;;
  sync-loop)
    interval="${REPERES_SYNC_INTERVAL:-900}"
    case "$interval" in
      ''|*[!0-9]*) echo "REPERES_SYNC_INTERVAL must be a number of seconds" >&2; exit 2 ;;
      *) ;;
    esac
    # A database lease keeps two runs from overlapping, whatever starts them (--busy-ok:
    # another run holding it is not an error). A failed run is logged and tried again.
    sleeper=""
    trap 'if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi; exit 0' TERM INT
    while :; do
      reperes sync --busy-ok || echo "reperes sync ended with status $?" >&2
      sleep "$interval" &
      sleeper=$!
      wait "$sleeper" || true
      sleeper=""
    done
    ;;
  healthcheck)
    port="${GUNICORN_BIND##*:}"
    exec python - "$port" <<'PY'
import sys
import urllib.request

url = f"http://127.0.0.1:{sys.argv[1]}/healthz"
try:
    with urllib.request.urlopen(url, timeout=4) as answer:  # noqa: S310 - fixed local URL
        sys.exit(0 if answer.status == 200 else 1)
except Exception as exc:  # any failure is "unhealthy"
    print(f"healthcheck {url}: {type(exc).__name__}", file=sys.stderr)
    sys.exit(1)
PY
    ;;
  *)
    exec reperes "$@"
    ;;
esac
