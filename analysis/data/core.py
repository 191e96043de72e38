"""What every dataset is: :class:`ImageDataset` (uint8 ``(N, 3, 32, 32)`` images, int64 labels) and its subsets.

The readers (:mod:`.datasets` for CIFAR-10 and the stand-ins, :mod:`.fashion_mnist`, :mod:`.imagefolder`)
all return one, so the training and analysis code never cares where the pixels came from.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..settings import read as read_setting

DATA_DIR_ENV = "CNNCMP_DATA_DIR"
IMAGE_SIZE = 32
# How many problems (unreadable files, …) a message names before it says "and N more".
NAMED_PROBLEMS = 5

# Matches the "(… train / … test)" tail of a description, including a previous subset's tail.
COUNTS_TAIL = re.compile(r"\s*\([^()]*\btrain / [^()]*\btest\)\s*$")


class DatasetError(ValueError):
    """A dataset could not be loaded; the message says what is wrong and how to fix it."""


def describe(label: str, n_train: int, n_test: int) -> str:
    """One human line for figure captions: ``label (n train / m test)``."""
    return f"{label} ({n_train:,} train / {n_test:,} test)"


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A train/test split of uint8 ``(N, 3, H, W)`` images with int64 labels.

    Treat the tensors as read-only: several datasets (and caches) may share them.
    """

    name: str
    description: str
    class_names: tuple[str, ...]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    # Where the files were read from (a folder), when that matters for reading them again; not hashed.
    source: str = ""
    # What the reader had to say about the data (e.g. images it skipped); shown with the summary.
    notes: tuple[str, ...] = ()
    # The seed that chose this subset (:meth:`subset`); None for a whole dataset.
    subset_seed: int | None = None

    def __post_init__(self) -> None:
        # Validate once here so a malformed dataset fails where it is built, not deep in training.
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "notes", tuple(str(n) for n in self.notes))
        if not self.class_names:
            raise ValueError("class_names must not be empty")
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
                raise ValueError(f"{split}_images must be a uint8 tensor")
            if images.ndim != 4 or images.shape[1] != 3:
                raise ValueError(f"{split}_images must be (N, 3, H, W), got {tuple(images.shape)}")
            if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
                raise ValueError(f"{split}_labels must be an int64 tensor")
            if labels.shape != (images.shape[0],):
                raise ValueError(f"{split}_labels must be ({images.shape[0]},), got {tuple(labels.shape)}")
            if labels.numel() and (labels.min() < 0 or labels.max() >= len(self.class_names)):
                raise ValueError(f"{split}_labels must lie in [0, {len(self.class_names)})")
            # Hashing and fast batch slicing both want plain contiguous CPU memory.
            object.__setattr__(self, f"{split}_images", images.detach().cpu().contiguous())
            object.__setattr__(self, f"{split}_labels", labels.detach().cpu().contiguous())

    @property
    def num_classes(self) -> int:
        """Number of classes (length of ``class_names``)."""
        return len(self.class_names)

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(self.train_images.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test images."""
        return int(self.test_images.shape[0])

    @functools.cached_property
    def content_hash(self) -> str:
        """First 16 hex digits of a sha256 over name, class names, and all four arrays."""
        digest = hashlib.sha256()
        digest.update(self.name.encode())
        digest.update(b"\0" + "\n".join(self.class_names).encode())
        for tensor in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            # Shape and dtype go in too, so differently cut arrays with equal bytes differ.
            digest.update(f"\0{tuple(tensor.shape)}{tensor.dtype}\0".encode())
            digest.update(tensor.numpy().data)
        return digest.hexdigest()[:16]

    @functools.cached_property
    def _channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images on the [0, 1] scale."""
        if self.n_train == 0:
            return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        # A 256-bin histogram per channel gives exact float64 moments without ever
        # materialising a float copy of the images (600 MB for CIFAR-10 in float32).
        levels = torch.arange(256, dtype=torch.float64) / 255.0
        means, stds = [], []
        for channel in range(3):
            counts = torch.bincount(self.train_images[:, channel].reshape(-1), minlength=256)
            weights = counts.to(torch.float64) / counts.sum()
            mean = float((weights * levels).sum())
            var = float((weights * (levels - mean) ** 2).sum())
            means.append(mean)
            # Floor at one grey level so normalising a constant channel never divides by zero.
            stds.append(max(var**0.5, 1.0 / 255.0))
        return tuple(means), tuple(stds)

    @property
    def channel_mean(self) -> tuple[float, float, float]:
        """Per-channel mean of the training images, on the [0, 1] scale."""
        return self._channel_stats[0]  # type: ignore[return-value]

    @property
    def channel_std(self) -> tuple[float, float, float]:
        """Per-channel standard deviation of the training images, on the [0, 1] scale."""
        return self._channel_stats[1]  # type: ignore[return-value]

    def subset(self, n_train: int | None, n_test: int | None, seed: int = 0) -> ImageDataset:
        """Return a deterministic class-balanced subset (``None`` keeps a whole split).

        Classes take turns, so every class gets ``n // num_classes`` images (one more for
        some) as long as it has that many. Original order is kept within each split.
        """
        if n_train is None and n_test is None:
            return self
        train_idx = balanced_indices(self.train_labels.numpy(), n_train, (seed, 0))
        test_idx = balanced_indices(self.test_labels.numpy(), n_test, (seed, 1))
        if train_idx is None and test_idx is None:
            return self  # nothing cut: keep the description free of a misleading "subset"
        train_images, train_labels = self.train_images, self.train_labels
        if train_idx is not None:
            train_images, train_labels = train_images[train_idx], train_labels[train_idx]
        test_images, test_labels = self.test_images, self.test_labels
        if test_idx is not None:
            test_images, test_labels = test_images[test_idx], test_labels[test_idx]
        base = COUNTS_TAIL.sub("", self.description)
        description = (
            f"{base} (subset: {len(train_labels):,} of {self.n_train:,} train"
            f" / {len(test_labels):,} of {self.n_test:,} test)"
        )
        return dataclasses.replace(
            self,
            description=description,
            subset_seed=seed,
            train_images=train_images,
            train_labels=train_labels,
            test_images=test_images,
            test_labels=test_labels,
        )

    def summary(self) -> dict[str, Any]:
        """JSON-able identity card: name, description, hash, sizes, and class names."""
        return {
            "name": self.name,
            "description": self.description,
            "hash": self.content_hash,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "classes": list(self.class_names),
            "source": self.source,
            "notes": list(self.notes),
            "subset_seed": self.subset_seed,
        }


def balanced_indices(labels: np.ndarray, n: int | None, seed: tuple[int, int]) -> torch.Tensor | None:
    """Indices of ``n`` items taken round-robin over classes, sorted; None means "all"."""
    if n is None:
        return None
    if n < 0:
        raise ValueError(f"subset size must be >= 0 or None, got {n}")
    if n >= len(labels):
        return None
    rng = np.random.default_rng(list(seed))
    perm = rng.permutation(len(labels))
    shuffled = labels[perm]
    # rank[i] = how many items of the same class come before shuffled item i.
    order = np.argsort(shuffled, kind="stable")
    sorted_labels = shuffled[order]
    group_start = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - group_start
    # Sorting by rank deals one item per class per round; ties fall back to the random order.
    chosen = perm[np.argsort(rank, kind="stable")[:n]]
    return torch.from_numpy(np.sort(chosen))


def default_data_dir() -> Path:
    """Where datasets live: ``$CNNCMP_DATA_DIR`` if set, else ``./data`` (made absolute)."""
    return Path(read_setting(DATA_DIR_ENV)).expanduser().absolute()


def data_root(data_dir: str | Path | None) -> Path:
    """``data_dir`` as an absolute path, defaulting to :func:`default_data_dir`."""
    return default_data_dir() if data_dir is None else Path(data_dir).expanduser().absolute()


def name_some(problems: list[str], limit: int = NAMED_PROBLEMS) -> str:
    """The first ``limit`` problems joined by "; ", then "and N more" when there are more."""
    shown = "; ".join(problems[:limit])
    return shown if len(problems) <= limit else f"{shown}; and {len(problems) - limit} more"
