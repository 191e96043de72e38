"""The one way the app turns pixels into something a browser shows: a PNG data URL."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png_data_url(image: np.ndarray) -> str:
    """A uint8 image — ``(H, W, 3)``, ``(3, H, W)`` or grey ``(H, W)`` — as ``data:image/png;base64,…``."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"expected an (H, W, 3), (3, H, W) or (H, W) image, got shape {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
