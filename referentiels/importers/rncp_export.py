"""Open the national RNCP export as France Compétences publishes it: a zip holding one XML
file (or the XML itself), streamed, with the bytes read counted for a progress line.

Nothing is unpacked to disk and nothing is held in memory: the zip member is decompressed
as the XML parser asks for it (`zipfile.ZipFile.open`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from referentiels.errors import ReferentielError

Progress = Callable[[int, int], None]  # (bytes read, bytes in all; 0 when unknown)


class CountingReader:
    """A binary stream that tells `progress` how many bytes were read so far."""

    def __init__(self, stream: IO[bytes], total: int, progress: Progress | None,
                 name: str) -> None:
        self._stream = stream
        self.total = total
        self.read_bytes = 0
        self._progress = progress
        self.name = name

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.read_bytes += len(data)
        if self._progress is not None:
            self._progress(self.read_bytes, self.total)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()


@dataclass(frozen=True)
class ExportFile:
    """What was opened: the file's name, and the XML member's name inside a zip."""

    name: str
    member: str | None
    size: int  # the XML's size (uncompressed), bytes


def _xml_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    members = [m for m in archive.infolist()
               if not m.is_dir() and m.filename.lower().endswith(".xml")]
    if not members:
        raise ReferentielError("l'archive ne contient aucun fichier .xml", file=name)
    # The export holds one XML; if there are several, the biggest is the export.
    return max(members, key=lambda m: m.file_size)


@contextmanager
def open_export(
    path: str | os.PathLike[str], progress: Progress | None = None
) -> Iterator[tuple[CountingReader, ExportFile]]:
    """The export's XML as a stream: `path` is a ``.zip`` (as published) or a ``.xml``."""
    name = Path(path).name
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = _xml_member(archive, name)
                with archive.open(member) as raw:
                    stream = CountingReader(raw, member.file_size, progress, member.filename)
                    yield stream, ExportFile(name, member.filename, member.file_size)
            return
        size = os.path.getsize(path)
        with open(path, "rb") as raw:
            yield CountingReader(raw, size, progress, name), ExportFile(name, None, size)
    except (OSError, zipfile.BadZipFile) as error:
        raise ReferentielError(f"lecture impossible : {error}", file=name) from None
