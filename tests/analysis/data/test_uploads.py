"""Uploaded images: what is accepted, what is refused, and the 32×32 image that comes out."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from analysis.data.uploads import (
    MAX_UPLOAD_BYTES,
    UploadError,
    data_url_bytes,
    decode_image,
    decode_upload,
    image_from_text,
    image_to_text,
)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` × ``height`` pixels but which carries (almost) no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_png_comes_out_as_uint8_3x32x32_with_its_colour():
    red = Image.new("RGB", (64, 64), (200, 10, 30))
    image = decode_image(encoded(red, "PNG"))
    assert image.dtype == np.uint8 and tuple(image.shape) == (3, 32, 32)
    assert image[:, 5, 5].tolist() == [200, 10, 30]


def test_jpeg_and_non_square_keep_the_central_square():
    # Left third black, middle third white, right third black: the central square is mostly white.
    array = np.zeros((30, 90, 3), dtype=np.uint8)
    array[:, 30:60] = 255
    image = decode_image(encoded(Image.fromarray(array), "JPEG", quality=95))
    assert tuple(image.shape) == (3, 32, 32)
    assert image[:, 16, 16].min() > 240  # the centre is white, not squashed stripes


def test_transparency_is_laid_on_white_and_grey_becomes_rgb():
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert decode_image(encoded(clear, "PNG")).min() == 255
    grey = Image.new("L", (40, 40), 77)
    assert decode_image(encoded(grey, "PNG"))[:, 3, 3].tolist() == [77, 77, 77]
    sixteen = Image.fromarray(np.full((10, 10), 65535, dtype=np.uint16))
    assert decode_image(encoded(sixteen, "PNG")).min() == 255


def test_exif_orientation_is_applied():
    # Top half black, bottom half white, stored with "rotate 180° to display" (orientation 3).
    array = np.zeros((64, 64, 3), dtype=np.uint8)
    array[32:] = 255
    exif = Image.Exif()
    exif[0x0112] = 3
    image = decode_image(encoded(Image.fromarray(array), "JPEG", quality=95, exif=exif.tobytes()))
    assert image[:, 2, 16].min() > 240 and image[:, 29, 16].max() < 15  # shown upside down: white on top


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: encoded(Image.new("RGB", (8, 8)), "GIF"), "not a PNG or JPEG"),
        (lambda: encoded(Image.new("RGB", (8, 8)), "BMP"), "not a PNG or JPEG"),
        (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a PNG or JPEG"),
        (lambda: b"", "empty"),
        (lambda: png_header_only(5000, 20), "5000 × 20 pixels"),
        (lambda: png_header_only(30000, 30000), "too large"),
        (lambda: encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")[:60], "damaged"),
    ],
)
def test_bad_files_are_refused_with_a_reason(make, words):
    with pytest.raises(UploadError, match=words):
        decode_image(make())


def test_size_limit_is_checked_before_decoding():
    with pytest.raises(UploadError, match="more than the 2.0 MB"):
        decode_image(b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES)
    big = "A" * (MAX_UPLOAD_BYTES * 2)
    with pytest.raises(UploadError, match="larger than 2.0 MB"):
        data_url_bytes("data:image/png;base64," + big)


def test_data_urls():
    png = encoded(Image.new("RGB", (4, 4), (9, 9, 9)), "PNG")
    assert data_url_bytes(data_url(png)) == png
    assert decode_upload(data_url(png, "image/jpeg"))[:, 0, 0].tolist() == [9, 9, 9]  # the bytes decide, not the type
    for bad in ("hello", "data:image/png;base64,@@@@", None, "data:image/png,plain"):
        with pytest.raises(UploadError):
            data_url_bytes(bad)  # type: ignore[arg-type]


def test_image_text_round_trip_and_refusals():
    image = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    assert np.array_equal(image_from_text(image_to_text(image)), image)
    for bad in ("", "32x32:AAAA", "axb:AAAA", "99999x1:" + "A" * 8, 5):
        with pytest.raises(UploadError):
            image_from_text(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        image_to_text(image.astype(np.float32))
