#!/bin/sh
# Container entrypoint: `serve` applies migrations then starts gunicorn; any other
# argument runs the `reperes` command (e.g. `sync`, `person export`, `keys rotate`).
set -eu
GUNICORN_CONF="${GUNICORN_CONF:-/etc/reperes/gunicorn.conf.py}"
case "${1:-serve}" in
  serve)
    reperes db upgrade
    exec gunicorn -c "$GUNICORN_CONF" integration.wsgi:app
    ;;
  *)
    exec reperes "$@"
    ;;
esac
