"""Bring-your-own image (CNN Explainer): a PNG or JPEG upload, checked strictly, as one 32×32 uint8 image.

The checks run in the cheapest order: the byte count before anything is decoded, the format and
the pixel size from the header before the pixels are decompressed (a small file can still
declare a huge image), and the decode itself last. Every refusal is an :class:`UploadError`
whose message says what was wrong in words a user can act on.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

import numpy as np

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # 2 MiB: a photo from a phone, re-saved; never a raw camera file
MAX_IMAGE_SIDE = 4096  # pixels per side, checked from the header before decoding
IMAGE_SIZE = 32  # the family's input: CIFAR-10's 32×32
ACCEPTED_FORMATS = ("PNG", "JPEG")

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,(?P<data>.*)$", re.S)


class UploadError(ValueError):
    """An upload that cannot be used as an input image; the message says why."""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def data_url_bytes(contents: str, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The file inside a browser's ``data:<type>;base64,<data>`` URL (what ``dcc.Upload`` sends).

    The size is checked on the encoded text first, so an oversized upload is refused without
    decoding it.
    """
    if not isinstance(contents, str):
        raise UploadError("the upload arrived empty; pick the file again")
    match = _DATA_URL.match(contents.strip())
    if match is None:
        raise UploadError("the upload is not a base64 data URL; pick the file again")
    data = match.group("data")
    # Four base64 characters carry three bytes; allow for padding before decoding anything.
    if len(data) > (max_bytes + 2) // 3 * 4 + 4:
        raise UploadError(f"the file is larger than {_megabytes(max_bytes)}; upload a smaller PNG or JPEG")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError("the upload is not valid base64; pick the file again") from None
    if len(raw) > max_bytes:
        raise UploadError(
            f"the file is {_megabytes(len(raw))}, more than the {_megabytes(max_bytes)} allowed; "
            "upload a smaller PNG or JPEG"
        )
    return raw


def decode_image(
    data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_side: int = MAX_IMAGE_SIDE, size: int = IMAGE_SIZE
) -> np.ndarray:
    """A PNG or JPEG file's bytes as a uint8 ``(3, size, size)`` RGB array; refuses anything else.

    The image is turned upright (EXIF orientation), transparent pixels are laid on white, the
    central square is kept (so a round object stays round) and shrunk with an antialiasing
    filter to ``size`` × ``size``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray)) or not data:
        raise UploadError("the file is empty")
    if len(data) > max_bytes:
        raise UploadError(
            f"the file is {_megabytes(len(data))}, more than the {_megabytes(max_bytes)} allowed; "
            "upload a smaller PNG or JPEG"
        )
    with warnings.catch_warnings():
        # Pillow only warns about a decompression bomb below its hard limit; make it an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(bytes(data)), formats=list(ACCEPTED_FORMATS))
        except UnidentifiedImageError:
            raise UploadError(
                "the file is not a PNG or JPEG image (other formats, e.g. GIF, WebP or SVG, are not accepted)"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadError(f"the image is too large; at most {max_side} × {max_side} pixels") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise UploadError(f"the image could not be read ({exc})") from None
        with image:
            width, height = image.size
            if width < 1 or height < 1:
                raise UploadError("the image has no pixels")
            if width > max_side or height > max_side:
                raise UploadError(
                    f"the image is {width} × {height} pixels; at most {max_side} × {max_side} are accepted"
                )
            try:
                image.load()
                image = ImageOps.exif_transpose(image)
                rgb = _to_rgb(image)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise UploadError(f"the image is too large; at most {max_side} × {max_side} pixels") from None
            except (OSError, ValueError, SyntaxError) as exc:
                # A truncated or corrupt file fails here, after its header was read fine.
                raise UploadError(f"the image data is damaged or incomplete ({exc})") from None
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    small = square.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.ascontiguousarray(np.asarray(small, dtype=np.uint8).transpose(2, 0, 1))


def _to_rgb(image):
    """RGB pixels; transparency laid on white (as a viewer shows it), 16-bit and palettes converted."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNG: scale to 8 bits instead of letting convert() clip at 255.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray((array / peak * 255).round().astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB")


def decode_upload(contents: str, max_bytes: int = MAX_UPLOAD_BYTES, max_side: int = MAX_IMAGE_SIDE) -> np.ndarray:
    """``dcc.Upload``'s data URL → a uint8 ``(3, 32, 32)`` image (see :func:`decode_image`)."""
    return decode_image(data_url_bytes(contents, max_bytes), max_bytes=max_bytes, max_side=max_side)


def image_to_text(image: np.ndarray) -> str:
    """A uint8 ``(3, H, W)`` image as compact base64 text (to keep an upload in the browser)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError("expected a uint8 (3, H, W) image")
    header = f"{image.shape[1]}x{image.shape[2]}:"
    return header + base64.b64encode(np.ascontiguousarray(image).tobytes()).decode("ascii")


def image_from_text(text: str) -> np.ndarray:
    """The inverse of :func:`image_to_text`; refuses text it did not write."""
    if not isinstance(text, str) or ":" not in text:
        raise UploadError("the kept upload is unreadable; upload the image again")
    header, _, payload = text.partition(":")
    try:
        height, width = (int(v) for v in header.split("x"))
        raw = base64.b64decode(payload, validate=True)
    except (ValueError, binascii.Error):
        raise UploadError("the kept upload is unreadable; upload the image again") from None
    if not (0 < height <= MAX_IMAGE_SIDE and 0 < width <= MAX_IMAGE_SIDE) or len(raw) != 3 * height * width:
        raise UploadError("the kept upload is unreadable; upload the image again")
    return np.frombuffer(raw, dtype=np.uint8).reshape(3, height, width).copy()
