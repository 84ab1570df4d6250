"""Evidence files: check what they really are, remove what they must not carry.

Photos from a phone are the main evidence. They carry EXIF data, GPS position
included: every photo is decoded, turned upright (EXIF orientation applied), and
re-encoded without metadata. Two JPEG copies are made for pages and dossiers. PDF files
are kept as sent. The type comes from the bytes, never from the name or the browser.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import FileTooLarge, Invalid, UnsupportedFile

try:  # HEIC photos (iPhone) are read only when pillow-heif is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC_READABLE = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIC_READABLE = False

MAX_BYTES = 25 * 1024 * 1024
# A phone photo is 12 to 50 Mpx; more is not a photo of work but a trap for memory.
MAX_PIXELS = 60_000_000
MEDIUM_SIDE = 1400  # 8 cm at 300 dpi needs 945 px; room to crop, and 40 photos stay < 15 MB
PREVIEW_SIDE = 400
FULL_QUALITY = 90
COPY_QUALITY = 82

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}

ACCEPTED = "une photo (JPEG, PNG, HEIC) ou un PDF"


@dataclass(frozen=True)
class PreparedFile:
    kind: str  # "photo" | "pdf"
    content_type: str
    extension: str
    full: bytes
    medium: bytes | None = None
    preview: bytes | None = None
    width: int | None = None
    height: int | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.full).hexdigest()


def sniff(data: bytes) -> str | None:
    """The real type of a file from its first bytes: jpeg, png, heic, pdf, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def prepare(data: bytes) -> PreparedFile:
    """Check a received file and make what is stored; raises a ParcoursError when refused."""
    if not data:
        raise Invalid("Le fichier est vide. Choisissez une autre photo.", field="file")
    if len(data) > MAX_BYTES:
        raise FileTooLarge(
            f"Le fichier est trop gros : {MAX_BYTES // (1024 * 1024)} Mo au plus.", field="file"
        )
    kind = sniff(data)
    if kind is None:
        raise UnsupportedFile(
            f"Ce fichier n’est pas accepté. Envoyez {ACCEPTED}.", field="file"
        )
    if kind == "pdf":
        return _prepare_pdf(data)
    if kind == "heic" and not HEIC_READABLE:
        raise UnsupportedFile(
            "Les photos HEIC ne sont pas lues ici. "
            "Sur le téléphone, choisissez le format « le plus compatible » (JPEG).",
            field="file",
        )
    return _prepare_photo(data, kind)


def _prepare_pdf(data: bytes) -> PreparedFile:
    if b"%%EOF" not in data[-2048:]:
        raise UnsupportedFile("Le PDF est incomplet ou abîmé. Envoyez-le à nouveau.", field="file")
    return PreparedFile("pdf", "application/pdf", "pdf", data)


_EXPECTED_FORMAT = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIF"}


def _prepare_photo(data: bytes, kind: str) -> PreparedFile:
    broken = UnsupportedFile(
        "La photo est abîmée ou n’est pas une vraie photo. Envoyez-en une autre.", field="file"
    )
    too_big = FileTooLarge(
        "La photo a trop de pixels. Envoyez une photo plus petite.", field="file"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format != _EXPECTED_FORMAT[kind]:
                    raise broken
                if image.width * image.height > MAX_PIXELS:
                    raise too_big
                image.load()
                upright = ImageOps.exif_transpose(image)
                icc = image.info.get("icc_profile")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise broken from None
    # Re-encode from the pixels only: EXIF, XMP, GPS and text chunks stay behind.
    if kind == "png":
        full = _encode_png(upright)
        content_type, extension = "image/png", "png"
    else:
        full = _encode_jpeg(upright, FULL_QUALITY, icc)
        content_type, extension = "image/jpeg", "jpg"
    return PreparedFile(
        "photo",
        content_type,
        extension,
        full,
        medium=_encode_jpeg(_reduced(upright, MEDIUM_SIDE), COPY_QUALITY, icc),
        preview=_encode_jpeg(_reduced(upright, PREVIEW_SIDE), COPY_QUALITY, icc),
        width=upright.width,
        height=upright.height,
    )


def _reduced(image: Image.Image, side: int) -> Image.Image:
    if max(image.size) <= side:
        return image
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _encode_jpeg(image: Image.Image, quality: int, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "optimize": True}
    if icc:
        options["icc_profile"] = icc
    _rgb(image).save(out, "JPEG", **options)
    return out.getvalue()


def _encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image.save(out, "PNG", optimize=False)
    return out.getvalue()
