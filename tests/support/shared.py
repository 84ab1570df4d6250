"""Where the shared material lives: ../shared beside the checkout, or $REPERES_SHARED_DIR."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DIR = Path(
    os.environ.get("REPERES_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")
)
DATA_DIR = SHARED_DIR / "data"
