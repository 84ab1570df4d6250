"""Small voice notes shaped as browsers record them (issue 15), built byte by byte.

Enough structure for what the service reads (the container's magic, its codec, its
length); the browser test records a real one with Chromium's fake microphone.
"""

from __future__ import annotations

import struct


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    size = len(payload)
    return element_id + bytes([0x01]) + size.to_bytes(7, "big") + payload


def webm_opus_bytes(seconds: float = 4.0, *, duration_element: bool = False,
                    padding: int = 2000) -> bytes:
    """A WebM with one Opus track (as MediaRecorder writes it: no Duration unless asked),
    its last cluster at `seconds`."""
    header = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x82", b"webm"))
    info = _ebml(b"\x2a\xd7\xb1", (1_000_000).to_bytes(3, "big"))
    if duration_element:
        info += _ebml(b"\x44\x89", struct.pack(">d", seconds * 1000))
    tracks = _ebml(b"\x16\x54\xae\x6b", _ebml(b"\xae", _ebml(b"\x86", b"A_OPUS")
                                             + _ebml(b"\x83", b"\x02")))
    first = _ebml(b"\x1f\x43\xb6\x75", _ebml(b"\xe7", b"\x00") + b"\xa3" + b"\x00" * padding)
    last_ms = int(seconds * 1000)
    last = _ebml(b"\x1f\x43\xb6\x75", _ebml(b"\xe7", last_ms.to_bytes(4, "big"))
                 + b"\xa3" + b"\x00" * 200)
    segment = _ebml(b"\x18\x53\x80\x67", _ebml(b"\x15\x49\xa9\x66", info) + tracks + first + last)
    return header + segment


def ogg_opus_bytes(seconds: float = 4.0) -> bytes:
    """An Ogg/Opus stream: OpusHead page, then a last page at `seconds` (48 kHz granules)."""
    def page(granule: int, payload: bytes, flags: int = 0) -> bytes:
        return (b"OggS" + bytes([0, flags]) + struct.pack("<q", granule) + b"\x01\x00\x00\x00"
                + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00" + bytes([1, len(payload)]) + payload)
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    return page(0, head, 2) + page(int(seconds * 48000), b"\x00" * 100, 4)
