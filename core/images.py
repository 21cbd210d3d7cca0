"""Uploaded header images: refuse anything that is not a plain picture, and store a fresh re-encoding of it."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import SchemaError

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 20_000_000
# Wider (or taller) images are scaled down to fit; a page header never needs more.
MAX_IMAGE_SIDE = 2400
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# Lossy sources stay lossy (a photo as PNG would be several megabytes); everything else becomes PNG.
_JPEG_SOURCES = frozenset({"JPEG", "WEBP"})
JPEG_QUALITY = 85

# What a malformed file may raise from inside Pillow's decoders.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error, zlib.error)
# Pillow's own, looser bomb checks (they fire before ours can). The warning is listed because it is an exception
# wherever warnings are errors (the test suite); elsewhere it is only logged and `_check_pixels` refuses.
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_TOO_MANY_PIXELS = f"The image has too many pixels; at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels are accepted."


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def stored_format(data: bytes) -> str:
    """"PNG" or "JPEG": the format of an image `prepare_image` stored, for `st.image(output_format=...)`.

    Streamlit's default ("auto") turns every opaque PNG into a JPEG, decoding and encoding it again on every
    script run (4 ms for the demo's header: bench/README.md); told the format the bytes are in, it sends them
    as they are.
    """
    return "PNG" if data.startswith(PNG_SIGNATURE) else "JPEG"


def prepare_image(data: bytes, max_side: int = MAX_IMAGE_SIDE) -> tuple[bytes, str]:
    """Check an uploaded image and return `(bytes, mime_type)` of a clean PNG or JPEG copy of it.

    Only PNG, JPEG, WebP and GIF are read, up to MAX_IMAGE_BYTES and MAX_IMAGE_PIXELS; anything else, and any
    file Pillow cannot fully decode, raises SchemaError. The result is encoded afresh from the decoded pixels,
    so EXIF (GPS positions), comments, colour profiles and whatever a polyglot file hides after or between
    its image data are all gone. Transparency keeps the image PNG; animations keep their first frame; the
    longer side is scaled down to `max_side`.
    """
    if not data:
        raise SchemaError("The image file is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise SchemaError(f"The image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB; please upload a "
                          "smaller one.")
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as probe:
            probe.verify()  # checks structure and checksums without decoding pixels
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            source_format = image.format
            _check_pixels(image.width, image.height)
            image.load()
            picture = _upright(image)
    except _BOMB_ERRORS:
        raise SchemaError(_TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise SchemaError("This file is not a PNG, JPEG, WebP or GIF image.") from None
    except _DECODE_ERRORS:
        raise SchemaError("This image file is damaged or not a picture we can read.") from None
    picture = _scaled_down(picture, max_side)
    if _has_transparency(picture):
        return _encode(picture.convert("RGBA"), "PNG"), "image/png"
    if source_format in _JPEG_SOURCES:
        return _encode(picture.convert("RGB"), "JPEG"), "image/jpeg"
    return _encode(picture.convert("RGB"), "PNG"), "image/png"


def _check_pixels(width: int, height: int) -> None:
    # Read from the header before any pixel is decoded: a few kilobytes of zeros can claim gigapixels.
    if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
        raise SchemaError(_TOO_MANY_PIXELS)


def _upright(image: Image.Image) -> Image.Image:
    """The image turned the way its EXIF orientation says, since the EXIF itself is about to be dropped."""
    try:
        return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS:
        return image.copy()  # unreadable EXIF: keep the pixels as stored


def _scaled_down(image: Image.Image, max_side: int) -> Image.Image:
    if image.width <= max_side and image.height <= max_side:
        return image
    scale = max_side / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if _has_transparency(image) else "RGB")
    return image.resize(size, Image.Resampling.LANCZOS)


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _encode(image: Image.Image, image_format: str) -> bytes:
    # A new image from the raw pixels carries no `info` (comments, ICC, EXIF) for the encoder to copy over.
    fresh = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    if image_format == "JPEG":
        fresh.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        fresh.save(buffer, format="PNG")
    return buffer.getvalue()
