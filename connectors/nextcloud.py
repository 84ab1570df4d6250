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

import base64
import builtins
import contextlib
import dataclasses
import io
import json
import logging
import mimetypes
import os
import re
import tempfile
import threading
import unicodedata
import xml.etree.ElementTree as ET  # noqa: S405 - see _parse_xml: no DTD is accepted
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date
from email.utils import parsedate_to_datetime
from enum import IntEnum, IntFlag
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

import requests
from requests.auth import AuthBase

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
    parent_of,
)

__all__ = ["NextcloudStore", "Permission", "Share", "ShareType"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (10.0, 120.0)  # seconds: connect, then between two bytes of an answer
# Bodies of unknown length are spooled to a temporary file, in memory up to this size,
# so that the request carries a Content-Length (chunked uploads are unreliable
# behind PHP-FPM) and can be sent again after the parent folder was created.
_SPOOL_IN_MEMORY = 1024 * 1024
_ERROR_BODY_MAX = 64 * 1024

_DAV = "{DAV:}"
_OC = "{http://owncloud.org/ns}"
_SABRE = "{http://sabredav.org/ns}"
_PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    b"<d:getetag/><d:getcontentlength/><d:getlastmodified/><d:getcontenttype/>"
    b"<d:resourcetype/><oc:fileid/><oc:size/>"
    b"</d:prop></d:propfind>"
)
_NEXTCLOUD_PATH = re.compile(
    r"^(?P<prefix>.*?)/remote\.php/(?:dav/files/(?P<user>[^/]+)|webdav)(?P<root>/.*)?$"
)


class ShareType(IntEnum):
    """Who a Nextcloud share is for."""

    USER = 0
    GROUP = 1
    LINK = 3
    EMAIL = 4


class Permission(IntFlag):
    """What the receiver of a share may do (added together)."""

    READ = 1
    UPDATE = 2
    CREATE = 4
    DELETE = 8
    SHARE = 16
    ALL = 31


@dataclass(frozen=True)
class Share:
    """One Nextcloud share as the OCS API describes it."""

    id: str
    share_type: int
    path: str  # in the owner's files, e.g. "/Dossiers/Amélie"
    permissions: int
    share_with: str | None
    share_with_displayname: str | None
    item_type: str
    token: str | None = None
    url: str | None = None
    expiration: str | None = None
    label: str = ""

    @classmethod
    def from_ocs(cls, data: Mapping[str, Any]) -> Share:
        """Build a Share from one element of ``ocs.data``."""
        return cls(
            id=str(data["id"]),
            share_type=int(data["share_type"]),
            path=unicodedata.normalize("NFC", str(data.get("path") or "")),
            permissions=int(data.get("permissions") or 0),
            share_with=_opt_str(data.get("share_with")),
            share_with_displayname=_opt_str(data.get("share_with_displayname")),
            item_type=str(data.get("item_type") or ""),
            token=_opt_str(data.get("token")),
            url=_opt_str(data.get("url")),
            expiration=_opt_str(data.get("expiration")),
            label=str(data.get("label") or ""),
        )


