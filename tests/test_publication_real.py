"""What a real Nextcloud 34 showed (issue 18), against the real WsgiDAV server: dated copies
reused, the right edited file named, a missing root folder never created, time budgets."""

from __future__ import annotations

from datetime import timedelta

from integration.dossier.build import generate_dossier
from integration.dossier.publication import WRITTEN
from tests.test_publication import (  # noqa: F401 - fixtures
    EDITED_COPY,
    FOLDER,
    USUAL,
    WHEN,
    Story,
    dav_fixture,
    docx_files,
    edit_in_word,
    on_server,
    story_fixture,
)
from tests.webdav_server import WebDavServer

AT_10H30 = f"{FOLDER}/Dossier de preuves - Martin Alice (version du 12-03-2027 10h30).docx"


def test_an_unedited_dated_copy_is_reused_minute_after_minute(
    story: Story, dav: WebDavServer
) -> None:
    first = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    on_server(dav, USUAL).write_bytes(edit_in_word(first.data, "Changé une fois."))
    second = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id, now=WHEN)
    assert second.outcome is not None and second.outcome.path == EDITED_COPY
    on_server(dav, EDITED_COPY).write_bytes(edit_in_word(second.data, "Changé deux fois."))

    third = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id, now=WHEN)
    assert third.outcome is not None and third.outcome.path == AT_10H30
    # The message names the file that was edited last: the dated copy, not the usual one.
    assert "a changé « Dossier de preuves - Martin Alice (version du 12-03-2027).docx »" in (
        third.outcome.message
    )

    # A build every minute for 25 minutes: the copy at 10h30 (ours, unedited) is updated.
    for minute in range(1, 26):
        made = generate_dossier(
            story.runtime,
            story.actor("alice"),
            story.parcours_id,
            now=WHEN + timedelta(minutes=minute),
        )
        assert made.outcome is not None and made.outcome.state == WRITTEN
        assert made.outcome.path == AT_10H30
    assert on_server(dav, AT_10H30).read_bytes() == made.data
    assert len(docx_files(dav)) == 3

    # Someone edits the 10h30 copy too: the next one gets a new name, and that edit is named.
    on_server(dav, AT_10H30).write_bytes(edit_in_word(made.data, "Changé trois fois."))
    later = generate_dossier(
        story.runtime, story.actor("alice"), story.parcours_id, now=WHEN + timedelta(minutes=40)
    )
    assert later.outcome is not None and later.outcome.path.endswith(
        "(version du 12-03-2027 11h10).docx"
    )
    assert "(version du 12-03-2027 10h30).docx » dans" in later.outcome.message
    assert len(docx_files(dav)) == 4


NEXT_DAY_COPY = f"{FOLDER}/Dossier de preuves - Martin Alice (version du 13-03-2027).docx"


def test_a_reused_dated_copy_takes_todays_date_with_a_webdav_move(
    story: Story, dav: WebDavServer
) -> None:
    first = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    on_server(dav, USUAL).write_bytes(edit_in_word(first.data, "Changé une fois."))
    second = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id, now=WHEN)
    assert second.outcome is not None and second.outcome.path == EDITED_COPY

    # The next day the copy of the 12th (ours, unedited) is reused: its name says the 13th.
    next_day = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id,
                                now=WHEN + timedelta(days=1))
    assert next_day.outcome is not None and next_day.outcome.state == WRITTEN
    assert next_day.outcome.path == NEXT_DAY_COPY
    assert not on_server(dav, EDITED_COPY).exists()
    assert on_server(dav, NEXT_DAY_COPY).read_bytes() == next_day.data
    assert len(docx_files(dav)) == 2
    assert "Le nouveau dossier s’appelle « Dossier de preuves - Martin Alice (version du " \
           "13-03-2027).docx »" in next_day.outcome.message

    # Later the same day: written in place, no new name.
    again = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id,
                             now=WHEN + timedelta(days=1, hours=2))
    assert again.outcome is not None and again.outcome.path == NEXT_DAY_COPY
    assert len(docx_files(dav)) == 2

    # Two days on, someone has put a file of their own under that day's name: never
    # overwritten (Overwrite: F); the copy takes the name with the time.
    theirs = f"{FOLDER}/Dossier de preuves - Martin Alice (version du 14-03-2027).docx"
    on_server(dav, theirs).write_bytes(b"their own file")
    later = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id,
                             now=WHEN + timedelta(days=2))
    assert later.outcome is not None
    assert later.outcome.path.endswith("(version du 14-03-2027 10h30).docx")
    assert on_server(dav, theirs).read_bytes() == b"their own file"
    assert not on_server(dav, NEXT_DAY_COPY).exists()
    assert len(docx_files(dav)) == 3
