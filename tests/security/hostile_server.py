"""A hostile HTTP server on loopback for the security tests: fixed answers, every hit kept."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Hostile:
    port: int = 0
    routes: dict[tuple[str, str], Callable[[], Answer]] = field(default_factory=dict)
    hits: list[tuple[str, str]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.routes[(method, path)] = lambda: (
            status,
            {"Content-Type": "application/json"},
            data,
        )

    def answer(self, method: str, path: str, status: int, headers: dict[str, str],
               body: bytes = b"") -> None:
        self.routes[(method, path)] = lambda: (status, headers, body)


@contextmanager
def hostile_server() -> Iterator[Hostile]:
    state = Hostile()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            state.hits.append((self.command, path))
            route = state.routes.get((self.command, path))
            status, headers, body = route() if route else (404, {}, b"not here")
            self.send_response(status)
            for name, value in headers.items():
                if value != "-":
                    self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            elif headers["Content-Length"] == "-":  # no length: the body ends at close
                self.close_connection = True
            self.end_headers()
            # The client may stop reading: that is the point of some tests.
            with contextlib.suppress(OSError):
                self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
