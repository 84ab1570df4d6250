"""Evidence files: check what they really are, remove what they must not carry.

Photos from a phone are the main evidence. They carry EXIF data, GPS position
included: every photo is decoded, turned upright (EXIF orientation applied), and
re-encoded from its pixels only: no EXIF, XMP, IPTC, comment, text chunk or colour
profile survives. Two JPEG copies are made for pages and dossiers. PDF files are
rewritten without their metadata (document information and XMP). The type comes from
the bytes, never from the name or the browser. Sizes are checked on what the headers
declare, before anything costly is decoded.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject

from . import audio
from .errors import FileTooLarge, Invalid, UnsupportedFile

log = logging.getLogger(__name__)

try:  # HEIC photos (iPhone) are read only when pillow-heif is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC_READABLE = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIC_READABLE = False

MAX_BYTES = 25 * 1024 * 1024
# A phone photo is 12 to 50 Mpx; more is not a photo of work but a trap for memory.
MAX_PIXELS = 60_000_000
# A PNG is decoded whole: a screenshot or a scan, rarely more than an A4 page at 600 dpi.
MAX_PNG_PIXELS = 36_000_000
# 16-bit samples (or 32-bit "I"/"F" modes) weigh two to four times more per pixel.
MAX_WIDE_PIXELS = 8_000_000
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# The stored copy: a 12 Mpx phone photo keeps its size; a 48 Mpx one is decoded at half size.
FULL_SIDE = 4032
# Pillow's own bomb check agrees with ours (its warning is turned into a refusal below).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
MEDIUM_SIDE = 1400  # 8 cm at 300 dpi needs 945 px; room to crop, and 40 photos stay < 15 MB
PREVIEW_SIDE = 400
FULL_QUALITY = 90
COPY_QUALITY = 82

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}

ACCEPTED = "une photo, un document ou une note de voix"


@dataclass(frozen=True)
class PreparedFile:
    kind: str  # "photo" | "pdf" | "audio"
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
    if kind is None and (sound := audio.sniff_audio(data)) is not None:
        return _prepare_audio(data, sound)
    if kind is None:
        raise UnsupportedFile(
            f"Ce fichier n’est pas accepté. Envoyez {ACCEPTED}.", field="file"
        )
    if kind == "pdf":
        return _prepare_pdf(data)
    if kind == "heic" and not HEIC_READABLE:
        raise UnsupportedFile(
            "Cette photo d’iPhone n’est pas lue ici. Dans les réglages de l’appareil "
            "photo, choisissez « le plus compatible ».",
            field="file",
        )
    return _prepare_photo(data, kind)


def _prepare_audio(data: bytes, sound: str) -> PreparedFile:
    """A voice note, kept as recorded (bounded in size and, when the file says it, length)."""
    if len(data) > audio.MAX_AUDIO_BYTES:
        raise FileTooLarge("La note de voix est trop longue. Dites-le en moins de 3 minutes.",
                           field="file")
    length = audio.seconds(sound, data)
    if length is not None and length > audio.MAX_AUDIO_SECONDS:
        raise FileTooLarge("La note de voix est trop longue. Dites-le en moins de 3 minutes.",
                           field="file")
    return PreparedFile("audio", audio.CONTENT_TYPES[sound], audio.EXTENSIONS[sound], data)


def _prepare_pdf(data: bytes) -> PreparedFile:
    if b"%%EOF" not in data[-2048:]:
        raise UnsupportedFile("Le document est incomplet ou abîmé. Envoyez-le à nouveau.",
                              field="file")
    return PreparedFile("pdf", "application/pdf", "pdf", _pdf_without_metadata(data))


# Where a PDF keeps what it says about itself: the document information dictionary (/Info:
# author, creator, dates), XMP streams (/Metadata, on the document, its pages and images),
# application data (/PieceInfo) and dates of change (/LastModified).
_PDF_METADATA_KEYS = ("/Metadata", "/PieceInfo", "/LastModified")
# In the raw bytes of a PDF that pypdf cannot read: any of these may hold or hide metadata
# (an object stream is compressed, so what it holds cannot be seen without a parser).
_PDF_METADATA_MARKERS = (b"/Info", b"/Metadata", b"/PieceInfo", b"xmpmeta", b"/ObjStm")
MAX_PDF_PAGES = 500


def _pdf_without_metadata(data: bytes) -> bytes:
    """The PDF rewritten page by page, without its metadata (see _PDF_METADATA_KEYS).

    The pages, their content, images, fonts and annotations are kept; the document's
    outline and form dictionary are not (evidence is read, not filled in). A PDF that
    pypdf cannot read is kept as sent only when its bytes show no place metadata could
    be; otherwise it is refused: metadata never goes through.
    """
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnsupportedFile(
                "Le document est protégé par un mot de passe. Envoyez-le sans mot de passe.",
                field="file",
            )
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise FileTooLarge(f"Le document a trop de pages : {MAX_PDF_PAGES} au plus.",
                               field="file")
        writer = PdfWriter()
        for page in pages:
            writer.add_page(page)
        writer.metadata = None
        for obj in writer._objects:  # every object written, streams included
            if isinstance(obj, DictionaryObject):
                for key in _PDF_METADATA_KEYS:
                    obj.pop(key, None)
        # The XMP streams are now referred to by nothing: they are left out of the file.
        writer.compress_identical_objects()
        out = io.BytesIO()
        writer.write(out)
        rewritten = out.getvalue() if len(pages) else None
    except (UnsupportedFile, FileTooLarge):
        raise
    except Exception as error:  # noqa: BLE001 - a hostile file can break a parser in any way
        log.info("PDF evidence could not be rewritten by pypdf: %s: %.200s",
                 type(error).__name__, error)
        rewritten = None
    if rewritten is not None:
        return rewritten
    if any(marker in data for marker in _PDF_METADATA_MARKERS):
        raise UnsupportedFile(
            "Le document est incomplet ou abîmé. Envoyez-le à nouveau.", field="file"
        )
    return data


_EXPECTED_FORMAT = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIF"}


def _png_header(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, bit depth) as the PNG header declares them, read without decoding."""
    if len(data) < 26 or data[12:16] != b"IHDR":
        return None
    return (
        int.from_bytes(data[16:20], "big"),
        int.from_bytes(data[20:24], "big"),
        data[24],
    )


