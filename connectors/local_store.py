"""A store in a local folder: development, tests and single-machine installations.

Every path is walked one segment at a time from an open descriptor of the root
with ``O_NOFOLLOW``, so a symbolic link planted inside the folder can never lead
a read or a write outside it. Writes go to a temporary file in the target folder,
are flushed to disk, then renamed over the target: a reader sees the old file or
the new one, never half of one. The conditional checks (``if_match``,
``if_none_match``) and the rename happen under an exclusive ``flock`` on the
target folder, so two processes of this machine cannot both win.

ETags are the SHA-256 of the content, quoted like HTTP entity tags. Saving a
file again with the same bytes keeps its ETag.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import hashlib
import mimetypes
import os
import secrets
import shutil
import stat as stat_module
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from connectors.storage import (
    DEFAULT_CHUNK_SIZE,
    Body,
    InvalidPath,
    NotFound,
    PreconditionFailed,
    Refused,
    StorageError,
    StoredFile,
    Unavailable,
    body_chunks,
    normalize_path,
)

__all__ = ["LocalFolderStore"]

_TEMP_PREFIX = ".~reperes-"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_HASH_CACHE_MAX = 4096

# (device, inode, size, mtime_ns, ctime_ns) -> sha256 hex. The ctime changes on
# every write and cannot be set back by a program, so a cached hash is never
# reused for different content.
_StatKey = tuple[int, int, int, int, int]


def _strip_etag(etag: str) -> str:
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def _etag_of(digest: str) -> str:
    return f'"{digest}"'


class LocalFolderStore:
    """Files below ``root`` on this machine's disk."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root_path = Path(root)
        if not root_path.is_absolute():
            raise StorageError(
                f"the local storage folder must be an absolute path, not {str(root)!r}"
            )
        try:
            root_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, "create the storage folder", str(root_path)) from None
        # The root itself may be a link chosen by the operator; only what lies below is guarded.
        self.root = Path(os.path.realpath(root_path))
        if not self.root.is_dir():
            raise StorageError(f"the local storage path {str(self.root)!r} is not a folder")
        self._hashes: dict[_StatKey, str] = {}
        self._hash_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalFolderStore({str(self.root)!r})"

    def describe(self) -> str:
        return f"local folder {self.root}"

    def web_url(self, path: str) -> str | None:
        normalize_path(path, allow_root=True)
        return None

    # -- reading ---------------------------------------------------------------

    def stat(self, path: str) -> StoredFile | None:
        norm = normalize_path(path, allow_root=True)
        if norm == "":
            return StoredFile("", None, 0, self._mtime(os.stat(self.root)), None, is_folder=True)
        folder, name = _split(norm)
        try:
            with self._dir(folder) as dfd:
                return self._stat_at(dfd, name, norm)
        except NotFound:
            return None

    def exists(self, path: str) -> bool:
        norm = normalize_path(path, allow_root=True)
        if norm == "":
            return True
        folder, name = _split(norm)
        try:
            with self._dir(folder) as dfd:
                os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except (NotFound, FileNotFoundError):
            return False
        except OSError as exc:
            raise _os_error(exc, "look at", norm) from None
        return True

    def get(self, path: str) -> bytes:
        return b"".join(self.iter_chunks(path, chunk_size=1024 * 1024))

    def iter_chunks(self, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        norm = normalize_path(path)
        # Opened now so that a missing file fails here, not at the first next().
        handle = self._open_file(norm)
        return _read_chunks(handle, chunk_size)

    def list(self, folder: str = "") -> builtins.list[StoredFile]:
        norm = normalize_path(folder, allow_root=True)
        found: builtins.list[StoredFile] = []
        with self._dir(norm) as dfd:
            try:
                names = os.listdir(dfd)
            except OSError as exc:
                raise _os_error(exc, "list", norm) from None
            for name in names:
                if name.startswith(_TEMP_PREFIX):
                    continue
                child = f"{norm}/{name}" if norm else name
                try:
                    child = normalize_path(child)
                    item = self._stat_at(dfd, name, child)
                except (NotFound, InvalidPath):
                    # Gone meanwhile, a link, or a name Repères would never write.
                    continue
                if item is not None:
                    found.append(item)
        return sorted(found, key=lambda item: item.path)

    # -- writing ---------------------------------------------------------------

    def put(
        self,
        path: str,
        data: Body,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str | None = None,
    ) -> StoredFile:
        norm = normalize_path(path)
        if if_match is not None and if_none_match:
            raise ValueError("put(): give if_match or if_none_match, not both")
        folder, name = _split(norm)
        with self._dir(folder, create=True) as dfd:
            temp_name = f"{_TEMP_PREFIX}{secrets.token_hex(8)}.tmp"
            try:
                tfd = os.open(
                    temp_name,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o666,
                    dir_fd=dfd,
                )
            except OSError as exc:
                raise _os_error(exc, "write", norm) from None
            try:
                digest = self._write_temp(tfd, data, norm)
                with _flock(dfd):
                    current = self._stat_at(dfd, name, norm)
                    if current is not None and current.is_folder:
                        raise StorageError(
                            f"cannot write {norm!r}: a folder has that name", path=norm
                        )
                    if if_none_match and current is not None:
                        raise PreconditionFailed(
                            f"{norm!r} already exists", path=norm, current_etag=current.etag
                        )
                    if if_match is not None and (
                        current is None
                        or current.etag is None
                        or _strip_etag(current.etag) != _strip_etag(if_match)
                    ):
                        raise PreconditionFailed(
                            f"{norm!r} changed since it was read (ETag mismatch)"
                            if current is not None
                            else f"{norm!r} no longer exists",
                            path=norm,
                            current_etag=current.etag if current else None,
                        )
                    os.replace(temp_name, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                    temp_name = ""
                    os.fsync(dfd)
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    self._remember(st, digest)
                    return self._file(norm, st, digest)
            except OSError as exc:
                raise _os_error(exc, "write", norm) from None
            finally:
                if temp_name:
                    with contextlib.suppress(OSError):
                        os.unlink(temp_name, dir_fd=dfd)

    def delete(self, path: str) -> None:
        norm = normalize_path(path)
        folder, name = _split(norm)
        try:
            with self._dir(folder) as dfd, _flock(dfd):
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if stat_module.S_ISDIR(st.st_mode):
                    shutil.rmtree(name, dir_fd=dfd)
                else:
                    # Removing a link removes the link only, never its target.
                    os.unlink(name, dir_fd=dfd)
                os.fsync(dfd)
        except (NotFound, FileNotFoundError):
            return
        except OSError as exc:
            raise _os_error(exc, "delete", norm) from None

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        src_norm = normalize_path(src)
        dst_norm = normalize_path(dst)
        if src_norm == dst_norm:
            return
        if dst_norm.startswith(src_norm + "/"):
            raise StorageError(f"cannot move {src_norm!r} into itself", path=src_norm)
        src_folder, src_name = _split(src_norm)
        dst_folder, dst_name = _split(dst_norm)
        with self._dir(src_folder) as sfd, self._dir(dst_folder, create=True) as dfd:
            try:
                with _flock_pair(sfd, dfd):
                    try:
                        src_st = os.stat(src_name, dir_fd=sfd, follow_symlinks=False)
                    except FileNotFoundError:
                        raise NotFound(f"{src_norm!r} does not exist", path=src_norm) from None
                    if stat_module.S_ISLNK(src_st.st_mode):
                        raise InvalidPath(f"{src_norm!r} is a symbolic link", path=src_norm)
                    try:
                        dst_st: os.stat_result | None = os.stat(
                            dst_name, dir_fd=dfd, follow_symlinks=False
                        )
                    except FileNotFoundError:
                        dst_st = None
                    if dst_st is not None:
                        if not overwrite:
                            raise PreconditionFailed(
                                f"cannot move to {dst_norm!r}: it already exists", path=dst_norm
                            )
                        if stat_module.S_ISDIR(dst_st.st_mode):
                            shutil.rmtree(dst_name, dir_fd=dfd)
                    os.replace(src_name, dst_name, src_dir_fd=sfd, dst_dir_fd=dfd)
                    os.fsync(dfd)
                    if sfd != dfd:
                        os.fsync(sfd)
            except OSError as exc:
                raise _os_error(exc, "move", src_norm) from None

    # -- internals -------------------------------------------------------------

    @contextlib.contextmanager
    def _dir(self, folder: str, *, create: bool = False) -> Iterator[int]:
        """An open descriptor of a folder below the root, walked without following links."""
        try:
            fd = os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            raise _os_error(exc, "open the storage folder", "") from None
        try:
            walked = ""
            for segment in folder.split("/") if folder else []:
                walked = f"{walked}/{segment}" if walked else segment
                fd = self._enter(fd, segment, walked, create)
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def _enter(fd: int, segment: str, walked: str, create: bool) -> int:
        """Open ``segment`` below ``fd``, close ``fd`` and return the new descriptor."""
        try:
            try:
                child = os.open(segment, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise NotFound(f"the folder {walked!r} does not exist", path=walked) from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(segment, 0o777, dir_fd=fd)
                child = os.open(segment, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            st = _lstat_or_none(segment, fd)
            if st is not None and stat_module.S_ISLNK(st.st_mode):
                raise InvalidPath(
                    f"{walked!r} is a symbolic link; the store does not follow links", path=walked
                ) from None
            is_file = st is not None and not stat_module.S_ISDIR(st.st_mode)
            if isinstance(exc, NotADirectoryError) or is_file:
                raise StorageError(f"{walked!r} is a file, not a folder", path=walked) from None
            raise _os_error(exc, "open", walked) from None
        os.close(fd)
        return child

    def _open_file(self, norm: str) -> int:
        folder, name = _split(norm)
        with self._dir(folder) as dfd:
            try:
                return os.open(name, _READ_FLAGS, dir_fd=dfd)
            except FileNotFoundError:
                raise NotFound(f"{norm!r} does not exist", path=norm) from None
            except OSError as exc:
                st = _lstat_or_none(name, dfd)
                if st is not None and stat_module.S_ISLNK(st.st_mode):
                    raise InvalidPath(f"{norm!r} is a symbolic link", path=norm) from None
                raise _os_error(exc, "read", norm) from None

    def _stat_at(self, dfd: int, name: str, norm: str) -> StoredFile | None:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(exc, "look at", norm) from None
        if stat_module.S_ISDIR(st.st_mode):
            return StoredFile(norm, None, 0, self._mtime(st), None, is_folder=True)
        if not stat_module.S_ISREG(st.st_mode):
            raise InvalidPath(f"{norm!r} is not a regular file (link or device)", path=norm)
        digest = self._digest(dfd, name, st, norm)
        return self._file(norm, st, digest)

    def _file(self, norm: str, st: os.stat_result, digest: str) -> StoredFile:
        content_type, _ = mimetypes.guess_type(norm, strict=False)
        return StoredFile(norm, _etag_of(digest), st.st_size, self._mtime(st), content_type)

    @staticmethod
    def _mtime(st: os.stat_result) -> datetime:
        return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)

    def _digest(self, dfd: int, name: str, st: os.stat_result, norm: str) -> str:
        key = _stat_key(st)
        cached = self._hashes.get(key)
        if cached is not None:
            return cached
        hasher = hashlib.sha256()
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
        except FileNotFoundError:
            raise NotFound(f"{norm!r} does not exist", path=norm) from None
        except OSError as exc:
            raise _os_error(exc, "read", norm) from None
        with open(fd, "rb", closefd=True) as handle:
            opened = os.fstat(handle.fileno())
            while chunk := handle.read(1024 * 1024):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        if _stat_key(opened) == key:
            self._remember(opened, digest)
        return digest

    def _remember(self, st: os.stat_result, digest: str) -> None:
        with self._hash_lock:
            if len(self._hashes) >= _HASH_CACHE_MAX:
                self._hashes.clear()
            self._hashes[_stat_key(st)] = digest

    @staticmethod
    def _write_temp(tfd: int, data: Body, norm: str) -> str:
        """Stream the body into the temporary file, flush it to disk, return its SHA-256."""
        hasher = hashlib.sha256()
        with open(tfd, "wb", closefd=True) as handle:
            for chunk in body_chunks(data):
                hasher.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        return hasher.hexdigest()


def _read_chunks(fd: int, chunk_size: int) -> Iterator[bytes]:
    with open(fd, "rb", closefd=True) as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def _split(norm: str) -> tuple[str, str]:
    folder, _, name = norm.rpartition("/")
    return folder, name


def _stat_key(st: os.stat_result) -> _StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _lstat_or_none(name: str, dfd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except OSError:
        return None


@contextlib.contextmanager
def _flock(fd: int) -> Iterator[None]:
    """Hold an exclusive lock on a folder descriptor (one per open, so threads contend too)."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def _flock_pair(first: int, second: int) -> Iterator[None]:
    """Lock two folders in a fixed order (by inode) so that two moves never deadlock."""
    a, b = os.fstat(first), os.fstat(second)
    if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
        with _flock(first):
            yield
        return
    ordered = sorted([(a.st_dev, a.st_ino, first), (b.st_dev, b.st_ino, second)])
    with _flock(ordered[0][2]), _flock(ordered[1][2]):
        yield


def _os_error(exc: OSError, action: str, path: str) -> StorageError:
    """Turn an OSError into the StorageError an operator can act on."""
    where = f"{path!r}" if path else "the storage folder"
    reason = exc.strerror or type(exc).__name__
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        message = f"cannot {action} {where}: the disk is full ({reason})"
        return Refused(message, path=path, status=507)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        message = f"cannot {action} {where}: permission denied ({reason})"
        return Refused(message, path=path, status=403)
    if code in (errno.EIO, errno.ESTALE, errno.ETIMEDOUT, errno.EAGAIN):
        return Unavailable(f"cannot {action} {where}: {reason}; retry later", path=path)
    if code == errno.ENAMETOOLONG:
        return InvalidPath(f"cannot {action} {where}: name too long", path=path)
    return StorageError(f"cannot {action} {where}: {reason}", path=path)
