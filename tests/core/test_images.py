"""Header image uploads: only real pictures get in, and what is stored is a clean re-encoding of the pixels."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib

import pytest
from PIL import ExifTags, Image

from core.errors import SchemaError
from core.images import MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, prepare_image
from tests.factories.events import image_bytes

PAYLOAD = b"<script>alert('polyglot')</script>"


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` 1-bit pixels: a decompression bomb's calling card."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("data", [
    b"",
    b"hello, world",
    b"<html><body><script>alert(1)</script></body></html>",
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"GIF89a<html><script>alert(1)</script></html>",  # an image signature in front of a page
    b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
])
def test_anything_that_is_not_a_picture_is_refused(data: bytes) -> None:
    with pytest.raises(SchemaError):
        prepare_image(data)


@pytest.mark.parametrize("image_format", ["BMP", "TIFF", "ICO", "PPM"])
def test_other_image_formats_are_refused(image_format: str) -> None:
    with pytest.raises(SchemaError, match="not a PNG, JPEG, WebP or GIF"):
        prepare_image(image_bytes((32, 32), image_format=image_format))


def test_a_truncated_image_is_refused() -> None:
    data = image_bytes((400, 300), image_format="JPEG", colour="red")
    with pytest.raises(SchemaError, match="damaged"):
        prepare_image(data[: len(data) // 2])


def test_a_file_over_the_size_limit_is_refused_even_when_it_is_a_picture() -> None:
    data = image_bytes()
    prepare_image(data + b"\0" * (MAX_IMAGE_BYTES - len(data)))  # exactly at the limit is fine
    with pytest.raises(SchemaError, match="larger than 5 MB"):
        prepare_image(data + b"\0" * (MAX_IMAGE_BYTES - len(data) + 1))


def test_a_header_claiming_gigapixels_is_refused_before_decoding() -> None:
    with pytest.raises(SchemaError, match="too many pixels"):
        prepare_image(_png_claiming(50_000, 50_000))


def test_a_real_decompression_bomb_is_refused_whether_or_not_warnings_are_errors() -> None:
    bomb = image_bytes((10_000, 10_000), mode="1", colour=0)  # 100 megapixels in a few kilobytes
    assert len(bomb) < 50_000
    with pytest.raises(SchemaError, match="too many pixels"):
        prepare_image(bomb)  # here Pillow's warning is an error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # as in production
        with pytest.raises(SchemaError, match="too many pixels"):
            prepare_image(bomb)


def test_more_than_twenty_megapixels_is_refused_below_pillows_own_limit() -> None:
    with pytest.raises(SchemaError, match="too many pixels"):
        prepare_image(image_bytes((6000, 4000), mode="1", colour=0))


def test_a_polyglot_keeps_its_picture_and_loses_everything_else() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.html", PAYLOAD)
    picture = image_bytes((64, 32), colour="orange")
    for hidden in (archive.getvalue(), PAYLOAD, b"<?php system($_GET['c']); ?>"):
        data, mime = prepare_image(picture + hidden)
        assert mime == "image/png"
        assert hidden not in data and b"PK\x03\x04" not in data and b"script" not in data
        assert _open(data).tobytes() == _open(picture).convert("RGB").tobytes()


def test_comments_inside_the_image_are_dropped() -> None:
    for image_format in ("JPEG", "GIF"):
        data, _ = prepare_image(image_bytes((64, 32), image_format=image_format, comment=PAYLOAD))
        assert PAYLOAD not in data and b"polyglot" not in data


def test_exif_with_a_gps_position_is_stripped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyPhone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 26.0)
    upload = image_bytes((120, 80), image_format="JPEG", exif=exif.tobytes())
    assert _open(upload).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the upload really carries a position
    data, mime = prepare_image(upload)
    assert mime == "image/jpeg"
    assert not _open(data).getexif()
    assert b"Exif" not in data and b"SpyPhone" not in data


def test_exif_orientation_is_applied_before_it_is_dropped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored landscape, shown rotated a quarter turn
    data, _ = prepare_image(image_bytes((200, 100), image_format="JPEG", exif=exif.tobytes()))
    assert _open(data).size == (100, 200)


@pytest.mark.parametrize(("size", "expected"), [
    ((3000, 1500), (MAX_IMAGE_SIDE, 1200)),
    ((1000, 5000), (480, MAX_IMAGE_SIDE)),
    ((800, 200), (800, 200)),
])
def test_large_images_are_scaled_down_to_fit(size: tuple[int, int], expected: tuple[int, int]) -> None:
    data, _ = prepare_image(image_bytes(size))
    assert _open(data).size == expected


@pytest.mark.parametrize(("image_format", "mode", "save", "mime", "stored_mode"), [
    ("PNG", "RGBA", {}, "image/png", "RGBA"),
    ("PNG", "RGB", {}, "image/png", "RGB"),
    ("JPEG", "RGB", {}, "image/jpeg", "RGB"),
    ("WEBP", "RGB", {}, "image/jpeg", "RGB"),
    ("WEBP", "RGBA", {}, "image/png", "RGBA"),
    ("GIF", "P", {"transparency": 0}, "image/png", "RGBA"),
    ("GIF", "P", {}, "image/png", "RGB"),
])
def test_transparent_images_stay_png_and_photos_stay_jpeg(image_format: str, mode: str, save: dict[str, object],
                                                         mime: str, stored_mode: str) -> None:
    colour = (10, 20, 30, 0) if mode == "RGBA" else (0 if mode == "P" else "teal")
    data, given_mime = prepare_image(image_bytes((50, 30), mode=mode, image_format=image_format,
                                                        colour=colour, **save))
    stored = _open(data)
    assert (given_mime, stored.format, stored.mode) == (mime, mime.split("/")[1].upper(), stored_mode)
    if stored_mode == "RGBA":
        assert stored.getextrema()[3][0] == 0  # still see-through
