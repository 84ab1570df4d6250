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


def scene_jpeg(path: Path, size: tuple[int, int] = (4000, 3000), quality: int = 96) -> Path:
    """Write (once) a photo-like JPEG: a lit scene of shapes and edges with sensor grain,
    saved as phones save (quality 96): about 10 MB at 4000×3000, as a 12 Mpx phone photo."""
    if path.exists():
        return path
    import random

    from PIL import ImageDraw, ImageFilter

    rng = random.Random(4)
    width, height = size
    scene = Image.new("RGB", size)
    draw = ImageDraw.Draw(scene)
    for y in range(height):  # a wall lit from above, a floor below
        shade = int(200 - 90 * y / height)
        draw.line([(0, y), (width, y)], fill=(shade, shade - 12, shade - 30))
    for _ in range(140):  # shelves, boxes, tools: edges at every scale
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(40, 900), rng.randrange(40, 700)
        colour = tuple(rng.randrange(30, 230) for _ in range(3))
        (draw.rectangle if rng.random() < 0.6 else draw.ellipse)(
            [x, y, x + w, y + h], fill=colour, outline=(20, 20, 20), width=rng.randrange(1, 8))
    scene = scene.filter(ImageFilter.GaussianBlur(1.2))
    grain = Image.merge("RGB", [Image.effect_noise(size, 60) for _ in range(3)])
    out = io.BytesIO()
    Image.blend(scene, grain, 0.22).save(out, "JPEG", quality=quality)
    path.write_bytes(out.getvalue())
    return path
