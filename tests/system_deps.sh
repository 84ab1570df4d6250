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
log=${REPERES_APT_LOG:-/tmp/reperes-apt.log}
# Another apt (unattended-upgrades, a parallel install) may hold the dpkg or lists lock:
# wait for it rather than fail at once. DPkg::Lock::Timeout covers the dpkg lock; older
# apt versions do not wait for the lists lock of `apt-get update`, so retry that too.
wait_s=${REPERES_APT_LOCK_TIMEOUT:-900}
apt_wait() {
  local deadline=$((SECONDS + wait_s))
  while true; do
    if apt-get -o "DPkg::Lock::Timeout=$wait_s" "$@" >>"$log" 2>&1; then
      return 0
    fi
    if ! tail -5 "$log" | grep -q "Could not get lock\|Unable to lock" \
      || [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    echo "system_deps: another apt holds the lock, waiting" >&2
    sleep 5
  done
}
: >"$log"
apt_wait update -qq || {
  echo "system_deps: apt-get update failed, see $log" >&2
  tail -20 "$log" >&2
  exit 1
}
apt_wait install -y -qq --no-install-recommends "${missing[@]}" || {
  echo "system_deps: apt-get install failed, see $log" >&2
  tail -20 "$log" >&2
  exit 1
}
