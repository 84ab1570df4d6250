"""Jinja's compiled templates shared by every app of the test session."""

from __future__ import annotations

import threading

from jinja2.bccache import Bucket, BytecodeCache


class SharedBytecodeCache(BytecodeCache):
    """In memory, for the whole session. Jinja checks each entry against the template's
    source checksum, so a template edited while tests run is compiled again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            data = self._code.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: Bucket) -> None:
        data = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = data

    def clear(self) -> None:
        with self._lock:
            self._code.clear()
