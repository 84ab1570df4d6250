"""A real WebDAV server for tests: WsgiDAV under cheroot, on 127.0.0.1.

The folder is served under the same path shape as Nextcloud
(``/remote.php/dav/files/USER/``) with basic auth, so ``NextcloudStore`` treats
it as a Nextcloud folder for everything WebDAV. It can be stopped and started
again on the same port (an outage), and :class:`Faults` makes it answer a chosen
status (507, 401, 503...) or cut the connection in the middle of an upload.

Notes for test writers: WsgiDAV's ETag is ``inode-mtime-size``, so two writes of
the same size within the same second may keep the same ETag: vary the sizes.
WsgiDAV accepts an unquoted ``If-Match`` where Nextcloud does not.

Run ``python tests/webdav_server.py ROOT`` to serve a folder from another process
(the benchmark does, to measure the client alone).
"""

from __future__ import annotations

import argparse
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

DEFAULT_USER = "reperes"
DEFAULT_PASSWORD = "app-password-Xy7-never-logged"


@dataclass
class SeenRequest:
    """One request as the server received it (before WsgiDAV)."""

    method: str
    path: str  # percent-encoded, as on the request line
    headers: dict[str, str]


@dataclass
class _Fault:
    kind: str  # "status", "drop" or "delay"
    methods: frozenset[str] | None
    path_contains: str | None
    times: int
    status: int = 503
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    after_bytes: int = 0
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return self.path_contains is None or self.path_contains in path


class Faults:
    """Failures to inject, each for the next ``times`` matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def answer(
        self,
        status: int,
        *,
        methods: Iterable[str] | None = None,
        path_contains: str | None = None,
        times: int = 1,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Answer ``status`` instead of serving (the request body is read first)."""
        self._add(
            _Fault(
                "status",
                _methods(methods),
                path_contains,
                times,
                status=status,
                body=body,
                headers=list(headers),
            )
        )

    def drop_connection(
        self,
        *,
        methods: Iterable[str] | None = ("PUT",),
        path_contains: str | None = None,
        after_bytes: int = 64 * 1024,
        times: int = 1,
    ) -> None:
        """Read ``after_bytes`` of the body, then cut the TCP connection without answering."""
        self._add(_Fault("drop", _methods(methods), path_contains, times, after_bytes=after_bytes))

    def delay(
        self,
        seconds: float,
        *,
        methods: Iterable[str] | None = None,
        path_contains: str | None = None,
        times: int = 1,
    ) -> None:
        """Wait before serving (to trigger client timeouts)."""
        self._add(_Fault("delay", _methods(methods), path_contains, times, seconds=seconds))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(m.upper() for m in methods)


class _FaultMiddleware:
    """Records each request, then serves it, or fails it as scripted."""

    def __init__(self, app: WsgiApp, faults: Faults, seen: list[SeenRequest]) -> None:
        self.app = app
        self.faults = faults
        self.seen = seen

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        for key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        self.seen.append(SeenRequest(method, path, headers))
        fault = self.faults.take(method, path)
        if fault is None:
            return self.app(environ, start_response)
        if fault.kind == "delay":
            time.sleep(fault.seconds)
            return self.app(environ, start_response)
        if fault.kind == "drop":
            _read_body(environ, limit=fault.after_bytes)
            _cut_connection(environ)
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return []
        _read_body(environ)
        reason = _REASONS.get(fault.status, "Error")
        start_response(
            f"{fault.status} {reason}",
            [("Content-Length", str(len(fault.body))), *fault.headers],
        )
        return [fault.body]


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    423: "Locked",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}


def _read_body(environ: Environ, limit: int | None = None) -> int:
    stream = environ["wsgi.input"]
    try:
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        remaining = 0
    if limit is not None:
        remaining = min(remaining, limit)
    read = 0
    while remaining > 0:
        chunk = stream.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        read += len(chunk)
        remaining -= len(chunk)
    return read


