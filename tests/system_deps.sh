#!/usr/bin/env bash
# Installs the system components the tests use when they are missing and we may (root):
# PostgreSQL server, Chromium, LibreOffice Writer (headless), poppler (pdftotext).
# Without root, missing components are reported; their tests then skip with the reason
# (and fail under CI=true).
set -u
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-writer-nogui)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system_deps: missing ${missing[*]} (not root: their tests will be skipped)" >&2
  exit 0
fi
echo "system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/reperes-apt.log 2>&1 || {
  echo "system_deps: apt-get install failed, see /tmp/reperes-apt.log" >&2
  tail -20 /tmp/reperes-apt.log >&2
  exit 1
}
