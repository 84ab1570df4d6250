"""A platform's settings are typed, and dates follow the structure's calendar everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from integration.models import Platform
from integration.moodle.plan import completion_caption
from integration.platform_settings import PlatformSettings, SettingError


def test_unknown_or_wrong_values_fall_back_to_the_defaults() -> None:
    platform = Platform(settings={"timezone": "", "nextcloud_user": "guess", "other": 3,
                                  "structure": "La Fabrique"})
    settings = PlatformSettings.of(platform)
    assert settings.structure == "La Fabrique"
    assert settings.timezone == "Europe/Paris"
    assert settings.nextcloud_user == ""
    assert PlatformSettings.of(None) == PlatformSettings()


def test_changes_are_checked_and_only_differences_are_stored() -> None:
    settings = PlatformSettings().changed(timezone="America/Cayenne", nextcloud_user="email",
                                          structure=None)
    assert settings.to_json() == {"timezone": "America/Cayenne", "nextcloud_user": "email"}
    assert settings.changed(nextcloud_user="none").to_json() == {"timezone": "America/Cayenne"}
    with pytest.raises(SettingError):
        settings.changed(timezone="Mars/Olympus")
    with pytest.raises(SettingError):
        settings.changed(nextcloud_user="guess")


def test_a_moment_is_written_on_the_structures_calendar() -> None:
    late = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)  # still 28 February in Cayenne
    assert PlatformSettings().day(late) == "1er mars 2026"
    cayenne = PlatformSettings(timezone="America/Cayenne")
    assert cayenne.day(late) == "28 février 2026"
    assert cayenne.day(date(2026, 3, 1)) == "1er mars 2026"
    assert completion_caption(late, cayenne.zone) == "Module terminé le 28 février 2026"
    assert completion_caption(late) == "Module terminé le 1er mars 2026"


def test_pages_write_dates_on_the_calendar_of_the_viewers_structure(demo_app) -> None:
    """The pages' `date_fr` reads the platform of the launch (its time zone), not Paris."""
    from sqlalchemy import select

    from integration.models import Review
    from tests.test_pages_accompagnateur import candidat_with_a_tagged_photo, review_path
    from tests.test_pages_support import db_of, launched, post, text_of

    parcours_id, code = candidat_with_a_tagged_photo(demo_app)
    nadia = launched(demo_app, "accompagnatrice")
    path = review_path(parcours_id, code)
    done = post(nadia, path, {"verdict": "oui", "comment": "Vu à la caisse."}, token_from=path)
    assert done.status_code == 303
    with db_of(demo_app) as db:
        db.scalars(select(Review)).one().created_at = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
    assert "le 1er mars 2026" in text_of(nadia.get(path))  # Paris, the default

    with db_of(demo_app) as db:
        platform = db.scalars(select(Platform)).one()
        platform.settings = PlatformSettings.of(platform).changed(
            timezone="America/Cayenne").to_json()
    assert "le 28 février 2026" in text_of(launched(demo_app, "accompagnatrice").get(path))
