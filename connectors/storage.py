"""The storage interface every part of Repères uses for files.

Evidence photos and generated dossiers go through a :class:`Store`. Two kinds
exist: a local folder (:mod:`connectors.local_store`) for development and small
installations, and Nextcloud or any WebDAV server (:mod:`connectors.nextcloud`).
:func:`open_store` picks one from the ``REPERES_STORAGE_URL`` value.

Paths are always relative POSIX paths below the store's root, checked and
normalised by :func:`normalize_path` (the only place that decides what a valid
path is). ETags are opaque strings: compare them for equality and hand them back
to ``put(if_match=...)`` unchanged.
"""

from __future__ import annotations

import builtins
import contextlib
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Body",
    "InvalidPath",
    "NotFound",
    "PreconditionFailed",
    "body_chunks",
    "Refused",
    "RootMissing",
    "StorageError",
    "Store",
    "StoredFile",
    "Unavailable",
    "join_path",
    "normalize_path",
    "open_store",
    "parent_of",
    "remaining_budget",
    "time_budget",
]

DEFAULT_CHUNK_SIZE = 64 * 1024

# What put() accepts: the whole content, an open binary file, or chunks.
Body = bytes | BinaryIO | Iterable[bytes]

# The monotonic time by which storage calls of this context must be done (None: no limit).
_DEADLINE: ContextVar[float | None] = ContextVar("storage_deadline", default=None)


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Bound every storage call made in this context (a web request) to ``seconds`` in all.

    Network stores shorten each call's timeouts to what is left and refuse to start a
    call once the budget is spent (:class:`Unavailable`). A budget already running is
    only ever shortened. Threads started for the work must run in a copy of the context
    (``contextvars.copy_context().run``) to share it.
    """
    deadline = time.monotonic() + max(seconds, 0.0)
    current = _DEADLINE.get()
    token = _DEADLINE.set(deadline if current is None else min(current, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining_budget() -> float | None:
    """Seconds left in the current :func:`time_budget` (None: no budget)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


class StorageError(Exception):
    """A storage operation failed; the message tells an operator what to do.

    Messages name the store and the path but never carry credentials.
    """

    def __init__(self, message: str, *, path: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.status = status

    def __str__(self) -> str:
        return self.message


class PreconditionFailed(StorageError):
    """The file changed since it was read (ETag mismatch) or already exists."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        status: int | None = 412,
        current_etag: str | None = None,
    ):
        super().__init__(message, path=path, status=status)
        # The server's current ETag when it said so (Nextcloud sends it with 412).
        self.current_etag = current_etag


class NotFound(StorageError):
    """The file or folder does not exist."""


class Unavailable(StorageError):
    """The store cannot be reached or failed on its side: retry later."""


class Refused(StorageError):
    """The store refused the request: credentials, permissions or quota.

    ``status`` is the HTTP status (401, 403, 507...) when there is one.
    Retrying will not help until a person changes something.
    """


class RootMissing(StorageError):
    """The store's root folder does not exist: the storage URL is wrong, or the folder was
    never made. Never created by Repères (a typo would grow a wrong folder tree)."""


class InvalidPath(StorageError):
    """The path is not acceptable (see :func:`normalize_path`) or the server refused the name."""


@dataclass(frozen=True)
class StoredFile:
    """What a store knows about one file (or folder, when ``is_folder``)."""

    path: str
    etag: str | None
    size: int
    modified: datetime | None
    content_type: str | None
    is_folder: bool = False
    # Nextcloud's file id (oc:fileid): stable across renames, used for links.
    file_id: str | None = None

    @property
    def name(self) -> str:
        """The last segment of the path."""
        return self.path.rsplit("/", 1)[-1]


@runtime_checkable
class Store(Protocol):
    """Files below one root folder, wherever that folder lives."""

    def put(
        self,
        path: str,
        data: Body,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str | None = None,
    ) -> StoredFile:
        """Write a file, creating missing parent folders.

        ``if_match``: only replace the file if its ETag is still this one.
        ``if_none_match``: only create, never replace. Both raise
        :class:`PreconditionFailed` when the condition does not hold.
        Returns the new state, with the ETag of what was just written.
        """
        ...

    def get(self, path: str) -> bytes:
        """The whole content of a file."""
        ...

    def iter_chunks(self, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The content of a file in chunks, without holding it all in memory."""
        ...

    def stat(self, path: str) -> StoredFile | None:
        """The current state of a file or folder, or None if it does not exist."""
        ...

    def delete(self, path: str) -> None:
        """Remove a file or folder; a missing one is not an error."""
        ...

    def list(self, folder: str = "") -> builtins.list[StoredFile]:
        """The direct children of a folder ("" is the root), sorted by path."""
        ...

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Rename or move; raises PreconditionFailed if dst exists and not overwrite."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file or folder exists at this path."""
        ...

    def web_url(self, path: str) -> str | None:
        """A link a person can open in a browser, or None when there is none."""
        ...

    def describe(self) -> str:
        """A short description for logs and error pages, without secrets."""
        ...


# Names a server refuses whatever the folder (Nextcloud 34 answers 500 for it).
_FORBIDDEN_NAMES = frozenset({".htaccess"})
# Most file systems and Nextcloud stop at 255 bytes per name.
_MAX_NAME_BYTES = 255


def normalize_path(path: str, *, allow_root: bool = False) -> str:
    """Check a store path and return its canonical form (NFC, '/'-separated).

    Accepted: relative POSIX paths such as ``candidats/Amélie/dossier.docx``.
    Refused with :class:`InvalidPath`: absolute paths, ``..`` and ``.``
    segments, empty segments (``a//b``, a trailing ``/``), backslashes,
    NUL and control characters, names over 255 bytes and ``.htaccess``.
    ``""`` means the root folder and is accepted only with ``allow_root``.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"a store path must be text, not {type(path).__name__}")
    if path == "":
        if allow_root:
            return ""
        raise InvalidPath("the path is empty")
    shown = _shown(path)
    for char in path:
        if unicodedata.category(char) == "Cc":
            raise InvalidPath(f"the path {shown} contains a control character", path=shown)
    if "\\" in path:
        raise InvalidPath(f"the path {shown} contains a backslash", path=shown)
    if path.startswith("/"):
        raise InvalidPath(f"the path {shown} is absolute; make it relative", path=shown)
    path = unicodedata.normalize("NFC", path)
    segments = path.split("/")
    for segment in segments:
        if segment == "":
            raise InvalidPath(f"the path {shown} has an empty segment", path=shown)
        if segment in (".", ".."):
            raise InvalidPath(f"the path {shown} contains '{segment}'", path=shown)
        if segment.lower() in _FORBIDDEN_NAMES:
            raise InvalidPath(f"the name {segment!r} is not allowed", path=shown)
        if len(segment.encode("utf-8")) > _MAX_NAME_BYTES:
            raise InvalidPath(f"a name in {shown} is longer than 255 bytes", path=shown)
    return path


def join_path(*parts: str) -> str:
    """Join store path parts with '/' and normalise the result."""
    return normalize_path("/".join(part for part in parts if part != ""), allow_root=True)


def parent_of(path: str) -> str:
    """The folder holding a normalised path ("" for the root)."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def body_chunks(data: Body, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """The chunks of a put() body, read lazily from a file or an iterable.

    A bytes-like body is yielded whole (no copy). Text is refused: encode it first.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data) if not isinstance(data, bytes) else data
        return
    if isinstance(data, str):
        raise TypeError("a store body must be bytes, a binary file or chunks of bytes, not str")
    read = getattr(data, "read", None)
    if read is not None:
        while True:
            chunk = read(chunk_size)
            if not chunk:
                return
            if not isinstance(chunk, bytes | bytearray):
                raise TypeError("the file given to put() must be opened in binary mode")
            yield bytes(chunk) if isinstance(chunk, bytearray) else chunk
    for chunk in data:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"put() chunks must be bytes, not {type(chunk).__name__}")
        if chunk:
            yield chunk if isinstance(chunk, bytes) else bytes(chunk)