def _check_declared_size(image: Image.Image, data: bytes, kind: str) -> None:
    """Refuse by what the header says, before a single pixel is decoded."""
    too_big = FileTooLarge(
        "La photo a trop de pixels. Envoyez une photo plus petite.", field="file"
    )
    pixels = image.width * image.height
    if pixels > MAX_PIXELS:
        raise too_big
    if kind != "png":
        return
    header = _png_header(data)
    depth = header[2] if header else 8
    wide = depth > 8 or image.mode in _WIDE_MODES
    if pixels > MAX_PNG_PIXELS or (wide and pixels > MAX_WIDE_PIXELS):
        # A PNG is decoded whole (no reduced decoding as for JPEG), and 16-bit pixels
        # weigh twice as much: a small file can ask for a gigabyte of memory.
        raise FileTooLarge(
            "Cette image est trop lourde. Prenez une photo avec le téléphone à la place.",
            field="file",
        )


def _fitted(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size of `size` reduced to fit in a `side` × `side` square (never enlarged)."""
    width, height = size
    ratio = min(1.0, side / max(width, height))
    return max(1, round(width * ratio)), max(1, round(height * ratio))


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
                _check_declared_size(image, data, kind)
                if kind == "jpeg" and max(image.size) > FULL_SIDE:
                    # Decode at 1/2, 1/4 or 1/8 of the size when the stored copy is smaller.
                    image.draft("RGB", _fitted(image.size, FULL_SIDE))
                image.load()
                icc = image.info.get("icc_profile")
                if max(image.size) > FULL_SIDE:
                    image.thumbnail((FULL_SIDE, FULL_SIDE), Image.Resampling.LANCZOS)
                upright = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise broken from None
    # Re-encode from the pixels only: EXIF, XMP, IPTC, comments, text chunks and the colour
    # profile all stay behind (the colours are first turned into sRGB, see _pixels_only).
    upright = _pixels_only(upright, icc)
    if kind == "png":
        full = _encode_png(upright)
        content_type, extension = "image/png", "png"
    else:
        full = _encode_jpeg(upright, FULL_QUALITY)
        content_type, extension = "image/jpeg", "jpg"
    medium = _reduced(_rgb(upright), MEDIUM_SIDE)
    return PreparedFile(
        "photo",
        content_type,
        extension,
        full,
        medium=_encode_jpeg(medium, COPY_QUALITY),
        preview=_encode_jpeg(_reduced(medium, PREVIEW_SIDE), COPY_QUALITY),
        width=upright.width,
        height=upright.height,
    )


_SRGB = ImageCms.createProfile("sRGB")
_CMS_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}


def _pixels_only(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The image with nothing but its pixels: every metadata block dropped.

    The colour profile is not kept either: it can carry text (a maker, a model, a
    description, a date). So that colours stay right (a phone's Display P3 photo would
    look dull without its profile), the pixels are first converted to sRGB, the colour
    space every browser and Word assume when there is no profile.
    """
    if icc and image.mode in _CMS_MODES:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image, source, _SRGB, outputMode=_CMS_MODES[image.mode]
            )
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a profile that cannot be read: the pixels are kept as they are
    kept = {k: v for k, v in image.info.items() if k == "transparency"}
    image.info.clear()
    image.info.update(kept)
    return image


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


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    # Named empty so that nothing of the source image's info is written back.
    _rgb(image).save(out, "JPEG", quality=quality, optimize=True, exif=b"", comment=b"")
    return out.getvalue()


def _encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image.save(out, "PNG", optimize=False, exif=b"")
    return out.getvalue()
