"""Write small fake CIFAR-10 folders in the exact on-disk format of ``cifar-10-python.tar.gz``."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

CIFAR10_LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class CifarArrays(NamedTuple):
    """What was written: uint8 (N, 3, 32, 32) images and int64 labels per split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def _dump(path: Path, obj: dict) -> None:
    """Pickle ``obj`` with protocol 2, like the original Python 2 files."""
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _batch(images: np.ndarray, labels: np.ndarray, batch_label: str, offset: int) -> dict:
    """One batch dict with bytes keys; ``data`` rows are 1024 R, 1024 G, 1024 B bytes."""
    return {
        b"batch_label": batch_label.encode(),
        b"labels": [int(y) for y in labels],  # a plain list, as in the real files
        b"data": images.reshape(len(images), 3 * 32 * 32),
        b"filenames": [f"fake_{offset + i:05d}.png".encode() for i in range(len(images))],
    }


def write_cifar10_folder(root: Path, images_per_batch: int = 20, test_images: int = 20, seed: int = 0) -> CifarArrays:
    """Write ``root/cifar-10-batches-py`` with 5 data batches, test_batch and batches.meta.

    Images are random uint8; labels cycle through all ten classes (shuffled). Returns the
    arrays as written, train batches concatenated in order.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
        return images, labels

    train_parts = []
    for i in range(1, 6):
        images, labels = split(images_per_batch)
        _dump(
            folder / f"data_batch_{i}",
            _batch(images, labels, f"training batch {i} of 5", (i - 1) * images_per_batch),
        )
        train_parts.append((images, labels))
    test_imgs, test_lbls = split(test_images)
    _dump(folder / "test_batch", _batch(test_imgs, test_lbls, "testing batch 1 of 1", 0))
    _dump(
        folder / "batches.meta",
        {
            b"num_cases_per_batch": images_per_batch,
            b"label_names": [name.encode() for name in CIFAR10_LABEL_NAMES],
            b"num_vis": 3 * 32 * 32,
        },
    )
    return CifarArrays(
        train_images=np.concatenate([images for images, _ in train_parts]),
        train_labels=np.concatenate([labels for _, labels in train_parts]),
        test_images=test_imgs,
        test_labels=test_lbls,
    )