def _shown(path: str) -> str:
    """A path as it may appear in a message: quoted, escaped, bounded."""
    text = ascii(path) if any(unicodedata.category(c) == "Cc" for c in path) else repr(path)
    return text if len(text) <= 200 else text[:197] + "..."


def open_store(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    password_file: str | Path | None = None,
    session: Any = None,
) -> Store:
    """Open the store a URL names.

    - ``file:///abs/dir``: a :class:`~connectors.local_store.LocalFolderStore`.
    - ``https://host/remote.php/dav/files/USER/Folder``: a Nextcloud folder;
      ``username`` defaults to USER.
    - any other ``http(s)://`` URL: a plain WebDAV collection.

    The password comes from ``password`` or from the first line of
    ``password_file`` (a Docker or systemd secret), never from both.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StorageError(
                f"a file: storage URL must name a local folder, not host {parts.netloc!r}"
            )
        folder = unquote(parts.path)
        if not folder.startswith("/"):
            raise StorageError(
                "a file: storage URL needs an absolute folder, e.g. file:///var/lib/reperes/files"
            )
        from connectors.local_store import LocalFolderStore

        return LocalFolderStore(folder)
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise StorageError("the storage URL has no host name")
        # Credentials written in the URL are taken out so that the URL can be logged.
        if parts.username is not None and username is None:
            username = unquote(parts.username)
        if parts.password is not None and password is None and password_file is None:
            password = unquote(parts.password)
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        clean_url = urlunsplit((scheme, netloc, parts.path, "", ""))
        if password_file is not None:
            if password is not None:
                raise StorageError("give the storage password or a password file, not both")
            password = _read_password_file(Path(password_file))
        from connectors.nextcloud import NextcloudStore

        return NextcloudStore(clean_url, username, password, session=session)
    raise StorageError(
        f"unsupported storage URL scheme {scheme!r}: use file:///folder or https://…/remote.php/dav/files/USER/Folder"
    )


def _read_password_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        message = f"cannot read the storage password file {str(path)!r}: {exc.strerror}"
        raise StorageError(message) from None
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise StorageError(f"the storage password file {str(path)!r} is empty")
    return password
