"""RSA key pairs kept in the database: the tool's (JWKS at /lti/jwks) and the demo platform's.

Every instance reads the same keys. A key is made on first use; `rotate` makes a new one
that signs from now on, while the old one stays published for a grace period (platforms
cache our JWKS) and is then dropped.

The private half is sealed with the operator's encryption key (integration/secrets_at_rest.py):
a dump of the database alone signs nothing. `reseal_all` re-encrypts every row
(`reperes keys encrypt` / `reencrypt`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..secrets_at_rest import box_of, open_attribute, seal_for
from .models import LtiKey

TOOL = "tool"
DEMO = "demo"
DEFAULT_GRACE = timedelta(days=7)
# How long an instance trusts what it read; a rotation elsewhere is seen within this time.
CACHE_SECONDS = 60.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint: a `kid` derived from the key itself."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode("ascii")).digest())


def new_key_row(purpose: str, session: Session | None = None) -> LtiKey:
    """A fresh RSA-2048 key pair as an unsaved row, its private half sealed for `session`."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    jwk: dict[str, Any] = {
        "kty": "RSA",
        "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
    }
    kid = _thumbprint(jwk)
    jwk.update(kid=kid, alg="RS256", use="sig")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return LtiKey(kid=kid, purpose=purpose, current_for=purpose,
                  private_pem=seal_for(session, pem), public_jwk=jwk)


def _now() -> datetime:
    return datetime.now(UTC)


def current_key(session: Session, purpose: str = TOOL) -> LtiKey:
    """The key that signs for `purpose`, made now if there is none yet."""
    row = session.scalar(select(LtiKey).where(LtiKey.current_for == purpose))
    if row is not None:
        box = box_of(session)
        if box is not None and box.needs_sealing(row.private_pem):
            # A row kept in clear before encryption existed (or sealed with a previous
            # key): seal it now with the current key.
            row.private_pem = box.reseal(row.private_pem)
        return row
    row = new_key_row(purpose, session)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another worker made it at the same moment: use theirs
        row = session.scalars(select(LtiKey).where(LtiKey.current_for == purpose)).one()
    return row


def published_keys(session: Session, purpose: str = TOOL) -> list[LtiKey]:
    """Keys a verifier may meet: the current one and those still in their grace period."""
    now = _now()
    rows = session.scalars(
        select(LtiKey).where(LtiKey.purpose == purpose).order_by(LtiKey.created_at.desc())
    ).all()
    return [r for r in rows if r.retire_at is None or r.retire_at > now]


def rotate(session: Session, purpose: str = TOOL, grace: timedelta = DEFAULT_GRACE) -> LtiKey:
    """Make a new signing key; the previous one stays published for `grace`, then goes."""
    now = _now()
    drop_retired(session, purpose)
    for old in session.scalars(select(LtiKey).where(LtiKey.current_for == purpose)):
        old.current_for = None
        old.retire_at = now + grace
    session.flush()
    row = new_key_row(purpose, session)
    session.add(row)
    session.flush()
    return row


def drop_retired(session: Session, purpose: str = TOOL) -> int:
    """Delete keys whose grace period is over; returns how many."""
    result = session.execute(
        delete(LtiKey).where(
            LtiKey.purpose == purpose,
            LtiKey.current_for.is_(None),
            LtiKey.retire_at.is_not(None),
            LtiKey.retire_at <= _now(),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def reseal_all(session: Session) -> int:
    """Seal every key row with the session's current encryption key; returns how many changed."""
    box = box_of(session)
    if box is None:
        raise ValueError("this session has no encryption key")
    changed = 0
    for row in session.scalars(select(LtiKey).order_by(LtiKey.id)):
        if box.needs_sealing(row.private_pem):
            row.private_pem = box.reseal(row.private_pem)
            changed += 1
    session.flush()
    return changed


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Any  # cryptography RSAPrivateKey

    @classmethod
    def from_row(cls, row: LtiKey) -> SigningKey:
        pem = open_attribute(row, row.private_pem)
        private = serialization.load_pem_private_key(pem.encode("ascii"), None)
        return cls(kid=row.kid, private_key=private)


class Keyring:
    """An instance's short-lived memory of the keys of one purpose.

    Signing and checking our own signatures then costs no database round trip, and an
    in-process caller that holds a transaction (SQLite allows one writer) is not blocked.
    """

    def __init__(self, purpose: str, sessions: sessionmaker[Session]) -> None:
        self.purpose = purpose
        self._sessions = sessions
        self._lock = threading.Lock()
        self._loaded_at = -CACHE_SECONDS
        self._signing: SigningKey | None = None
        self._public: dict[str, Any] = {}
        self._jwks: list[dict[str, Any]] = []

    def _load(self, session: Session | None) -> None:
        if session is not None:
            self._fill(session)
            return
        with self._sessions.begin() as own:
            self._fill(own)

    def _fill(self, session: Session) -> None:
        row = current_key(session, self.purpose)
        if self._signing is None or self._signing.kid != row.kid:
            self._signing = SigningKey.from_row(row)
        rows = published_keys(session, self.purpose)
        self._jwks = [dict(r.public_jwk) for r in rows]
        self._public = {
            jwk["kid"]: RSAAlgorithm.from_jwk(jwk) for jwk in self._jwks if "kid" in jwk
        }
        self._loaded_at = time.monotonic()

    def _fresh(self, session: Session | None) -> None:
        if time.monotonic() - self._loaded_at > CACHE_SECONDS or self._signing is None:
            with self._lock:
                if time.monotonic() - self._loaded_at > CACHE_SECONDS or self._signing is None:
                    self._load(session)

    def signing_key(self, session: Session | None = None) -> SigningKey:
        """The key to sign with; pass the caller's session to read it inside their transaction."""
        self._fresh(session)
        assert self._signing is not None
        return self._signing

    def jwks(self, session: Session | None = None) -> dict[str, Any]:
        self._fresh(session)
        return {"keys": list(self._jwks)}

    def public_key(self, kid: str, session: Session | None = None) -> Any | None:
        """The public key published under `kid`, re-read once if this instance does not know it."""
        self._fresh(session)
        key = self._public.get(kid)
        if key is None:
            with self._lock:
                self._load(session)
            key = self._public.get(kid)
        return key

    def forget(self) -> None:
        """Re-read on next use (after a rotation in this process)."""
        with self._lock:
            self._loaded_at = -CACHE_SECONDS
