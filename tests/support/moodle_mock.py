"""A Moodle mocked with `responses`, answering with answers recorded from a real Moodle 4.3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import responses
from responses.registries import OrderedRegistry

from connectors.moodle import MoodleClient
from tests.fake_moodle import recorded_bytes

BASE_URL = "https://moodle.example.org"
ENDPOINT = f"{BASE_URL}/webservice/rest/server.php"
# Shaped like a real token (32 hex characters) so that a leak would be unmistakable.
TOKEN = "5f2b9c0e7d4a41c6b8e3f90a1d2c7b64"


def mocked_moodle() -> Iterator[responses.RequestsMock]:
    """A mocked Moodle that answers in the order the answers are added."""
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        yield mock


def mocked_client() -> Iterator[MoodleClient]:
    with MoodleClient(BASE_URL, TOKEN, retries=2, backoff=0) as moodle_client:
        yield moodle_client


def answers(moodle: responses.RequestsMock, recording: str, *, status: int = 200) -> None:
    """Moodle answers the next call with the exact bytes of a recorded answer."""
    moodle.post(
        ENDPOINT, body=recorded_bytes(recording), status=status, content_type="application/json"
    )


def answers_json(moodle: responses.RequestsMock, payload: Any) -> None:
    moodle.post(ENDPOINT, json=payload)


def sent(moodle: responses.RequestsMock, index: int = -1) -> dict[str, str]:
    """The form fields of one call Moodle received."""
    body = moodle.calls[index].request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return dict(parse_qsl(text))


def moodle_error_body(errorcode: str, message: str, exception: str = "moodle_exception") -> dict:
    return {"exception": exception, "errorcode": errorcode, "message": message}


@pytest.fixture(name="moodle")
def moodle_fixture() -> Iterator[responses.RequestsMock]:
    """A mocked Moodle that answers in the order the answers are added."""
    yield from mocked_moodle()


@pytest.fixture(name="client")
def client_fixture() -> Iterator[MoodleClient]:
    yield from mocked_client()
