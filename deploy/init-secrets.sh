#!/bin/sh
# Make the secret files deploy/compose.yaml reads (once; existing files are kept).
#   sh deploy/init-secrets.sh
# Then put the Nextcloud app password in deploy/secrets/nextcloud_app_password
# (see the guides); it may stay "unused" while the files stay in a local folder.
set -eu
dir="$(dirname "$0")/secrets"
# The folder is closed to other users of this machine. The files inside are readable by
# any user id, because compose mounts them as they are into containers that do not run
# as root (Repères as 10001, PostgreSQL as 999): the closed folder is what protects them.
umask 022
mkdir -p "$dir"
chmod 700 "$dir"

random_hex() {  # $1 bytes of randomness, as hex, with POSIX tools only
  od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

write_once() {  # write_once FILE VALUE
  if [ -s "$dir/$1" ]; then
    echo "kept    $dir/$1"
  else
    printf '%s\n' "$2" > "$dir/$1"
    echo "written $dir/$1"
  fi
}

write_once reperes_secret_key "$(random_hex 48)"
# Seals the tool's private keys and the Moodle tokens in the database (a Fernet key:
# 32 random bytes in URL-safe base64). Keep it apart from the database backups.
write_once reperes_encryption_key \
  "$(dd if=/dev/urandom bs=32 count=1 2>/dev/null | base64 | tr '+/' '-_')"
if [ -s "$dir/postgres_password" ]; then
  db_password="$(head -n 1 "$dir/postgres_password")"
else
  db_password="$(random_hex 24)"
fi
write_once postgres_password "$db_password"
write_once database_url "postgresql+psycopg://reperes:${db_password}@db:5432/reperes"
write_once nextcloud_app_password "unused"
