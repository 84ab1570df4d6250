"""Phone-sized photos for the browser tests and the bench (issue 15): a noisy 4000×3000
JPEG weighs about 10 MB, as a 12 Mpx phone photo does, and compresses no better."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def noisy_jpeg(path: Path, size: tuple[int, int] = (4000, 3000), quality: int = 90) -> Path:
    """Write (once) a noisy JPEG of `size`; about 10.7 MB at 4000×3000."""
    if path.exists():
        return path
    channels = [Image.effect_noise(size, 80) for _ in range(3)]
    out = io.BytesIO()
    Image.merge("RGB", channels).save(out, "JPEG", quality=quality)
    path.write_bytes(out.getvalue())
    return path