def _cut_connection(environ: Environ) -> None:
    """Shut the client's socket down (cheroot: wsgi.input -> StreamReader -> SocketIO)."""
    raw = getattr(getattr(environ["wsgi.input"], "rfile", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    if isinstance(sock, socket.socket):
        sock.shutdown(socket.SHUT_RDWR)


class WebDavServer:
    """WsgiDAV serving ``root`` at ``http://127.0.0.1:PORT/remote.php/dav/files/USER/``."""

    def __init__(
        self,
        root: Path,
        *,
        username: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        port: int = 0,
        mount: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.port = port
        # Nextcloud's shape by default; another mount makes a "plain WebDAV" server.
        self.mount = mount if mount is not None else f"/remote.php/dav/files/{username}"
        self.faults = Faults()
        self.seen: list[SeenRequest] = []
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        dav = WsgiDAVApp(
            {
                "provider_mapping": {self.mount: str(self.root)},
                "http_authenticator": {
                    "domain_controller": None,
                    "accept_basic": True,
                    "accept_digest": False,
                    "default_to_digest": False,
                },
                "simple_dc": {"user_mapping": {"*": {username: {"password": password}}}},
                "verbose": 0,
                "logging": {"enable": False},
                "lock_storage": True,
                "property_manager": True,
                "dir_browser": {"enable": False},
            }
        )
        self.app = _FaultMiddleware(dav, self.faults, self.seen)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def folder_url(self, folder: str = "") -> str:
        """The WebDAV URL of a folder below the served root (percent-encoded)."""
        encoded = "/".join(quote(part, safe="") for part in folder.split("/") if part)
        return f"{self.url}{self.mount}/{encoded}".rstrip("/")

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> WebDavServer:
        """Listen (again, on the same port once one was chosen) and serve in a thread."""
        if self._server is not None:
            return self
        if self.port == 0:
            # cheroot sets SO_REUSEADDR only for a given port; without it on the
            # first socket, the port stays taken for a minute after stop().
            self.port = _free_port()
        server = wsgi.Server(("127.0.0.1", self.port), self.app, numthreads=4)
        server.shutdown_timeout = 1
        server.expiration_interval = 0.05  # stop() waits for one poll of this length
        deadline = time.monotonic() + 10
        while True:
            try:
                server.prepare()
                break
            except OSError:
                # The port of a server just stopped may take a moment to free.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.port = server.bind_addr[1]
        thread = threading.Thread(target=server.serve, name=f"webdav-{self.port}", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop listening and close open connections (an outage, until start())."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.stop()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> WebDavServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_in_thread(root: Path, **kwargs: Any) -> Iterator[WebDavServer]:
    """A generator for pytest fixtures: ``yield from serve_in_thread(tmp_path)``."""
    server = WebDavServer(root, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


# -- recorded Nextcloud 34 exchanges (shared/data/nextcloud-34) -----------------------

from tests.support.shared import SHARED_DIR  # noqa: E402

RECORDINGS_DIR = SHARED_DIR / "data" / "nextcloud-34"
_BINARY = re.compile(r"^<binary, (\d+) bytes, sha256=([0-9a-f]{64})>$")


@dataclass(frozen=True)
class Recording:
    """One recorded request and answer, as the .txt files lay them out."""

    name: str
    title: str
    method: str
    target: str  # the request target, as recorded
    request_headers: dict[str, str]
    request_body: bytes | None  # None when the recording only gives a digest
    request_sha256: str | None
    status: int
    headers: dict[str, str]
    body: bytes  # text bodies (pretty-printed by the recorder); b"" when empty

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def replay_headers(self) -> dict[str, str]:
        """Response headers worth replaying (no cookies, no stale lengths)."""
        skip = {"set-cookie", "content-length", "connection", "x-powered-by"}
        return {k: v for k, v in self.headers.items() if k.lower() not in skip}


def recording(prefix: str) -> Recording:
    """Load a recording by its number or name, e.g. ``recording("86")``."""
    if not RECORDINGS_DIR.is_dir():
        raise FileNotFoundError(
            f"Nextcloud recordings not found at {RECORDINGS_DIR}; set REPERES_SHARED_DIR"
        )
    matches = sorted(RECORDINGS_DIR.glob(f"{prefix}-*.txt")) or sorted(
        RECORDINGS_DIR.glob(f"{prefix}.txt")
    )
    if len(matches) != 1:
        raise FileNotFoundError(f"no single recording named {prefix!r} in {RECORDINGS_DIR}")
    return parse_recording(matches[0])


def parse_recording(file: Path) -> Recording:
    text = file.read_text(encoding="utf-8")
    head, _, rest = text.partition("=== REQUEST ===\n")
    request_text, _, response_text = rest.partition("=== RESPONSE ===\n")
    title = next((line[2:] for line in head.splitlines() if line.startswith("# ")), "")
    request_line, request_headers, request_body = _message(request_text)
    method, target, _ = request_line.split(" ", 2)
    status_line, headers, body = _message(response_text)
    raw_request = request_body.strip()
    binary = _BINARY.match(raw_request)
    return Recording(
        name=file.stem,
        title=title,
        method=method,
        target=target,
        request_headers=request_headers,
        request_body=None if binary else _body(request_body),
        request_sha256=binary.group(2) if binary else None,
        status=int(status_line.split(" ", 2)[1]),
        headers=headers,
        body=_body(body),
    )


def _message(text: str) -> tuple[str, dict[str, str], str]:
    head, _, body = text.partition("\n\n")
    lines = [line for line in head.splitlines() if line and not line.startswith("(")]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip()] = value.strip()
    return lines[0], headers, body


def _body(text: str) -> bytes:
    text = text.strip()
    return b"" if text in ("", "(empty)") else text.encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a folder over WebDAV for tests.")
    parser.add_argument("root", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default=DEFAULT_USER)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    args = parser.parse_args()
    server = WebDavServer(args.root, username=args.user, password=args.password, port=args.port)
    server.start()
    print(server.folder_url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
