"""The HTTP side of a Nextcloud (or WebDAV) folder: addresses, requests, errors."""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests

from connectors.nextcloud.protocol import (
    _NEXTCLOUD_PATH,
    DEFAULT_TIMEOUT,
    _BasicAuth,
    _connection_reason,
    _header_etag,
    _sabre_error,
    _without_userinfo,
)
from connectors.storage import (
    InvalidPath,
    NotFound,
    PreconditionFailed,
    Refused,
    StorageError,
    Unavailable,
    remaining_budget,
)

log = logging.getLogger(__name__)


class NextcloudClient:
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
        timeout = self._bounded_timeout(path, action)
        try:
            response = self._session.request(
                method,
                url,
                headers=dict(headers or {}),
                data=data,
                params=params,
                auth=self._auth,
                timeout=timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise self._transport_error(exc, path, action) from None
        shown = (path or "/") if path is not None else url
        log.debug("%s %s -> %s", method, shown, response.status_code)
        return response

    def _bounded_timeout(self, path: str | None, action: str) -> float | tuple[float, float]:
        """This call's timeouts, shortened to what is left of the caller's time budget."""
        left = remaining_budget()
        if left is None:
            return self._timeout
        what = f"{action} {path!r}" if path is not None else action
        if left <= 0.05:
            raise Unavailable(
                f"{self.describe()}: cannot {what}: the time allowed for storage in this"
                " request is spent (the server is slow or hangs); retry later",
                path=path,
            )
        connect, read = (
            self._timeout if isinstance(self._timeout, tuple) else (self._timeout, self._timeout)
        )
        return (min(connect, left), min(read, left))

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
