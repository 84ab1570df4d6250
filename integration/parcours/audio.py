"""Voice notes: « Je le dis » (issue 15). The type comes from the bytes, as browsers record:
WebM/Opus (Chromium, Firefox), Ogg/Opus (Firefox), MP4/AAC (Safari), MP3 (an older phone).

A note is short: its size is bounded, and its length too when the container says it
(Ogg's last granule position, WebM's Duration or last cluster's time, MP4's mvhd). The
bytes are kept as they came: an audio file carries no position or camera data, and
re-encoding would need a codec library this service does not ship.
"""

from __future__ import annotations

import struct

MAX_AUDIO_BYTES = 10 * 1024 * 1024  # about 5 minutes of the largest (AAC 256 kb/s)
MAX_AUDIO_SECONDS = 5 * 60  # the page stops at 3 minutes; a little margin for the clock

_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso5", b"iso6", b"dash"}
CONTENT_TYPES = {"webm": "audio/webm", "ogg": "audio/ogg", "mp4": "audio/mp4", "mp3": "audio/mpeg"}
EXTENSIONS = {"webm": "webm", "ogg": "ogg", "mp4": "m4a", "mp3": "mp3"}


def sniff_audio(data: bytes) -> str | None:
    """webm, ogg, mp4, mp3 when the bytes are a sound recording; None otherwise (a video too)."""
    head = data[:4096]
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in data[:64] and (b"A_OPUS" in head or b"A_VORBIS" in head):
            return None if (b"V_VP8" in head or b"V_VP9" in head or b"V_AV1" in head) else "webm"
        return None
    if data.startswith(b"OggS"):
        return "ogg" if (b"OpusHead" in data[:64] or b"\x01vorbis" in data[:64]) else None
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _MP4_AUDIO_BRANDS:
        window = data[:65536] + data[-65536:]
        return "mp4" if b"soun" in window and b"vide" not in window else None
    if data.startswith(b"ID3") or (len(data) > 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0
                                   and data[1] & 0x06 != 0):
        return "mp3"
    return None


def _ogg_seconds(data: bytes) -> float | None:
    last = data.rfind(b"OggS")
    if last < 0 or last + 14 > len(data):
        return None
    granule = struct.unpack_from("<q", data, last + 6)[0]
    rate = 48000 if b"OpusHead" in data[:64] else _vorbis_rate(data)
    return granule / rate if granule > 0 and rate else None


def _vorbis_rate(data: bytes) -> int:
    at = data.find(b"\x01vorbis")
    return struct.unpack_from("<I", data, at + 12)[0] if 0 <= at < len(data) - 16 else 0


def _vint(data: bytes, at: int) -> tuple[int, int]:
    """An EBML variable-size integer at `at`: (value, length)."""
    first = data[at]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or at + length > len(data):
        raise ValueError("bad vint")
    value = first & (0xFF >> length)
    for byte in data[at + 1:at + length]:
        value = (value << 8) | byte
    return value, length


def _webm_seconds(data: bytes) -> float | None:
    try:
        at = data.find(b"\x44\x89", 0, 8192)  # Segment Info / Duration (float, in ms)
        if at >= 0:
            size, n = _vint(data, at + 2)
            raw = data[at + 2 + n:at + 2 + n + size]
            if size in (4, 8) and len(raw) == size:
                value = struct.unpack(">f" if size == 4 else ">d", raw)[0]
                if value > 0:
                    return float(value) / 1000
        cluster = data.rfind(b"\x1f\x43\xb6\x75")  # the last Cluster: its Timecode (ms)
        if cluster >= 0:
            _size, n = _vint(data, cluster + 4)
            at = cluster + 4 + n
            if data[at] == 0xE7:
                size, n = _vint(data, at + 1)
                return int.from_bytes(data[at + 1 + n:at + 1 + n + size], "big") / 1000
    except (ValueError, IndexError, struct.error):
        return None
    return None


def _mp4_seconds(data: bytes) -> float | None:
    at = data.find(b"mvhd")
    if at < 0 or at + 24 > len(data):
        return None
    try:
        if data[at + 4] == 1:
            scale, duration = struct.unpack_from(">IQ", data, at + 4 + 4 + 16)
        else:
            scale, duration = struct.unpack_from(">II", data, at + 4 + 4 + 8)
    except struct.error:
        return None
    return duration / scale if scale and duration else None


def seconds(kind: str, data: bytes) -> float | None:
    """The length of a note when its container says it (None: unknown, size bounds it)."""
    if kind == "ogg":
        return _ogg_seconds(data)
    if kind == "webm":
        return _webm_seconds(data)
    if kind == "mp4":
        return _mp4_seconds(data)
    return None
