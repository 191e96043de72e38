"""Learned-features mosaics (CNNVis' R3 facet): each neuron's top image patch, packed in a grid.

:meth:`analysis.pipeline.RunAnalyzer.cluster_mosaic` packs one cluster with these functions;
pipeline's clusters, reading the statistics once per neuron. The pages need mosaics of edited
clusters too, and of every cluster of a layer at once, so here a layer's tiles are cut once
(:func:`neuron_tiles`) and any list of neurons is packed from them (:func:`pack_tiles`), with the
same patch, resampling and grid as ``cluster_mosaic`` (the tests check they are identical).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .activations import receptive_patch

__all__ = ["neuron_tiles", "pack_tiles", "top_patch_boxes"]

TILE = 16
BACKGROUND = 255


def top_patch_boxes(
    top_positions: np.ndarray, field: Sequence[float] | None, image_size: int, image_height: int | None = None
) -> list[tuple[int, int, int, int]]:
    """Return the input box (top, left, bottom, right) of each neuron's strongest response.

    ``top_positions`` is the rank-0 map position of each neuron (neurons × 2); ``field`` the layer's
    receptive field (size, jump, start), ``None`` for a fully connected layer (the whole image).
    """
    height = image_size if image_height is None else image_height
    positions = np.asarray(top_positions).reshape(-1, 2)
    if field is None:
        return [(0, 0, height, image_size)] * positions.shape[0]
    field = (int(field[0]), int(field[1]), float(field[2]))
    return [receptive_patch(field, (int(p[0]), int(p[1])), image_size=image_size) for p in positions]


def neuron_tiles(
    images: torch.Tensor, image_indices: Sequence[int], boxes: Sequence[tuple[int, int, int, int]], tile: int = TILE
) -> np.ndarray:
    """Return one ``tile``×``tile`` RGB tile (uint8) per neuron: its box of its top image, resampled bilinearly.

    ``images`` are the evaluation images (N×3×H×W, 0..255); patches of one size are resampled together.
    """
    if len(image_indices) != len(boxes):
        raise ValueError(f"{len(image_indices)} images for {len(boxes)} boxes")
    tiles = np.full((len(boxes), tile, tile, 3), BACKGROUND, dtype=np.uint8)
    groups: dict[tuple[int, int], list[int]] = {}
    for neuron, (top, left, bottom, right) in enumerate(boxes):
        groups.setdefault((bottom - top, right - left), []).append(neuron)
    for members in groups.values():
        patches = torch.stack(
            [
                images[int(image_indices[n]), :, boxes[n][0] : boxes[n][2], boxes[n][1] : boxes[n][3]].float()
                for n in members
            ]
        )
        resized = F.interpolate(patches, size=(tile, tile), mode="bilinear", align_corners=False)
        # clamp then truncate, as cluster_mosaic does, so both give the same bytes
        tiles[members] = resized.clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return tiles


def pack_tiles(tiles: np.ndarray | Mapping[int, np.ndarray], members: Sequence[int]) -> np.ndarray:
    """Return the tiles of ``members`` packed row by row in a near-square grid on white (H×W×3 uint8)."""
    if not len(members):
        raise ValueError("a mosaic needs at least one neuron")
    chosen = [np.asarray(tiles[int(m)]) for m in members]
    size = chosen[0].shape[0]
    columns = int(np.ceil(np.sqrt(len(chosen))))
    rows = int(np.ceil(len(chosen) / columns))
    mosaic = np.full((rows * size, columns * size, 3), BACKGROUND, dtype=np.uint8)
    for position, tile in enumerate(chosen):
        y, x = divmod(position, columns)
        mosaic[y * size : (y + 1) * size, x * size : (x + 1) * size] = tile
    return mosaic
