"""Nextcloud (and plain WebDAV) storage, and Nextcloud shares, over requests.

:class:`NextcloudStore` implements :class:`~connectors.storage.Store` on a WebDAV
collection such as ``https://cloud.example.org/remote.php/dav/files/USER/Folder``.
With a Nextcloud URL it also manages shares through the OCS API
(``create_share``, ``list_shares``, ``update_share``, ``delete_share``).

What the Nextcloud 34 recordings in ``shared/data/nextcloud-34`` taught:

- ``If-Match`` must carry the ETag with its double quotes; without them the
  server answers 412 even when the ETag is current (recordings 17 to 19).
- A PUT into a missing folder answers 404 (Nextcloud) or 409 (WsgiDAV); MKCOL
  answers 405 when the name exists (folder or file) and 409 when the parent
  is missing (recordings 07 to 11, 23).
- Names are percent-encoded one segment at a time: an unencoded ``#`` cuts
  the URL (recording 40). Hrefs come back percent-encoded in lower case.
- A quota overrun is 507; a forbidden name may come back as 400 or even 500
  (``.htaccess``, recording 46), which is not worth retrying.
- OCS v2 puts the OCS status in the HTTP status too; errors carry their text
  in ``ocs.meta.message``; without ``OCS-APIRequest: true`` the answer is a
  412 "CSRF check failed" (recordings 99 to 106).

The password is held by a small auth object that hides it from ``repr``; it
never enters URLs, log lines or exception messages.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import mimetypes
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote, unquote, urlsplit

import requests

from connectors.nextcloud.protocol import (
    _PROPFIND_BODY,
    _Body,
    _header_etag,
    _parse_multistatus,
    _prepared_body,
    _quote_path,
    _quoted_etag,
    _stored_file,
)
from connectors.nextcloud.shares import NextcloudShares
from connectors.storage import (
    DEFAULT_CHUNK_SIZE,
    Body,
    InvalidPath,
    NotFound,
    PreconditionFailed,
    RootMissing,
    StorageError,
    StoredFile,
    normalize_path,
    parent_of,
)

log = logging.getLogger(__name__)


class NextcloudStore(NextcloudShares):
    """Files below one Nextcloud (or WebDAV) folder, and (Nextcloud only) their shares.

    ``base_url`` is the folder's WebDAV URL, e.g.
    ``https://cloud.example.org/remote.php/dav/files/reperes/Dossiers``; use an
    app password (Settings > Security) rather than the login password.
    """

    # -- reading ---------------------------------------------------------------

    def stat(self, path: str) -> StoredFile | None:
        norm = normalize_path(path, allow_root=True)
        try:
            entries = self._propfind(norm, depth=0)
        except NotFound:
            return None
        for entry in entries:
            if entry.path == norm:
                return entry
        # Depth 0 answers one entry; a server spelling its href oddly still means this path.
        return dataclasses.replace(entries[0], path=norm) if entries else None

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def list(self, folder: str = "") -> builtins.list[StoredFile]:
        norm = normalize_path(folder, allow_root=True)
        entries = self._propfind(norm, depth=1)
        children = [entry for entry in entries if entry.path != norm]
        own = [entry for entry in entries if entry.path == norm]
        if own and not own[0].is_folder:
            raise StorageError(f"{self.describe()}: {norm!r} is a file, not a folder", path=norm)
        return sorted(children, key=lambda entry: entry.path)

    def get(self, path: str) -> bytes:
        norm = normalize_path(path)
        response = self._send("GET", norm, action="read")
        try:
            self._check(response, norm, "read", ok=(200,))
            return response.content
        except requests.RequestException as exc:
            raise self._transport_error(exc, norm, "read") from None
        finally:
            response.close()

    def iter_chunks(self, path: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        norm = normalize_path(path)
        # Sent now so that a missing file fails here rather than at the first next().
        response = self._send("GET", norm, action="read", stream=True)
        try:
            self._check(response, norm, "read", ok=(200,))
        except BaseException:
            response.close()
            raise
        return self._stream(response, norm, chunk_size)

    def _stream(self, response: requests.Response, norm: str, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from response.iter_content(chunk_size=chunk_size)
        except requests.RequestException as exc:
            raise self._transport_error(exc, norm, "read") from None
        finally:
            response.close()

    def web_url(self, path: str) -> str | None:
        norm = normalize_path(path, allow_root=True)
        if not self.is_nextcloud:
            return self._url(norm)
        item = self.stat(norm)
        if item is None:
            raise NotFound(f"{self.describe()}: {norm!r} does not exist", path=norm)
        if item.file_id:
            return f"{self._origin}{_quote_path(self._prefix)}/index.php/f/{item.file_id}"
        folder = self._user_path(norm if item.is_folder else parent_of(norm))
        return (
            f"{self._origin}{_quote_path(self._prefix)}/index.php/apps/files/?dir={quote(folder)}"
        )

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
        headers = {
            "Content-Type": content_type
            or mimetypes.guess_type(norm, strict=False)[0]
            or "application/octet-stream"
        }
        if if_match is not None:
            headers["If-Match"] = _quoted_etag(if_match)
        if if_none_match:
            headers["If-None-Match"] = "*"
        with _prepared_body(data) as body:
            folder = parent_of(norm)
            was_known = folder in self._known_folders
            self._ensure_folder(folder)
            response = self._put_once(norm, body, headers)
            if response.status_code in (404, 409) and was_known:
                # The folder was removed since we last saw it: make it again, once.
                self._forget_folders(folder)
                self._ensure_folder(folder)
                response = self._put_once(norm, body, headers)
            if response.status_code == 412:
                reason = "it already exists" if if_none_match else "it changed since it was read"
                raise PreconditionFailed(
                    f"{self.describe()}: did not write {norm!r}: {reason} (HTTP 412)",
                    path=norm,
                    current_etag=_header_etag(response),
                )
            if response.status_code in (404, 409):
                raise StorageError(
                    f"{self.describe()}: cannot write {norm!r} (HTTP {response.status_code}):"
                    " a folder has this name, or a file stands where a parent folder should be",
                    path=norm,
                    status=response.status_code,
                )
            self._check(response, norm, "write", ok=(200, 201, 204))
        etag = _header_etag(response)
        written = StoredFile(norm, etag, body.length, None, headers["Content-Type"])
        # The rest (date, file id) comes from a PROPFIND; the ETag stays the one the
        # PUT answered, so a change made by someone in between is not taken for ours.
        try:
            now = self.stat(norm)
        except StorageError as exc:
            log.warning(
                "%s: wrote %r but could not read its details: %s", self.describe(), norm, exc
            )
            return written
        if now is None:
            return written
        return StoredFile(
            norm,
            etag or now.etag,
            body.length,
            now.modified,
            now.content_type or written.content_type,
            file_id=now.file_id,
        )

    def _put_once(self, norm: str, body: _Body, headers: dict[str, str]) -> requests.Response:
        send_headers = {**headers, "Content-Length": str(body.length)}
        response = self._send(
            "PUT", norm, action="write", headers=send_headers, data=body.payload()
        )
        response.close()
        return response

    def delete(self, path: str) -> None:
        norm = normalize_path(path)
        response = self._send("DELETE", norm, action="delete")
        response.close()
        self._forget_folders(norm)
        if response.status_code == 404:
            return
        self._check(response, norm, "delete", ok=(200, 204))

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        src_norm = normalize_path(src)
        dst_norm = normalize_path(dst)
        if src_norm == dst_norm:
            return
        headers = {"Destination": self._url(dst_norm), "Overwrite": "T" if overwrite else "F"}
        dst_folder = parent_of(dst_norm)
        was_known = dst_folder in self._known_folders
        self._ensure_folder(dst_folder)
        response = self._send("MOVE", src_norm, action="move", headers=headers)
        response.close()
        if response.status_code == 409 and was_known:
            self._forget_folders(dst_folder)
            self._ensure_folder(dst_folder)
            response = self._send("MOVE", src_norm, action="move", headers=headers)
            response.close()
        self._forget_folders(src_norm)
        if response.status_code == 412:
            raise PreconditionFailed(
                f"{self.describe()}: cannot move {src_norm!r} to {dst_norm!r}: it already exists",
                path=dst_norm,
            )
        self._check(response, src_norm, "move", ok=(201, 204))

    def make_folder(self, folder: str) -> None:
        """Create a folder and its missing parents (existing ones are fine)."""
        self._ensure_folder(normalize_path(folder, allow_root=True))

    def _propfind(self, norm: str, *, depth: int) -> builtins.list[StoredFile]:
        headers = {"Depth": str(depth), "Content-Type": "application/xml; charset=utf-8"}
        response = self._send(
            "PROPFIND", norm, action="look at", headers=headers, data=_PROPFIND_BODY
        )
        try:
            self._check(response, norm, "look at", ok=(207,))
            body = response.content
        finally:
            response.close()
        entries = []
        for href, props in _parse_multistatus(body):
            relative = self._relative(href)
            if relative is None:
                continue
            entries.append(_stored_file(relative, props))
        return entries

    def _relative(self, href: str) -> str | None:
        """The store path of a PROPFIND href, or None when it lies outside the root."""
        path = unicodedata.normalize("NFC", unquote(urlsplit(href).path)).rstrip("/")
        segments = [segment for segment in path.split("/") if segment]
        if segments[: len(self._base_segments)] != self._base_segments:
            return None
        rest = "/".join(segments[len(self._base_segments) :])
        try:
            return normalize_path(rest, allow_root=True)
        except InvalidPath:
            return None

    def _ensure_folder(self, folder: str, *, trust_cache: bool = True) -> None:
        """Create ``folder`` and its missing parents, walking up only as far as needed.

        The root itself is never created: a mistyped storage URL must not grow a
        wrong folder tree (:class:`RootMissing` names the URL to check).
        """
        if trust_cache and folder in self._known_folders:
            return
        if not folder:
            self.check_root()
            return
        status = self._mkcol(folder)
        if status == 409:
            # A parent is missing: what we remember about the parents is stale too.
            self._ensure_folder(parent_of(folder), trust_cache=False)
            status = self._mkcol(folder)
        if status == 409:
            raise StorageError(
                f"{self.describe()}: cannot create the folder {folder!r}: its parent is missing"
                " or is a file",
                path=folder,
                status=409,
            )
        with self._folders_lock:
            self._known_folders.add(folder)

    def check_root(self) -> None:
        """Raise :class:`RootMissing` unless the root folder exists (and is a folder)."""
        root = self.stat("")
        if root is None or not root.is_folder:
            raise RootMissing(
                f"{self.describe()}: the folder does not exist. Correct the storage URL"
                " (a typo there names another folder) or create the folder as this user;"
                " Repères never creates it",
                path="",
                status=404,
            )
        with self._folders_lock:
            self._known_folders.add("")

    def _mkcol(self, folder: str) -> int:
        response = self._send("MKCOL", folder, action="create the folder")
        response.close()
        if response.status_code in (200, 201, 405, 409):
            # 405: something exists with that name; a file there makes the PUT fail later.
            return response.status_code
        raise self._http_error(response, folder, "create the folder")

    def _forget_folders(self, path: str) -> None:
        with self._folders_lock:
            self._known_folders = {
                known
                for known in self._known_folders
                if known != path and not known.startswith(path + "/")
            }
            if path == "":
                self._known_folders.clear()
