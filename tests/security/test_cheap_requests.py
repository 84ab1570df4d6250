"""Issue 12, medium: cheap requests that cost a lot.

Before the fix, a 458 KB PNG of 7680×7680 16-bit pixels took 25 s and 1 GB to accept, a
24 MB JSON body took 33 s to refuse, and nested JSON, a 5,000-digit If-Match and a nested
token header were 500s. Each hostile input is made here; each test looks at the outcome
and at what was (not) done, never at a timer.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from integration.lti.errors import LaunchError
from integration.lti.validation import split_token
from integration.parcours import FileTooLarge, Invalid
from integration.parcours import text as text_module
from integration.parcours.files import FULL_SIDE, prepare
from integration.parcours.text import clean_text
from tests.support import parcours as support
from tests.support.parcours import Cast, login

api_app = support.api_app
cast = support.cast


# --- helpers ---------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int, bit_depth: int, color_type: int) -> bytes:
    """A PNG that declares `width`×`height` pixels of `bit_depth` bits, with only the first
    rows of pixel data: small to send, and any decoder would have to reserve the whole."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\0" + b"\0" * (width * channels * bit_depth // 8)
    pixels = zlib.compressobj(9).compress(row * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


class Api:
    """A logged-in candidat that sends the CSRF token with every write."""

    def __init__(self, app: Any, actor: Any) -> None:
        self.client = app.test_client()
        self.token = login(self.client, actor)

    def send(self, method: str, url: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> Any:
        return getattr(self.client, method)(
            "/api/v1" + url, headers={"X-CSRF-Token": self.token, **(headers or {})}, **kwargs
        )


@pytest.fixture
def alice(api_app: Any, cast: Cast) -> Api:
    return Api(api_app, cast.actor("alice"))


@pytest.fixture
def task_id(alice: Api, cast: Cast) -> int:
    pid = cast.parcours["alice"].id
    created = alice.send("post", f"/parcours/{pid}/tasks", json={"title": "Le ménage"})
    assert created.status_code == 201, created.get_data(as_text=True)
    return int(created.get_json()["id"])


def _problem(response: Any, status: int | None = None) -> dict[str, Any]:
    text = response.get_data(as_text=True)[:300]
    if status is None:
        assert 400 <= response.status_code < 500, text
    else:
        assert response.status_code == status, text
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    return body


# --- images ----------------------------------------------------------------------------------


def test_a_16_bit_png_of_7680_by_7680_pixels_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile = png_header_only(7680, 7680, bit_depth=16, color_type=6)
    assert len(hostile) < 100_000  # 59 Mpx, under the photo limit, would take ~470 MB to decode
    loads: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> Any:
        loads.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    with pytest.raises(FileTooLarge):
        prepare(hostile)
    assert loads == []  # refused on what the header declares, not a pixel decoded


def test_a_large_jpeg_is_decoded_in_draft_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.BytesIO()
    Image.new("L", (4 * FULL_SIDE, 64), 128).save(out, "JPEG", quality=50)
    decoded_at: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def recording_load(self: JpegImagePlugin.JpegImageFile) -> Any:
        decoded_at.append(self.size)
        return original(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", recording_load)
    prepared = prepare(out.getvalue())
    # Decoded at a quarter of its size (the JPEG decoder's own scaling), never whole.
    assert decoded_at[0] == (FULL_SIDE, 16)
    assert (prepared.width, prepared.height) == (FULL_SIDE, 16)


# --- JSON bodies -----------------------------------------------------------------------------


def test_a_24_mb_json_body_is_refused_with_413_without_being_parsed(
    alice: Api, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = cast.parcours["alice"].id
    body = b'{"title": "' + b"a" * (24 * 1024 * 1024) + b'"}'
    parsed: list[int] = []
    real_loads = json.loads

    def counting_loads(data: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(data))
        return real_loads(data, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    response = alice.send("post", f"/parcours/{pid}/tasks", data=body,
                          content_type="application/json")
    _problem(response, 413)
    assert not [size for size in parsed if size > 1024 * 1024]


def test_nested_json_gets_400(alice: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    for depth in (100_000, 200):  # deeper than the parser's recursion; deeper than we accept
        body = '{"title": ' + "[" * depth + "]" * depth + "}"
        response = alice.send("post", f"/parcours/{pid}/tasks", data=body,
                              content_type="application/json")
        _problem(response, 400)


def test_a_5000_digit_if_match_gets_4xx(alice: Api, task_id: int) -> None:
    for value in ('"' + "9" * 5000 + '"', "9" * 5000, '"²"', 'W/"' + "1" * 40 + '"'):
        response = alice.send("patch", f"/tasks/{task_id}", json={"title": "Autre"},
                              headers={"If-Match": value})
        _problem(response)
    still = alice.send("get", f"/tasks/{task_id}").get_json()
    assert still["title"] == "Le ménage"


# --- the id_token of a launch ----------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_a_nested_token_header_gets_4xx(client: Any) -> None:
    nested = _b64(b"[" * 50_000 + b"]" * 50_000)
    deep_object = _b64(('{"alg": "RS256", "kid": ' + '{"a":' * 100 + "1" + "}" * 101).encode())
    payload = _b64(b'{"iss": "https://moodle.example.org"}')
    for header in (nested, deep_object, _b64(b'{"kid": "' + b"k" * 300_000 + b'"}')):
        token = f"{header}.{payload}.c2ln"
        with pytest.raises(LaunchError) as refused:
            split_token(token)
        assert 400 <= refused.value.status < 500
    response = client.post("/lti/launch", data={"id_token": f"{nested}.{payload}.c2ln",
                                                "state": "any"})
    assert 400 <= response.status_code < 500


# --- texts -----------------------------------------------------------------------------------


def test_a_long_text_is_refused_before_cleaning(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original = text_module._keep

    def counting_keep(char: str, multiline: bool) -> str:
        seen.append(char)
        return original(char, multiline)

    monkeypatch.setattr(text_module, "_keep", counting_keep)
    with pytest.raises(Invalid) as refused:
        clean_text("a" * 5_000_000, "title")
    assert refused.value.field == "title"
    assert seen == []  # not one character walked
    # A text with pasted control characters a little over the limit is still cleaned.
    assert clean_text("\u200b" * 100 + "Le ménage", "title") == "Le ménage"


def test_a_json_body_sent_without_its_length_is_read_only_up_to_the_cap(
    alice: Api, cast: Cast
) -> None:
    pid = cast.parcours["alice"].id
    body = b'{"title": "Le m\\u00e9nage", "how": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = alice.send(
        "post", f"/parcours/{pid}/tasks", input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )
    _problem(response, 413)
