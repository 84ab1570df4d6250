"""System components for tests: use them when present, skip with a reason otherwise.

With CI=true a missing component is a failure, never a skip: CI installs everything.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(available: bool, what: str, how: str) -> None:
    """Skip (or fail under CI) when a system component is missing."""
    if available:
        return
    message = f"{what} is not installed here ({how})"
    if IN_CI:
        pytest.fail(f"{message}; CI must install it", pytrace=False)
    pytest.skip(message)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")
