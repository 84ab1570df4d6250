"""Nextcloud shares through the OCS API (``create_share``, ``list_shares``…)."""

from __future__ import annotations

import builtins
import json
import unicodedata
import xml.etree.ElementTree as ET  # noqa: S405 - parsed by _parse_xml: no DTD is accepted
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, IntFlag
from typing import Any

import requests

from connectors.nextcloud.client import NextcloudClient
from connectors.nextcloud.protocol import _parse_xml, _quote_path
from connectors.storage import (
    InvalidPath,
    NotFound,
    Refused,
    StorageError,
    Unavailable,
    normalize_path,
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


class NextcloudShares(NextcloudClient):
    """A Nextcloud folder's shares (the store adds files: :class:`NextcloudStore`)."""

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
