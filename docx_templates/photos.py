"""Photos for a dossier: reduce once when stored, check cheaply when rendered.

A phone photo is 4000×3000 and 3 to 6 MB; forty of them would make a dossier no
one can e-mail. The service keeps a reduced copy of each photo when it is stored
(`reduce_photo`, 1600 px on the long side: sharp on a printed 8 cm width and
still readable when the jury zooms on screen) and gives that copy to `render`.

`render` does not trust it blindly: `embeddable` reads each photo's header, and
decodes it (at 1/8 scale for a JPEG) when the file does not end with its end
marker, so a photo cut short is refused rather than shown half grey. It reduces
any photo still too big, turned by its EXIF tag, or in a format Word does not
show. A photo damaged in its middle but complete keeps its place: Word and
LibreOffice show what they can of it, and the document stays valid.
"""

from __future__ import annotations

import io

from docx.image.image import Image as DocxImage
from PIL import Image, ImageOps

#: Long side of the copy the service stores and the dossier shows.
STORED_MAX_SIDE = 1600
#: Above this long side, `render` reduces the photo itself (a slow path, a safety net).
RENDER_MAX_SIDE = 2400
_JPEG_QUALITY = 80
_WORD_FORMATS = frozenset({"JPEG", "PNG", "GIF"})
_EXIF_ORIENTATION = 0x0112
# Pillow refuses more than ~179 Mpx by itself; a phone photo is 12 to 50.
_MAX_PIXELS = 50_000_000


def reduce_photo(data: bytes, max_side: int = STORED_MAX_SIDE) -> bytes:
    """A JPEG copy at most `max_side` px on its long side, upright, without metadata.

    Raises ``OSError`` or ``ValueError`` (from Pillow) when `data` is not an image.
    """
    with Image.open(io.BytesIO(data)) as im:
        if im.width * im.height > _MAX_PIXELS:
            raise ValueError(f"image trop grande ({im.width}×{im.height})")
        if im.format == "JPEG":
            # Let libjpeg decode at the smallest scale still above the target
            # (4000×3000 -> 2000×1500 for 1600): about three times faster. The box
            # must keep the photo's proportions, or libjpeg keeps full scale.
            ratio = max_side / max(im.width, im.height)
            if ratio < 1:
                im.draft("RGB", (round(im.width * ratio), round(im.height * ratio)))
        upright = ImageOps.exif_transpose(im)
        if upright.mode not in ("RGB", "L"):
            upright = _flatten(upright)
        upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        # No exif=: the copy keeps no GPS position, no camera serial.
        upright.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
        return out.getvalue()


def _flatten(im: Image.Image) -> Image.Image:
    """RGB on white: a transparent PNG would turn black in a JPEG."""
    rgba = im.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


_TRAILERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82", "GIF": b";"}


def _ends_well(fmt: str | None, data: bytes) -> bool:
    """The file ends with its format's end marker: it was not cut short."""
    trailer = _TRAILERS.get(fmt or "")
    return trailer is not None and data.endswith(trailer)


def embeddable(data: bytes) -> bytes | None:
    """The bytes to put in the document for this photo, or None if it cannot be read.

    Usually `data` itself; a reduced JPEG when the photo is too large, turned by
    its EXIF orientation, or in a format that Word does not show (WebP, TIFF…).
    """
    if not isinstance(data, bytes | bytearray) or not data:
        return None
    data = bytes(data)
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            width, height = im.size
            if width * height > _MAX_PIXELS:
                return None
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            if not _ends_well(fmt, data):
                # Cut short, most likely (an upload that stopped): decode to be sure,
                # at 1/8 scale for a JPEG. A truncated file fails here.
                if fmt == "JPEG":
                    im.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                im.load()
    except Exception:
        # Pillow's decoders raise more than OSError on hostile files (struct.error,
        # IndexError…); whatever it is, the photo is unreadable, not the dossier.
        return None
    needs_copy = (
        fmt not in _WORD_FORMATS or max(width, height) > RENDER_MAX_SIDE or orientation != 1
    )
    if not needs_copy:
        try:
            DocxImage.from_blob(data)  # what python-docx will do with it
        except Exception:  # any parse failure means: re-encode it
            needs_copy = True
    if needs_copy:
        try:
            return reduce_photo(data)
        except Exception:
            return None
    return data