class _BasicAuth(AuthBase):
    """HTTP basic auth in UTF-8 (as Nextcloud announces), whose repr never shows the password."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        pair = f"{self.username}:{self._password}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return request

    def __repr__(self) -> str:
        return f"_BasicAuth(username={self.username!r}, password=<hidden>)"


@dataclass(frozen=True)
class _Body:
    """A request body ready to send, and to send again: bytes, or a file and its length."""

    content: bytes | IO[bytes]
    start: int
    length: int

    def payload(self) -> bytes | IO[bytes]:
        if isinstance(self.content, bytes):
            return self.content
        if self.length == 0:
            # requests would switch an empty file to chunked encoding.
            return b""
        self.content.seek(self.start)
        return self.content


class NextcloudStore:
    """Files below one Nextcloud (or WebDAV) folder.

    ``base_url`` is the folder's WebDAV URL, e.g.
    ``https://cloud.example.org/remote.php/dav/files/reperes/Dossiers``; use an
    app password (Settings > Security) rather than the login password.
    """

    def __init__(
        self,
        base_url: str,
        username: str | None,
        password: str | None,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise StorageError(f"not a WebDAV URL: {_without_userinfo(base_url)!r}")
        if "@" in parts.netloc:
            raise StorageError("put the storage user and password in settings, not in the URL")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        base_path = unicodedata.normalize("NFC", unquote(parts.path)).rstrip("/")
        self._base_segments = [segment for segment in base_path.split("/") if segment]
        self._base_path = "/" + "/".join(self._base_segments)
        match = _NEXTCLOUD_PATH.match(self._base_path)
        self.is_nextcloud = match is not None
        self._prefix = match.group("prefix") if match else ""
        # Where the store's root lies in the user's Nextcloud files ("/Dossiers").
        self._user_root = (match.group("root") or "") if match else ""
        if username is None and match is not None and match.group("user"):
            username = match.group("user")
        self.username = username
        self._auth = _BasicAuth(username, password) if username and password is not None else None
        self._session = session if session is not None else requests.Session()
        self._timeout = timeout
        self._known_folders: set[str] = set()
        self._folders_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NextcloudStore({self.base_url!r}, user={self.username!r})"

    @property
    def base_url(self) -> str:
        """The root folder's URL, percent-encoded."""
        return self._url("")

    def describe(self) -> str:
        kind = "Nextcloud" if self.is_nextcloud else "WebDAV"
        user = f" as {self.username}" if self.username else ""
        return f"{kind} folder {self.base_url}{user}"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

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

    # -- shares (Nextcloud only) -----------------------------------------------

    def create_share(
        self,
        path: str,
        share_with: str | None = None,
        share_type: int = ShareType.USER,
        permissions: int = Permission.READ,
        *,
        password: str | None = None,
        expire_date: date | None = None,
        label: str | None = None,
    ) -> Share:
        """Share a file or folder with a user, a group, or as a public link.

        Sharing the same thing with the same person again returns the existing
        share (Nextcloud 34, recording 87).
        """
        norm = normalize_path(path, allow_root=True)
        form: dict[str, str] = {"path": self._user_path(norm), "shareType": str(int(share_type))}
        if share_with is not None:
            form["shareWith"] = share_with
        form["permissions"] = str(int(permissions))
        if password is not None:
            form["password"] = password
        if expire_date is not None:
            form["expireDate"] = expire_date.isoformat()
        if label is not None:
            form["label"] = label
        data = self._ocs("POST", "", action=f"share {norm!r}", path=norm, form=form)
        return Share.from_ocs(_one(data))

    def path_in_store(self, nextcloud_path: str) -> str | None:
        """The store path of a path in the user's files (as shares give it), or None."""
        full = unicodedata.normalize("NFC", nextcloud_path).strip("/")
        root = self._user_root.strip("/")
        if root:
            if full == root:
                return ""
            if not full.startswith(root + "/"):
                return None
            full = full[len(root) + 1 :]
        try:
            return normalize_path(full, allow_root=True)
        except InvalidPath:
            return None

    def list_shares(self, path: str | None = None) -> builtins.list[Share]:
        """The shares of one file or folder (all of this user's shares without a path)."""
        params: dict[str, str] = {}
        norm = None
        if path is not None:
            norm = normalize_path(path, allow_root=True)
            params = {"path": self._user_path(norm), "reshares": "true"}
        data = self._ocs("GET", "", action="list the shares", path=norm, params=params)
        return [Share.from_ocs(item) for item in (data or [])]

    def get_share(self, share_id: str | int) -> Share:
        """One share by its id."""
        data = self._ocs("GET", f"/{_share_id(share_id)}", action=f"read share {share_id}")
        return Share.from_ocs(_one(data))

    def update_share(
        self,
        share_id: str | int,
        *,
        permissions: int | None = None,
        password: str | None = None,
        expire_date: date | None = None,
        label: str | None = None,
    ) -> Share:
        """Change a share's permissions, password, expiry date or label."""
        form: dict[str, str] = {}
        if permissions is not None:
            form["permissions"] = str(int(permissions))
        if password is not None:
            form["password"] = password
        if expire_date is not None:
            form["expireDate"] = expire_date.isoformat()
        if label is not None:
            form["label"] = label
        data = self._ocs(
            "PUT", f"/{_share_id(share_id)}", action=f"update share {share_id}", form=form
        )
        return Share.from_ocs(_one(data))

    def delete_share(self, share_id: str | int) -> None:
        """Remove a share; one that is already gone is fine."""
        try:
            self._ocs("DELETE", f"/{_share_id(share_id)}", action=f"delete share {share_id}")
        except NotFound:
            return

    # -- WebDAV internals --------------------------------------------------------

    def _url(self, norm: str) -> str:
        segments = self._base_segments + (norm.split("/") if norm else [])
        path = "/" + "/".join(quote(segment, safe="") for segment in segments)
        if not norm:
            path += "/"
        return self._origin + path

    def _user_path(self, norm: str) -> str:
        """A store path as Nextcloud's OCS API names it: from the user's home."""
        if not self.is_nextcloud:
            raise StorageError(f"{self.describe()}: shares need a Nextcloud server")
        full = f"{self._user_root}/{norm}" if norm else self._user_root
        return full or "/"

    def _send(
        self,
        method: str,
        norm: str,
        *,
        action: str,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        return self._request(
            method,
            self._url(norm),
            action=action,
            path=norm,
            headers=headers,
            data=data,
            stream=stream,
        )

    def _request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        path: str | None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        try:
            response = self._session.request(
                method,
                url,
                headers=dict(headers or {}),
                data=data,
                params=params,
                auth=self._auth,
                timeout=self._timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise self._transport_error(exc, path, action) from None
        shown = (path or "/") if path is not None else url
        log.debug("%s %s -> %s", method, shown, response.status_code)
        return response

    def _transport_error(
        self, exc: requests.RequestException, path: str | None, action: str
    ) -> StorageError:
        what = f"{action} {path!r}" if path is not None else action
        if isinstance(exc, requests.Timeout):
            reason = "no answer in time"
        elif isinstance(exc, requests.exceptions.SSLError):
            reason = "TLS problem (certificate?)"
        elif isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            reason = _connection_reason(exc)
        else:
            return StorageError(
                f"{self.describe()}: cannot {what}: {type(exc).__name__}", path=path
            )
        return Unavailable(f"{self.describe()}: cannot {what}: {reason}; retry later", path=path)

    def _check(
        self, response: requests.Response, path: str | None, action: str, *, ok: tuple[int, ...]
    ) -> None:
        if response.status_code in ok:
            return
        raise self._http_error(response, path, action)

    def _http_error(
        self, response: requests.Response, path: str | None, action: str
    ) -> StorageError:
        status = response.status_code
        what = f"{action} {path!r}" if path is not None else action
        exception, message = _sabre_error(response)
        detail = f": {message}" if message else ""
        where = f"{self.describe()}: cannot {what}"
        if status == 401:
            return Refused(
                f"{where}: the server refused the login of user {self.username!r} (HTTP 401);"
                " check the user name and the app password",
                path=path,
                status=401,
            )
        if status == 403:
            return Refused(f"{where}: permission denied (HTTP 403){detail}", path=path, status=403)
        if status == 404:
            return NotFound(f"{where}: not found (HTTP 404){detail}", path=path, status=404)
        if status == 412:
            return PreconditionFailed(
                f"{where}: the file changed or exists (HTTP 412){detail}",
                path=path,
                current_etag=_header_etag(response),
            )
        if status == 507:
            return Refused(
                f"{where}: storage quota exceeded (HTTP 507); free space or raise the quota",
                path=path,
                status=507,
            )
        if status == 413:
            return Refused(
                f"{where}: file too large for the server (HTTP 413)", path=path, status=413
            )
        if exception.endswith(("InvalidPath", "ForbiddenException")) or (
            status == 400 and "name" in message.lower()
        ):
            return InvalidPath(
                f"{where}: the server refused the name (HTTP {status}){detail}",
                path=path,
                status=status,
            )
        if status in (423, 429) or status >= 500:
            reason = {423: "the file is locked", 429: "too many requests"}.get(
                status, "server error"
            )
            return Unavailable(
                f"{where}: {reason} (HTTP {status}){detail}; retry later", path=path, status=status
            )
        if 300 <= status < 400:
            location = _without_userinfo(response.headers.get("Location", ""))
            return StorageError(
                f"{where}: the server redirects (HTTP {status}) to {location!r};"
                " put the final address in the storage URL",
                path=path,
                status=status,
            )
        if status == 409:
            return StorageError(
                f"{where}: conflict (HTTP 409): a parent folder is missing or is a file,"
                f" or a folder has this name{detail}",
                path=path,
                status=status,
            )
        return StorageError(f"{where}: HTTP {status}{detail}", path=path, status=status)

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
        """Create ``folder`` and its missing parents, walking up only as far as needed."""
        if trust_cache and folder in self._known_folders:
            return
        status = self._mkcol(folder)
        if status == 409 and folder:
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

    # -- OCS internals -------------------------------------------------------------

    def _ocs(
        self,
        method: str,
        endpoint: str,
        *,
        action: str,
        path: str | None = None,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        if not self.is_nextcloud:
            raise StorageError(f"{self.describe()}: shares need a Nextcloud server")
        url = (
            f"{self._origin}{_quote_path(self._prefix)}"
            f"/ocs/v2.php/apps/files_sharing/api/v1/shares{endpoint}"
        )
        headers = {"OCS-APIRequest": "true", "Accept": "application/json"}
        response = self._request(
            method,
            url,
            action=action,
            path=path,
            headers=headers,
            data=dict(form) if form is not None else None,
            params={"format": "json", **(params or {})},
        )
        try:
            payload = _ocs_payload(response)
        finally:
            response.close()
        where = f"{self.describe()}: cannot {action}"
        if payload is None:
            if response.status_code == 412:
                raise StorageError(
                    f"{where}: the server's CSRF check failed (HTTP 412);"
                    " the OCS-APIRequest header did not arrive (a proxy removing it?)",
                    path=path,
                    status=412,
                )
            if response.status_code < 300:
                raise StorageError(f"{where}: the answer is not an OCS document", path=path)
            raise self._http_error(response, path, action)
        code, message, data = payload
        if code in (100, 200) and response.status_code < 300:
            return data
        raise _ocs_error(where, code, response.status_code, message, path)


# -- helpers ---------------------------------------------------------------------


@contextlib.contextmanager
def _prepared_body(data: Body) -> Iterator[_Body]:
    """Any put() body as bytes or a seekable file of known length.

    Bytes and seekable files are sent as they are; chunks and pipes are first
    spooled (in memory up to 1 MiB, then to a temporary file), so memory stays
    bounded whatever the size.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        content = data if isinstance(data, bytes) else bytes(data)
        yield _Body(content, 0, len(content))
        return
    seekable = _seekable_file(data)
    if seekable is not None:
        start = seekable.tell()
        end = seekable.seek(0, os.SEEK_END)
        seekable.seek(start)
        yield _Body(seekable, start, max(end - start, 0))
        return
    spool: IO[bytes] = io.BytesIO()
    length = 0
    try:
        for chunk in body_chunks(data):
            if isinstance(spool, io.BytesIO) and length + len(chunk) > _SPOOL_IN_MEMORY:
                on_disk = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
                on_disk.write(spool.getbuffer())
                spool = on_disk
            spool.write(chunk)
            length += len(chunk)
        yield _Body(spool, 0, length)
    finally:
        spool.close()


def _seekable_file(data: object) -> IO[bytes] | None:
    """The body itself when it is a seekable binary file, else None."""
    if not callable(getattr(data, "read", None)) or not callable(getattr(data, "seek", None)):
        return None
    seekable = getattr(data, "seekable", None)
    if not callable(seekable) or not seekable():
        return None
    return data  # type: ignore[return-value]


def _quoted_etag(etag: str) -> str:
    """An ETag as If-Match needs it: Nextcloud refuses the bare value (recording 19)."""
    etag = etag.strip()
    if etag.startswith(('"', 'W/"')) or etag == "*":
        return etag
    return f'"{etag}"'


def _norm_etag(raw: str | None) -> str | None:
    if raw is None:
        return None
    raw = raw.strip()
    return _quoted_etag(raw) if raw else None


def _header_etag(response: requests.Response) -> str | None:
    return _norm_etag(response.headers.get("OC-ETag") or response.headers.get("ETag"))


def _quote_path(path: str) -> str:
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


def _share_id(share_id: str | int) -> str:
    text = str(share_id)
    if not text.isdigit():
        raise StorageError(f"not a share id: {text!r}")
    return text


def _one(data: Any) -> Mapping[str, Any]:
    """OCS answers one share as an object, or as a list of one (recording 93)."""
    if isinstance(data, list):
        if not data:
            raise NotFound("the server answered no share")
        data = data[0]
    if not isinstance(data, Mapping):
        raise StorageError("the server's share answer has an unexpected shape")
    return data


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused (server down?)"),
        ("Name or service not known", "unknown host name"),
        ("Temporary failure in name resolution", "host name lookup failed"),
        ("Connection reset", "connection reset by the server"),
        ("Broken pipe", "connection cut while sending"),
        ("RemoteDisconnected", "the server closed the connection"),
        ("Connection aborted", "connection cut"),
        ("IncompleteRead", "connection cut while reading"),
        ("timed out", "no answer in time"),
    ):
        if needle in text:
            return reason
    return f"connection failed ({type(exc).__name__})"


def _parse_xml(body: bytes) -> ET.Element:
    # Nextcloud never sends a DTD; refusing one rules out entity expansion attacks.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise StorageError("the server's XML answer holds a DTD; refused")
    return ET.fromstring(body)  # noqa: S314 - no DTD, checked above


def _sabre_error(response: requests.Response) -> tuple[str, str]:
    """The exception name and message of a Sabre/Nextcloud XML error body, if any."""
    content_type = response.headers.get("Content-Type", "")
    if "xml" not in content_type:
        return "", ""
    try:
        body = response.content[:_ERROR_BODY_MAX]
    except requests.RequestException:
        return "", ""
    try:
        root = _parse_xml(body)
    except (ET.ParseError, StorageError):
        return "", ""
    exception = (root.findtext(f"{_SABRE}exception") or "").strip()
    message = (root.findtext(f"{_SABRE}message") or "").strip()
    return exception, " ".join(message.split())[:300]


def _parse_multistatus(body: bytes) -> Iterator[tuple[str, dict[str, ET.Element]]]:
    try:
        root = _parse_xml(body)
    except ET.ParseError:
        raise StorageError("the server's PROPFIND answer is not valid XML") from None
    for response in root.iter(f"{_DAV}response"):
        href = (response.findtext(f"{_DAV}href") or "").strip()
        if not href:
            continue
        props: dict[str, ET.Element] = {}
        for propstat in response.findall(f"{_DAV}propstat"):
            status = propstat.findtext(f"{_DAV}status") or ""
            if " 200 " not in f"{status} ":
                continue
            prop = propstat.find(f"{_DAV}prop")
            if prop is None:
                continue
            for element in prop:
                props[element.tag] = element
        yield href, props


def _stored_file(path: str, props: Mapping[str, ET.Element]) -> StoredFile:
    def text(tag: str) -> str | None:
        element = props.get(tag)
        if element is None or element.text is None:
            return None
        return element.text.strip() or None

    resourcetype = props.get(f"{_DAV}resourcetype")
    is_folder = resourcetype is not None and resourcetype.find(f"{_DAV}collection") is not None
    size_text = text(f"{_DAV}getcontentlength") or text(f"{_OC}size")
    try:
        size = int(size_text) if size_text else 0
    except ValueError:
        size = 0
    modified = None
    modified_text = text(f"{_DAV}getlastmodified")
    if modified_text:
        try:
            modified = parsedate_to_datetime(modified_text)
            if modified.tzinfo is None:
                modified = modified.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            modified = None
    content_type = text(f"{_DAV}getcontenttype")
    if is_folder and content_type == "httpd/unix-directory":
        content_type = None
    return StoredFile(
        path=path,
        etag=_norm_etag(text(f"{_DAV}getetag")),
        size=size,
        modified=modified,
        content_type=content_type,
        is_folder=is_folder,
        file_id=text(f"{_OC}fileid"),
    )


def _ocs_payload(response: requests.Response) -> tuple[int, str, Any] | None:
    """(statuscode, message, data) of an OCS answer in JSON or XML, or None."""
    body = response.content
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            document = json.loads(body)
            meta = document["ocs"]["meta"]
            return (
                int(meta["statuscode"]),
                str(meta.get("message") or ""),
                document["ocs"].get("data"),
            )
        except (ValueError, KeyError, TypeError):
            return None
    if "xml" in content_type:
        try:
            root = _parse_xml(body)
        except (ET.ParseError, StorageError):
            return None
        code = root.findtext("meta/statuscode")
        if root.tag != "ocs" or code is None or not code.strip().isdigit():
            return None
        return int(code), (root.findtext("meta/message") or "").strip(), None
    return None


def _ocs_error(
    where: str, code: int, http_status: int, message: str, path: str | None
) -> StorageError:
    detail = f": {message}" if message else ""
    if code == 997 or http_status == 401:
        return Refused(
            f"{where}: the server refused the login (OCS {code}); check the user name and"
            " the app password",
            path=path,
            status=401,
        )
    if code == 403 or http_status == 403:
        return Refused(f"{where}: refused (OCS {code}){detail}", path=path, status=403)
    if code in (404, 998) or http_status == 404:
        return NotFound(f"{where}: not found (OCS {code}){detail}", path=path, status=404)
    if code == 996 or http_status >= 500:
        return Unavailable(
            f"{where}: server error (OCS {code}){detail}; retry later",
            path=path,
            status=http_status,
        )
    return StorageError(f"{where}: OCS {code}{detail}", path=path, status=http_status)
