"""A platform's own settings (the structure behind it), typed, and its local time.

`Platform.settings` is stored as JSON; every reader goes through `PlatformSettings.of`,
which knows each key, its type and its default, so a typo or an old value never leaks
into a page or a dossier. Dates shown to people are in the structure's time zone and in
French words (`docx_templates.date_fr`, the one list of month names).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from docx_templates.context import date_fr

from .models import Platform

DEFAULT_TIMEZONE = "Europe/Paris"
# How an accompagnateur's Nextcloud user name is found, to share candidats' folders.
NEXTCLOUD_USER_RULES = ("username", "email", "email_localpart", "sub")


class SettingError(ValueError):
    """A value that cannot be a platform setting, said so the operator can fix it."""


@lru_cache(maxsize=64)
def zone_named(name: str) -> tzinfo:
    """The time zone `name`; Paris when unknown; UTC on a system without tzdata."""
    for candidate in (name, DEFAULT_TIMEZONE):
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC  # pragma: no cover - a system without tzdata


@dataclass(frozen=True)
class PlatformSettings:
    structure: str = ""  # the structure's name, as the dossier prints it
    timezone: str = DEFAULT_TIMEZONE
    dossier_folder: str = ""  # the top folder of dossiers in the store ("" = RAE)
    nextcloud_user: str = ""  # one of NEXTCLOUD_USER_RULES, or "" (never share)
    # Whether accompagnateurs may choose the course's référentiels (the coordinateur may).
    accompagnateurs_choose_referentiels: bool = False

    @classmethod
    def of(cls, platform: Platform | None) -> PlatformSettings:
        raw = platform.settings if platform is not None else None
        if not isinstance(raw, dict):
            return cls()
        known: dict[str, Any] = {}
        for f in fields(cls):
            value = raw.get(f.name)
            if value in (None, ""):
                continue
            if f.type == "bool" or isinstance(f.default, bool):
                known[f.name] = value is True or str(value).lower() in ("1", "true", "yes")
            else:
                known[f.name] = str(value)
        if known.get("nextcloud_user", "") not in ("", *NEXTCLOUD_USER_RULES):
            known.pop("nextcloud_user")
        return cls(**known)

    def changed(self, **changes: Any) -> PlatformSettings:
        """A copy with `changes` (None: unchanged; "" or "none": back to the default)."""
        values: dict[str, Any] = {}
        defaults = PlatformSettings()
        for name, value in changes.items():
            if value is None:
                continue
            if value in ("", "none"):
                values[name] = getattr(defaults, name)
                continue
            if name == "timezone":
                try:
                    ZoneInfo(str(value))
                except (ZoneInfoNotFoundError, ValueError):
                    raise SettingError(f"unknown time zone {value!r} (e.g. Europe/Paris)") from None
            if name == "nextcloud_user" and value not in NEXTCLOUD_USER_RULES:
                raise SettingError(
                    f"nextcloud_user must be one of {', '.join(NEXTCLOUD_USER_RULES)}")
            values[name] = value
        return replace(self, **values)

    def to_json(self) -> dict[str, Any]:
        """What is stored: only the values that differ from the defaults."""
        defaults = asdict(PlatformSettings())
        return {k: v for k, v in asdict(self).items() if v != defaults[k]}

    @property
    def zone(self) -> tzinfo:
        return zone_named(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """`moment` in the structure's time zone."""
        return moment.astimezone(self.zone)

    def day(self, moment: datetime | date | None) -> str:
        """« 3 mars 2026 »: a moment on the structure's calendar, a date as it is."""
        if moment is None:
            return ""
        if isinstance(moment, datetime):
            moment = self.local(moment).date() if moment.tzinfo else moment.date()
        return date_fr(moment)


def local_time(platform: Platform | None, moment: datetime) -> datetime:
    """`moment` in the time zone of the structure behind `platform`."""
    return PlatformSettings.of(platform).local(moment)
