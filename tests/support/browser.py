"""Pages in headless Chromium: the demo service on a loopback port and one browser.

Every browser test drives the service as its people would, through the demo platform:
`served_demo` starts the app (SQLite, files and the demo platform in `folder`) on a free
port and Chromium (Debian's, through Playwright); both stop when the block ends. Chromium
is started without background networking: this machine has no network beyond loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration import create_app
from integration.settings import Settings
from tests.support import components
from tests.support.database import migrate

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Served:
    base: str  # http://127.0.0.1:<port>
    app: Any
    settings: Settings
    browser: Any
    axe: Any


@contextmanager
def served_demo(folder: Path, *, name: str, chromium_args: Sequence[str] = ()) -> Iterator[Served]:
    """The demo service and Chromium, for the length of the block."""
    executable = components.chromium_path()
    components.require(executable is not None, "Chromium", "apt-get install chromium")
    try:
        from axe_playwright_python.sync_playwright import Axe
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        components.require(False, "Playwright and axe", "pip install '.[test]'")
        raise
    from werkzeug.serving import make_server

    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    settings = Settings(var_dir=folder / "var", secret_key=name, testing=True, demo=True,
                        base_url=base)
    migrate(settings.database_url)
    holder["app"] = create_app(settings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable,
                                        args=[*CHROMIUM_ARGS, *chromium_args])
            try:
                yield Served(base, holder["app"], settings, browser, Axe())
            finally:
                browser.close()
    finally:
        server.shutdown()
        holder["app"].extensions["reperes"].engine.dispose()
