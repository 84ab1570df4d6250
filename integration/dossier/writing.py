"""Writing one dossier file without ever losing an edit.

Repères remembers the ETag, size and checksum of every file it wrote (the `Dossier`
rows). Before writing again it looks at the file:

- still what Repères wrote: replaced, with ``If-Match`` (never without);
- already the new bytes (our previous write arrived but its answer was lost): kept;
- anything else (someone edited it in Word or in Nextcloud): left untouched, and the new
  dossier goes beside it: first into a dated copy Repères wrote before and nobody edited
  since (the newest first), else as « … (version du 12-03-2027).docx » (then with the
  time, then a number), and the page names the edited file.

A conditional PUT closes the gap between the look and the write: a 412 means someone
wrote in between, which is handled as an edit. Nextcloud may answer the same ETag after
our own overwrite (recordings 17 and 20), and WsgiDAV keeps it for two writes of the same
size in the same second, so an ETag alone never decides: sizes and checksums do.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from connectors.storage import (
    PreconditionFailed,
    StorageError,
    Store,
    StoredFile,
    join_path,
)

from .folders import DOCX_TYPE, alternate_names, dossier_file_name

log = logging.getLogger(__name__)

# --- writing one dossier, without ever losing an edit ---------------------------------------


#: Waits before each new try: 1, 5, 15, then every 60 minutes (never given up).
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
           timedelta(minutes=60))


def backoff(attempts: int) -> timedelta:
    """The wait before the next try, after `attempts` failed ones (1, 5, 15, 60 min…)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


@dataclass(frozen=True)
class Remembered:
    """What Repères wrote at a path last time."""

    etag: str | None
    size: int
    checksum: str


class _Kind(Enum):
    ALREADY = "already"  # the file holds the new bytes
    OURS = "ours"  # the file is what we wrote before (or our interrupted upload)
    FOREIGN = "foreign"  # someone else's content: never touched


@dataclass(frozen=True)
class Written:
    path: str
    etag: str | None
    #: The edited file the new dossier went beside: the newest one Repères wrote, or "".
    edited: str = ""


def _read_digest(store: Store, path: str, data: bytes) -> tuple[str, bool, int]:
    """(sha256, is a prefix of `data`, size read) of a stored file, read in chunks."""
    digest = hashlib.sha256()
    view = memoryview(data)
    position = 0
    prefix = True
    for chunk in store.iter_chunks(path):
        digest.update(chunk)
        if prefix:
            prefix = view[position : position + len(chunk)] == chunk
        position += len(chunk)
    return digest.hexdigest(), prefix and position <= len(data), position


def _classify(
    store: Store,
    current: StoredFile,
    remembered: Remembered | None,
    data: bytes,
    checksum: str,
    *,
    after_failure: bool,
) -> _Kind:
    size = current.size
    read: tuple[str, bool, int] | None = None

    def content() -> tuple[str, bool, int]:
        nonlocal read
        if read is None:
            read = _read_digest(store, current.path, data)
        return read

    if size == len(data) and content()[0] == checksum:
        return _Kind.ALREADY
    if remembered is not None and size == remembered.size:
        if current.etag is not None and current.etag == remembered.etag:
            return _Kind.OURS
        if content()[0] == remembered.checksum:
            return _Kind.OURS
    if after_failure and size < len(data) and content()[1]:
        # The start of our own bytes: an upload of ours that stopped half way.
        return _Kind.OURS
    return _Kind.FOREIGN


def _try_path(
    store: Store,
    path: str,
    data: bytes,
    checksum: str,
    remembered: Remembered | None,
    *,
    after_failure: bool,
) -> Written | None:
    """Write at `path` if that loses nothing; None when the file there is someone else's."""
    for _ in range(2):
        current = store.stat(path)
        if current is None:
            try:
                stored = store.put(path, data, if_none_match=True, content_type=DOCX_TYPE)
            except PreconditionFailed:
                continue  # created in the meantime: look at what it is
            return Written(path, stored.etag)
        if current.is_folder:
            return None
        kind = _classify(store, current, remembered, data, checksum,
                         after_failure=after_failure)
        if kind is _Kind.ALREADY:
            return Written(path, current.etag)
        if kind is _Kind.OURS and current.etag:
            try:
                stored = store.put(path, data, if_match=current.etag, content_type=DOCX_TYPE)
            except PreconditionFailed:
                log.info("a dossier file changed between the check and the write: kept as edited")
                return None
            return Written(path, stored.etag)
        return None
    return None


def write_dossier_file(
    store: Store,
    folder: str,
    name: str,
    data: bytes,
    remembered: dict[str, Remembered],
    when: datetime,
    *,
    after_failure: bool = False,
) -> Written:
    """Write the dossier at its usual name, or beside an edited one (see module docstring).

    `remembered` lists what Repères wrote, oldest first (dict order): its earlier dated
    copies are tried, newest first, before a new name is made.
    """
    checksum = hashlib.sha256(data).hexdigest()
    usual = join_path(folder, dossier_file_name(name))
    new_names = [join_path(folder, n) for n in alternate_names(name, when)]
    own_copies = [path for path in reversed(remembered)
                  if path != usual and _is_dated_copy(path, folder, name)]
    edited: list[str] = []
    for path in dict.fromkeys([usual, *own_copies, *new_names]):
        own = path in own_copies
        if own and store.stat(path) is None:
            continue  # an earlier copy of ours, gone (renamed, deleted): never made again
        written = _try_path(store, path, data, checksum, remembered.get(path),
                            after_failure=after_failure)
        if written is None:
            edited.append(path)
            continue
        if path != usual:
            log.info("dossier written beside an edited file (a dated copy)")
            if own:
                written = _dated_today(store, written, new_names)
            return Written(written.path, written.etag, _newest_edited(edited, remembered))
        return written
    raise StorageError(f"{store.describe()}: no free name for the dossier in {folder!r}")


def _dated_today(store: Store, written: Written, new_names: list[str]) -> Written:
    """An earlier dated copy of ours, just rewritten, renamed to today's date: its name
    says when its content was made. A WebDAV MOVE that never overwrites (`Overwrite: F`):
    a name taken is skipped; when the rename fails, the copy keeps its older name."""
    today = new_names[0].removesuffix(").docx")  # « … (version du 13-03-2027 »
    if written.path.startswith(today):
        return written
    for target in new_names:
        if store.stat(target) is not None:
            continue
        try:
            store.move(written.path, target, overwrite=False)
        except PreconditionFailed:
            continue  # made in the meantime by someone else: the next name
        except StorageError as error:
            log.warning("dated copy not renamed to today's date: %s", type(error).__name__)
            return written
        moved = store.stat(target)
        return Written(target, moved.etag if moved is not None else written.etag)
    return written


def _is_dated_copy(path: str, folder: str, name: str) -> bool:
    """Whether `path` is one of the « … (version du …) » names of this dossier."""
    stem = join_path(folder, dossier_file_name(name)).removesuffix(".docx")
    return path.startswith(f"{stem} (version du ") and path.endswith(".docx")


def _newest_edited(edited: list[str], remembered: dict[str, Remembered]) -> str:
    """The edited file people most likely opened: the newest one Repères had written."""
    ours = [path for path in reversed(remembered) if path in edited]
    return ours[0] if ours else (edited[0] if edited else "")
