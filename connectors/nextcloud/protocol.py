"""What WebDAV and Nextcloud answers look like: bodies, ETags, XML, error texts.

Small functions without state, used by :mod:`.client` and :mod:`.store`.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import tempfile
import xml.etree.ElementTree as ET  # noqa: S405 - see _parse_xml: no DTD is accepted
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import IO
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase

from connectors.storage import Body, StorageError, StoredFile, body_chunks

# Seconds: connect, then between two bytes of an answer. A web request also bounds all its
# calls together (connectors.storage.time_budget), well under a worker's timeout.
DEFAULT_TIMEOUT = (5.0, 60.0)
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
