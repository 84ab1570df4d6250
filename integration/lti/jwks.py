"""Platforms' public keys, fetched from their JWKS URL and kept per process.

A key is looked up by `kid`. An unknown `kid` makes one new fetch (the platform may have
rotated its key); a `kid` still unknown after that is remembered for a minute, and a URL is
fetched at most a few times a minute, so a stream of forged kids cannot make us hammer
the platform.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import requests
from jwt.algorithms import RSAAlgorithm

from .errors import LaunchError
from .http import TIMEOUT

log = logging.getLogger(__name__)

MAX_AGE = 3600.0  # keys are re-read hourly, so a revoked platform key stops working
MISSING_KID_MEMORY = 60.0
MAX_FETCHES_PER_MINUTE = 6
_PUBLIC = frozenset({"kty", "n", "e", "kid", "alg", "use"})  # never a private part


@dataclass
class _Entry:
    keys: dict[str, Any]
    fetched_at: float
    missing: dict[str, float] = field(default_factory=dict)
    fetches: deque[float] = field(default_factory=deque)


class PlatformKeys:
    """JWKS cache keyed by URL. The fetch goes through the given requests session."""

    def __init__(self, http: requests.Session) -> None:
        self._http = http
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def cached(self, jwks_url: str, kid: str) -> Any | None:
        """The key for `kid` from memory, without any fetch: None when a fetch is needed
        (`key` does it), LaunchError when the kid was missing from a fetch a moment ago."""
        entry = self._entries.get(jwks_url)
        if entry is None:
            return None
        now = time.monotonic()
        if now - entry.fetched_at >= MAX_AGE:
            return None
        key = entry.keys.get(kid)
        if key is None and now - entry.missing.get(kid, -MISSING_KID_MEMORY) < MISSING_KID_MEMORY:
            raise LaunchError(f"kid {kid!r} is not in the platform JWKS {jwks_url}")
        return key

    def key(self, jwks_url: str, kid: str) -> Any:
        """The platform's public key for `kid`, or LaunchError."""
        now = time.monotonic()
        entry = self._entries.get(jwks_url)
        if entry is not None and now - entry.fetched_at < MAX_AGE:
            key = entry.keys.get(kid)
            if key is not None:
                return key
            if now - entry.missing.get(kid, -MISSING_KID_MEMORY) < MISSING_KID_MEMORY:
                raise LaunchError(f"kid {kid!r} is not in the platform JWKS {jwks_url}")
        with self._lock:
            entry = self._refresh(jwks_url, entry, now)
            key = entry.keys.get(kid)
            if key is None:
                entry.missing[kid] = now
                raise LaunchError(f"kid {kid!r} is not in the platform JWKS {jwks_url}")
            return key

    def _refresh(self, url: str, entry: _Entry | None, now: float) -> _Entry:
        current = self._entries.get(url)
        if current is not None and current is not entry and now - current.fetched_at < MAX_AGE:
            return current  # another thread fetched it while we waited
        fetches = entry.fetches if entry else deque()
        while fetches and now - fetches[0] > 60:
            fetches.popleft()
        if entry is not None and len(fetches) >= MAX_FETCHES_PER_MINUTE:
            raise LaunchError(f"platform JWKS {url} fetched too often; unknown kid refused")
        fetches.append(now)
        keys = self._fetch(url)
        fresh = _Entry(keys=keys, fetched_at=now, fetches=fetches)
        self._entries[url] = fresh
        return fresh

    def _fetch(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise LaunchError(
                f"cannot read the platform JWKS {url}: {type(exc).__name__}: {exc}", status=502,
                configuration=True,
            ) from None
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or "kid" not in jwk:
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
                continue
            try:
                key = RSAAlgorithm.from_jwk({k: v for k, v in jwk.items() if k in _PUBLIC})
                keys[str(jwk["kid"])] = key
            except Exception:  # a malformed key is skipped, the others still count
                log.warning("platform JWKS %s: key %r unreadable", url, jwk.get("kid"))
        log.info("platform JWKS %s fetched: %d key(s)", url, len(keys))
        return keys
