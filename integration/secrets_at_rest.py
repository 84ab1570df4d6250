"""Secrets kept in the database, encrypted at rest: the tool's private keys, Moodle tokens.

A database dump alone must not let anyone sign launches or read Moodle. So these values
are sealed with authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256, from the
`cryptography` package) under a key the operator keeps apart from the database:

- `REPERES_ENCRYPTION_KEY_FILE` names a file with one Fernet key per line. The first
  line encrypts; every line decrypts (so a new key can be put first while rows sealed
  with the previous one are still read, until `reperes keys reencrypt` has run).
  `REPERES_ENCRYPTION_KEY` gives the same keys in the environment, separated by commas
  (for the operator's `reperes-cli`, which cannot hand a root-only file to another user).
- Without it (`make run`, the demo), a key is made once in `var/encryption_key` (0600),
  like the session secret: local use needs no set-up.

Stored values read `enc:v1:<fernet token>`. A value without that prefix is a row written
before encryption existed: it is still read, and sealed again by `reperes keys encrypt`
or on the next write.

The box of a database travels with its sessions (`session.info`, installed by
`Runtime.from_settings`). A session opened without it (a test's own sessionmaker) reads
sealed values it cannot open as an error, and writes in clear with a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session, object_session, sessionmaker

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

PREFIX = "enc:v1:"
DEFAULT_KEY_FILE = "encryption_key"
ENV = "REPERES_ENCRYPTION_KEY_FILE"
_INFO = "reperes.secret_box"


class SecretsError(Exception):
    """A key file is missing or malformed, or a value cannot be decrypted: for the operator."""


def new_key() -> str:
    """A fresh encryption key, as written in a key file."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str, source: str) -> list[bytes]:
    """The keys of a key file: one per line, blank lines and `#` comments ignored."""
    keys: list[bytes] = []
    for number, line in enumerate(text.replace(",", "\n").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            Fernet(line.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SecretsError(
                f"{source}: line {number} is not an encryption key "
                "(make one with `reperes keys new-encryption-key`)"
            ) from None
        keys.append(line.encode("ascii"))
    if not keys:
        raise SecretsError(
            f"{source}: no encryption key in it "
            "(make one with `reperes keys new-encryption-key`)"
        )
    return keys


def read_key_file(path: str | Path, source: str | None = None) -> list[bytes]:
    source = source or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretsError(f"{source}: cannot read {path}: {exc.strerror}") from None
    return parse_keys(text, source)


def _default_key_file(var_dir: Path) -> list[bytes]:
    """The key kept in var/ for local use, made on first use (every worker shares it)."""
    path = var_dir / DEFAULT_KEY_FILE
    try:
        return read_key_file(path)
    except SecretsError:
        if path.exists():
            raise
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first
        return read_key_file(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(new_key() + "\n")
    log.warning(
        "made an encryption key for secrets at rest in %s; in production set %s to a file "
        "kept apart from the database and its backups", path, ENV,
    )
    return read_key_file(path)


class SecretBox:
    """Seals and opens secret strings with the operator's keys (the first one seals)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecretsError("no encryption key")
        self._primary = Fernet(keys[0])
        self._all = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: Settings, *, old_key_files: Iterable[str | Path] = ()
                      ) -> SecretBox:
        if settings.encryption_key_file:
            keys = read_key_file(settings.encryption_key_file, ENV)
        elif settings.encryption_key:
            keys = parse_keys(settings.encryption_key, "REPERES_ENCRYPTION_KEY")
        else:
            keys = _default_key_file(Path(settings.var_dir))
        for path in old_key_files:
            keys += read_key_file(path)
        return cls(keys)

    def seal(self, value: str) -> str:
        return PREFIX + self._primary.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The clear value; a value stored before encryption existed is returned as is."""
        if not is_sealed(stored):
            return stored
        try:
            return self._all.decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretsError(
                f"a secret in the database cannot be decrypted with the key(s) of {ENV}: "
                "the key file is not the one it was encrypted with (after a key change, run "
                "`reperes keys reencrypt --old-key-file OLD`)"
            ) from None

    def needs_sealing(self, stored: str) -> bool:
        """Clear, or sealed with another key than the first one."""
        if not is_sealed(stored):
            return True
        try:
            self._primary.decrypt(stored[len(PREFIX):].encode("ascii"))
        except InvalidToken:
            return True
        return False

    def reseal(self, stored: str) -> str:
        return self.seal(self.open(stored))


def is_sealed(stored: str | None) -> bool:
    return isinstance(stored, str) and stored.startswith(PREFIX)


# --- the box of a database, carried by its sessions -------------------------------------


def install(sessions: sessionmaker[Session], box: SecretBox) -> None:
    """Every session of this factory seals and opens with `box`."""
    info = dict(sessions.kw.get("info") or {})
    info[_INFO] = box
    sessions.configure(info=info)


def box_of(session: Session | None) -> SecretBox | None:
    if session is None:
        return None
    box = session.info.get(_INFO)
    return box if isinstance(box, SecretBox) else None


def seal_for(session: Session | None, value: str) -> str:
    """`value` sealed with the session's box; in clear (with a warning) when it has none."""
    box = box_of(session)
    if box is None:
        log.warning("a secret is stored in clear: this session has no encryption key "
                    "(it was not opened by the service)")
        return value
    return box.seal(value)


def open_for(session: Session | None, stored: str) -> str:
    box = box_of(session)
    if box is None:
        if is_sealed(stored):
            raise SecretsError("a secret in the database is encrypted, and this session "
                               "has no encryption key")
        return stored
    return box.open(stored)


def open_attribute(obj: object, stored: str) -> str:
    """Open a value read from a mapped object, with the box of the session holding it."""
    return open_for(object_session(obj), stored)
