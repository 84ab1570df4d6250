"""Typed settings read from REPERES_* environment variables."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.outbound import OutboundPolicy

DEFAULT_VAR_DIR = Path("var")


class SettingsError(Exception):
    """A setting is missing or malformed; the message tells the operator which."""


_INTERVAL_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL_SECONDS = 60


def parse_interval(text: str | int) -> int:
    """Seconds in ``"15m"``, ``"1h30m"``, ``"90s"``, ``"2h"``, ``"1d"`` or ``"900"``.

    ValueError for anything else, and below one minute (a sync that often would only
    keep Moodle busy).
    """
    raw = str(text).strip().lower().replace(" ", "")
    if raw.isdigit():
        seconds = int(raw)
    else:
        parts = _INTERVAL_PART.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise ValueError(
                f"not an interval: {text!r} (write 15m, 1h, 1h30m, 90s or a number of seconds)"
            )
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds < MIN_INTERVAL_SECONDS:
        raise ValueError(f"the interval must be at least {MIN_INTERVAL_SECONDS} seconds")
    return seconds


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name}: expected true/false, got {value!r}")


def _read_secret_file(path: str, name: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start. Build with `Settings.from_env()`."""

    var_dir: Path = DEFAULT_VAR_DIR
    database_url: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    base_url: str = "http://127.0.0.1:5000"
    storage_url: str = ""
    storage_username: str | None = None
    storage_password: str | None = field(default=None, repr=False)
    dossier_template: Path | None = None
    demo: bool = False
    trust_proxy: bool = False
    log_json: bool = False
    testing: bool = False
    retention_months: int = 0  # 0: keep closed parcours until an operator erases them
    sync_every: int = 0  # seconds between background syncs in each process; 0: none
    # REPERES_ENCRYPTION_KEY_FILE: the key(s) sealing secrets in the database (tool keys,
    # Moodle tokens); None: one made in var/encryption_key (integration/secrets_at_rest.py).
    encryption_key_file: Path | None = None
    encryption_key: str = field(default="", repr=False)  # REPERES_ENCRYPTION_KEY (the CLI)
    # REPERES_OUTBOUND_ALLOW: hosts, host:port and networks (10.0.0.0/8) the service may
    # fetch beyond public addresses on ports 80/443 (a Moodle on the same network).
    outbound_allow: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        var_dir = Path(self.var_dir)
        object.__setattr__(self, "var_dir", var_dir)
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{(var_dir / 'reperes.sqlite3').resolve()}"
            )
        if not self.storage_url:
            object.__setattr__(self, "storage_url", (var_dir / "files").resolve().as_uri())
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from REPERES_* variables; keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if "REPERES_VAR_DIR" in env:
            values["var_dir"] = Path(env["REPERES_VAR_DIR"])
        for key, attr in (
            ("REPERES_DATABASE_URL", "database_url"),
            ("REPERES_SECRET_KEY", "secret_key"),
            ("REPERES_BASE_URL", "base_url"),
            ("REPERES_STORAGE_URL", "storage_url"),
            ("REPERES_STORAGE_USERNAME", "storage_username"),
            ("REPERES_STORAGE_PASSWORD", "storage_password"),
        ):
            if env.get(key):
                values[attr] = env[key]
        if env.get("REPERES_DATABASE_URL_FILE") and "database_url" not in values:
            values["database_url"] = _read_secret_file(
                env["REPERES_DATABASE_URL_FILE"], "REPERES_DATABASE_URL_FILE"
            )
        if env.get("REPERES_SECRET_KEY_FILE") and "secret_key" not in values:
            values["secret_key"] = _read_secret_file(
                env["REPERES_SECRET_KEY_FILE"], "REPERES_SECRET_KEY_FILE"
            )
        if env.get("REPERES_STORAGE_PASSWORD_FILE") and "storage_password" not in values:
            values["storage_password"] = _read_secret_file(
                env["REPERES_STORAGE_PASSWORD_FILE"], "REPERES_STORAGE_PASSWORD_FILE"
            )
        if env.get("REPERES_ENCRYPTION_KEY_FILE"):
            values["encryption_key_file"] = Path(env["REPERES_ENCRYPTION_KEY_FILE"])
        elif env.get("REPERES_ENCRYPTION_KEY"):
            values["encryption_key"] = env["REPERES_ENCRYPTION_KEY"]
        if env.get("REPERES_DOSSIER_TEMPLATE"):
            values["dossier_template"] = Path(env["REPERES_DOSSIER_TEMPLATE"])
        if env.get("REPERES_RETENTION_MONTHS"):
            try:
                values["retention_months"] = int(env["REPERES_RETENTION_MONTHS"])
            except ValueError:
                raise SettingsError(
                    "REPERES_RETENTION_MONTHS: expected a number of months"
                ) from None
        if env.get("REPERES_OUTBOUND_ALLOW"):
            from connectors.outbound import parse_allow

            try:
                parse_allow(env["REPERES_OUTBOUND_ALLOW"])
            except ValueError as exc:
                raise SettingsError(f"REPERES_OUTBOUND_ALLOW: {exc}") from None
            values["outbound_allow"] = env["REPERES_OUTBOUND_ALLOW"]
        if env.get("REPERES_SYNC_EVERY"):
            try:
                values["sync_every"] = parse_interval(env["REPERES_SYNC_EVERY"])
            except ValueError as exc:
                raise SettingsError(f"REPERES_SYNC_EVERY: {exc}") from None
        for key, attr in (
            ("REPERES_DEMO", "demo"),
            ("REPERES_TRUST_PROXY", "trust_proxy"),
            ("REPERES_LOG_JSON", "log_json"),
        ):
            if key in env:
                values[attr] = _bool(env[key], key)
        values.update(overrides)
        return cls(**values)

    def outbound_policy(self) -> OutboundPolicy:
        """The outbound policy: the operator's allow-list, plus our own host for the demo."""
        from urllib.parse import urlsplit

        from connectors.outbound import OutboundPolicy

        policy = OutboundPolicy.from_allow(self.outbound_allow)
        if self.demo:
            host = urlsplit(self.base_url).netloc.rsplit("@", 1)[-1]
            policy = policy.allowing(host)
        return policy

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def resolved_secret_key(self) -> str:
        """The configured key, or one kept in var/ so every worker of this machine shares it."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pass
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker wrote it first
            return path.read_text(encoding="utf-8").strip()
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
        return key
