"""Evidence files kept on this machine as well as in the shared store (issue 16).

The shared store is Nextcloud in production: it may be down, full or slow. So that
a dossier never waits for it, and never prints « photo illisible » because of it:

- the reduced copies of a photo (``-medium``, ``-preview``) and voice notes are also
  written to a local folder store beside the service (``<var dir>/kept-files``), under
  the same paths; the dossier and the copies beside it read them from there first;
- a file received while the shared store fails is kept whole in that folder, the
  evidence row is made all the same, and a `PendingWrite` (its ``evidence_id``) asks the
  queue (`integration.dossier.queue`) to write it later, each file once
  (``If-None-Match``), after which the full-size original leaves the local folder.

The local store is tied to the shared one with `keep_beside` (the runtime does it for
its store): services that are given the shared store find its local twin here.
Several machines: give them one var dir (a shared volume), or accept that a file kept
on one machine during an outage is written from that machine only.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from connectors.local_store import LocalFolderStore
from connectors.storage import NotFound as StoreNotFound
from connectors.storage import PreconditionFailed, StorageError, Store

log = logging.getLogger(__name__)

KEPT_FOLDER = "kept-files"
# Kinds whose full file is kept locally for good (the dossier names or plays them).
KEEP_FULL_KINDS = frozenset({"audio"})

_TWINS: weakref.WeakKeyDictionary[Any, Store] = weakref.WeakKeyDictionary()


def local_store(var_dir: Path) -> LocalFolderStore:
    """The folder of files kept on this machine."""
    return LocalFolderStore(Path(var_dir) / KEPT_FOLDER)


def keep_beside(shared: Store, local: Store) -> None:
    """From now on, evidence written to `shared` is also kept in `local`."""
    _TWINS[shared] = local


def kept_for(shared: Store) -> Store | None:
    """The local twin of a shared store, or None (then files live in `shared` only)."""
    try:
        return _TWINS.get(shared)
    except TypeError:  # a store that cannot be weakly referenced has no twin
        return None


def keep(local: Store, path: str, data: bytes, content_type: str) -> bool:
    """Write a copy locally; a failure is logged (the shared store still has the file)."""
    try:
        local.put(path, data, content_type=content_type)
    except StorageError as error:
        log.error("local copy not kept (%s): %s", path, error)
        return False
    return True


def read(shared: Store, path: str) -> bytes:
    """A file read from its local copy if there is one, else from the shared store (and
    then kept locally for next time). Raises StorageError when neither has it."""
    local = kept_for(shared)
    if local is not None:
        try:
            return local.get(path)
        except StorageError:
            pass
    data = shared.get(path)
    if local is not None:
        keep(local, path, data, "application/octet-stream")
    return data


def forget(shared: Store, paths: Iterable[str]) -> None:
    """Remove the local copies of these files (erasure, a file written elsewhere)."""
    local = kept_for(shared)
    if local is None:
        return
    for path in paths:
        try:
            local.delete(path)
        except StoreNotFound:
            pass
        except StorageError as error:
            log.error("local copy left behind, delete it by hand: %s (%s)", path, error)


def upload(shared: Store, paths: Iterable[str], *, kind: str, full_path: str | None) -> None:
    """Write to the shared store the files of one evidence kept during an outage.

    Each file is written once: ``If-None-Match`` refuses a second copy, and a file
    already there (an earlier write whose answer was lost) counts as written. A file
    this machine does not hold must already be in the shared store, or another machine
    holds it: StorageError then, and the write stays queued. The full-size original
    of a photo or PDF leaves the local folder once written.
    """
    local = kept_for(shared)
    if local is None:
        raise StorageError("no local copies on this machine")
    for path in paths:
        try:
            data = local.get(path)
        except StoreNotFound:
            if shared.stat(path) is None:
                raise StorageError(f"{path}: kept on another machine") from None
            continue
        try:
            shared.put(path, data, if_none_match=True)
        except PreconditionFailed:
            log.info("kept file already in the shared store: %s", path)
    if full_path and kind not in KEEP_FULL_KINDS:
        forget(shared, [full_path])
