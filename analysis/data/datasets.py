"""Image datasets for the model comparison: CIFAR-10 when present, offline stand-ins otherwise.

Every loader returns an :class:`ImageDataset` holding uint8 ``(N, 3, 32, 32)`` images and int64
labels as CPU tensors, so the training and analysis code never cares where the pixels came from.

* ``cifar10``   -- the real thing, read from an extracted ``cifar-10-batches-py`` folder.
* ``digits``    -- scikit-learn's bundled 8×8 digits, upsampled to 32×32×3. Works offline; it
  is *not* CIFAR-10 and every description says so, so no figure passes it off as CIFAR-10.
* ``synthetic`` -- coloured oriented stripes, generated in milliseconds; for tests and demos.
* ``auto``      -- ``cifar10`` if the folder is there, else ``digits`` (and it logs which and why).

Security: the CIFAR-10 batch files are Python pickles, and unpickling can run code. The loader
only reads the folder the user put at ``data_dir`` (or ``$CNNCMP_DATA_DIR``); it never fetches
pickles from anywhere except through torchvision's checksum-verified download when asked to.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..settings import read as read_setting

__all__ = [
    "CIFAR10_CLASSES",
    "DATASET_NAMES",
    "DatasetError",
    "ImageDataset",
    "cifar10_available",
    "default_data_dir",
    "load_cifar10",
    "load_dataset",
    "load_digits32",
    "make_synthetic",
]

DATASET_NAMES = ("auto", "cifar10", "digits", "synthetic")
CIFAR10_CLASSES = (
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
DATA_DIR_ENV = "CNNCMP_DATA_DIR"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_FILES = (*_CIFAR10_TRAIN_FILES, "test_batch", "batches.meta")
_IMAGE_SIZE = 32
_CIFAR10_ROW = 3 * _IMAGE_SIZE * _IMAGE_SIZE  # 3072 bytes: 1024 red, 1024 green, 1024 blue

# Matches the "(… train / … test)" tail of a description, including a previous subset's tail.
_COUNTS_TAIL = re.compile(r"\s*\([^()]*\btrain / [^()]*\btest\)\s*$")


class DatasetError(ValueError):
    """A dataset could not be loaded; the message says what is wrong and how to fix it."""


def _describe(label: str, n_train: int, n_test: int) -> str:
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

    def __post_init__(self) -> None:
        # Validate once here so a malformed dataset fails where it is built, not deep in training.
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
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
        train_idx = _balanced_indices(self.train_labels.numpy(), n_train, (seed, 0))
        test_idx = _balanced_indices(self.test_labels.numpy(), n_test, (seed, 1))
        if train_idx is None and test_idx is None:
            return self  # nothing cut: keep the description free of a misleading "subset"
        train_images, train_labels = self.train_images, self.train_labels
        if train_idx is not None:
            train_images, train_labels = train_images[train_idx], train_labels[train_idx]
        test_images, test_labels = self.test_images, self.test_labels
        if test_idx is not None:
            test_images, test_labels = test_images[test_idx], test_labels[test_idx]
        base = _COUNTS_TAIL.sub("", self.description)
        description = (
            f"{base} (subset: {len(train_labels):,} of {self.n_train:,} train"
            f" / {len(test_labels):,} of {self.n_test:,} test)"
        )
        return ImageDataset(
            name=self.name,
            description=description,
            class_names=self.class_names,
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
        }


def _balanced_indices(labels: np.ndarray, n: int | None, seed: tuple[int, int]) -> torch.Tensor | None:
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


# --------------------------------------------------------------------------------------------
# CIFAR-10


def default_data_dir() -> Path:
    """Where datasets live: ``$CNNCMP_DATA_DIR`` if set, else ``./data`` (made absolute)."""
    return Path(read_setting(DATA_DIR_ENV)).expanduser().absolute()


def _data_root(data_dir: str | Path | None) -> Path:
    """``data_dir`` as an absolute path, defaulting to :func:`default_data_dir`."""
    return default_data_dir() if data_dir is None else Path(data_dir).expanduser().absolute()


def _cifar10_folder(root: Path) -> Path | None:
    """The ``cifar-10-batches-py`` folder at ``root`` or directly under it, if either exists."""
    if (root / CIFAR10_FOLDER).is_dir():
        return root / CIFAR10_FOLDER
    if root.is_dir() and (root.name == CIFAR10_FOLDER or any((root / f).is_file() for f in _CIFAR10_FILES)):
        return root
    return None


def _missing_files(folder: Path) -> list[str]:
    """The standard CIFAR-10 files absent from ``folder``."""
    return [f for f in _CIFAR10_FILES if not (folder / f).is_file()]


def _why_no_cifar10(root: Path) -> str | None:
    """Why CIFAR-10 cannot be read from ``root``, or None if all its files are there."""
    folder = _cifar10_folder(root)
    if folder is None:
        return f"no {CIFAR10_FOLDER} folder in {root}"
    missing = _missing_files(folder)
    if missing:
        return f"{folder} lacks {', '.join(missing)}"
    return None


def cifar10_available(data_dir: str | Path | None = None) -> bool:
    """Whether all CIFAR-10 batch files are present (they are not opened, so this is cheap)."""
    return _why_no_cifar10(_data_root(data_dir)) is None


def _unpickle(path: Path) -> Any:
    """Unpickle one CIFAR-10 file, turning any failure into a DatasetError naming it."""
    try:
        with open(path, "rb") as f:
            # The files were written by Python 2; bytes keys keep them byte-exact.
            return pickle.load(f, encoding="bytes")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read CIFAR-10 file ({exc})") from exc
    except Exception as exc:
        raise DatasetError(
            f"{path}: corrupt or truncated CIFAR-10 file ({type(exc).__name__}: {exc}); "
            f"re-extract {CIFAR10_FOLDER} from {CIFAR10_URL}"
        ) from exc


def _get(entry: dict, key: str) -> Any:
    """``entry[b"key"]``, tolerating str keys from files re-pickled under Python 3."""
    return entry[key.encode()] if key.encode() in entry else entry.get(key)


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file into uint8 ``(N, 3, 32, 32)`` images and int64 labels."""
    entry = _unpickle(path)
    if not isinstance(entry, dict):
        raise DatasetError(f"{path}: expected a pickled dict, found {type(entry).__name__}")
    data, labels = _get(entry, "data"), _get(entry, "labels")
    if data is None or labels is None:
        raise DatasetError(f"{path}: missing b'data' or b'labels' entry")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _CIFAR10_ROW:
        raise DatasetError(
            f"{path}: b'data' must be a uint8 array of shape (N, {_CIFAR10_ROW}), got {data.dtype} {data.shape}"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: b'labels' is not a list of integers ({exc})") from exc
    if labels.shape != (data.shape[0],):
        raise DatasetError(f"{path}: {data.shape[0]} images but b'labels' has shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{path}: labels must lie in [0, {num_classes}), found {labels.min()}..{labels.max()}")
    # Each row is 1024 red, 1024 green, 1024 blue bytes, each plane 32×32 row-major,
    # which is exactly C-order (3, 32, 32).
    return data.reshape(-1, 3, _IMAGE_SIZE, _IMAGE_SIZE), labels


def _read_class_names(path: Path) -> tuple[str, ...]:
    """Class names from ``batches.meta``."""
    meta = _unpickle(path)
    names = _get(meta, "label_names") if isinstance(meta, dict) else None
    if not isinstance(names, (list, tuple)) or not names:
        raise DatasetError(f"{path}: no b'label_names' list")
    try:
        return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: label names are not UTF-8 ({exc})") from exc


def _download_cifar10(root: Path) -> None:
    """Fetch and extract ``cifar-10-batches-py`` into ``root`` with torchvision."""
    try:
        import torchvision  # deferred: only this path needs it

        root.mkdir(parents=True, exist_ok=True)
        # torchvision verifies the archive's md5 and extracts it to root/cifar-10-batches-py;
        # we then read the files with our own reader like any user-provided folder.
        torchvision.datasets.CIFAR10(root=str(root), train=True, download=True)
    except Exception as exc:
        raise DatasetError(
            f"downloading CIFAR-10 into {root} failed ({type(exc).__name__}: {exc}). "
            f"Without internet access, fetch {CIFAR10_URL} elsewhere and extract its "
            f"{CIFAR10_FOLDER} folder into {root}"
        ) from exc


def load_cifar10(data_dir: str | Path | None = None, download: bool = False) -> ImageDataset:
    """Load CIFAR-10 from an extracted ``cifar-10-batches-py`` folder.

    ``data_dir`` may be that folder or its parent; default :func:`default_data_dir`. With
    ``download=True`` a missing folder is fetched with torchvision first (needs internet).
    Only pickles the user placed in that folder are read (see the module docstring).
    """
    root = _data_root(data_dir)
    if download and _why_no_cifar10(root) is not None:
        folder = _cifar10_folder(root)
        # Re-extract over an incomplete folder by downloading into its parent.
        target = folder.parent if folder is not None and folder.name == CIFAR10_FOLDER else root
        _download_cifar10(target)
    folder = _cifar10_folder(root)
    if folder is None:
        raise DatasetError(
            f"CIFAR-10 not found: looked for {root / CIFAR10_FOLDER} (and for its batch files "
            f"directly in {root}). Extract the {CIFAR10_FOLDER} folder from {CIFAR10_URL} into "
            f"{root}, or set {DATA_DIR_ENV} to the directory that holds it; or use --download "
            f"(download=True) to fetch it with torchvision when online."
        )
    missing = _missing_files(folder)
    if missing:
        raise DatasetError(
            f"CIFAR-10 folder {folder} is incomplete: missing {', '.join(missing)}. "
            f"Re-extract {CIFAR10_FOLDER} from {CIFAR10_URL}, or use --download "
            f"(download=True) to fetch it with torchvision when online."
        )
    class_names = _read_class_names(folder / "batches.meta")
    train = [_read_batch(folder / f, len(class_names)) for f in _CIFAR10_TRAIN_FILES]
    test_images, test_labels = _read_batch(folder / "test_batch", len(class_names))
    # np.concatenate copies, so the tensors own writable, contiguous memory.
    train_images = torch.from_numpy(np.concatenate([images for images, _ in train]))
    train_labels = torch.from_numpy(np.concatenate([labels for _, labels in train]))
    return ImageDataset(
        name="cifar10",
        description=_describe("CIFAR-10", len(train_labels), len(test_labels)),
        class_names=class_names,
        train_images=train_images,
        train_labels=train_labels,
        test_images=torch.from_numpy(np.array(test_images)),
        test_labels=torch.from_numpy(np.array(test_labels)),
    )


# --------------------------------------------------------------------------------------------
# Offline stand-ins


@functools.lru_cache(maxsize=1)
def _digits32() -> tuple[torch.Tensor, np.ndarray]:
    """All 1,797 scikit-learn digits as uint8 (N, 3, 32, 32) plus labels; cached, read-only."""
    from sklearn.datasets import load_digits  # deferred: sklearn is slow to import

    bunch = load_digits()
    small = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1)  # values 0..16
    big = F.interpolate(small, size=(_IMAGE_SIZE, _IMAGE_SIZE), mode="bilinear", align_corners=False)
    # Bilinear weights are convex, so values stay in 0..16 and map onto the full 0..255 range.
    gray = (big * (255.0 / 16.0)).round_().clamp_(0, 255).to(torch.uint8)
    return gray.expand(-1, 3, -1, -1).contiguous(), bunch.target.astype(np.int64)


def load_digits32(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8×8 digits, bilinearly resized to 32×32×3, with a stratified split.

    Bundled with scikit-learn, so it works offline. It is NOT CIFAR-10; the description says so.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.model_selection import train_test_split

    images, labels = _digits32()
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=seed
    )
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    all_labels = torch.from_numpy(labels)
    # Advanced indexing copies, so the cached tensors are never handed out.
    return ImageDataset(
        name="digits",
        description=_describe(
            "scikit-learn digits, 8×8 resized to 32×32×3 — not CIFAR-10",
            len(train_idx),
            len(test_idx),
        ),
        class_names=tuple(str(d) for d in range(10)),
        train_images=images[train_idx],
        train_labels=all_labels[train_idx],
        test_images=images[test_idx],
        test_labels=all_labels[test_idx],
    )


def _synthetic_split(n: int, num_classes: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noisy striped images, classes balanced, drawn from ``generator``."""
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=generator)]
    classes = labels.to(torch.float32)
    # Class c: hue c/K on a colour wheel, and stripes at angle c·π/K. Either cue alone
    # separates the classes, so a tiny CNN learns them in a few epochs.
    hue = classes[:, None] / num_classes + torch.tensor([0.0, 1 / 3, 2 / 3])
    colour = 0.5 + 0.35 * torch.cos(2 * torch.pi * hue)  # (n, 3)
    angle = classes * torch.pi / num_classes
    axis = torch.linspace(-1.0, 1.0, _IMAGE_SIZE)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    # Random phase and brightness per image, so images of one class are not copies.
    phase = torch.rand(n, generator=generator) * 2 * torch.pi
    brightness = 0.85 + 0.3 * torch.rand(n, generator=generator)
    coord = xx * torch.cos(angle)[:, None, None] + yy * torch.sin(angle)[:, None, None]
    stripes = 0.5 + 0.5 * torch.sin(7.0 * coord + phase[:, None, None])  # (n, H, W)
    images = colour[:, :, None, None] * (0.55 + 0.45 * stripes[:, None])
    images = images * brightness[:, None, None, None]
    images = images + 0.06 * torch.randn(images.shape, generator=generator)
    return (images.clamp_(0, 1) * 255).round_().to(torch.uint8), labels


def make_synthetic(n_train: int = 640, n_test: int = 320, num_classes: int = 10, seed: int = 0) -> ImageDataset:
    """A fast, deterministic, learnable toy dataset of coloured oriented stripes (not CIFAR-10)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if n_train < 0 or n_test < 0:
        raise ValueError(f"sizes must be >= 0, got n_train={n_train}, n_test={n_test}")
    generator = torch.Generator().manual_seed(seed)
    train_images, train_labels = _synthetic_split(n_train, num_classes, generator)
    test_images, test_labels = _synthetic_split(n_test, num_classes, generator)
    return ImageDataset(
        name="synthetic",
        description=_describe(f"synthetic coloured stripes, {num_classes} classes — not CIFAR-10", n_train, n_test),
        class_names=tuple(f"class{c}" for c in range(num_classes)),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
    )


# --------------------------------------------------------------------------------------------
# Dispatch


def load_dataset(
    name: str = "auto",
    data_dir: str | Path | None = None,
    download: bool = False,
    log: Callable[[str], None] | None = print,
) -> ImageDataset:
    """Load a dataset by name (one of :data:`DATASET_NAMES`).

    ``auto`` picks CIFAR-10 when its files are in ``data_dir`` (or downloads it when
    ``download=True``), else the digits stand-in, and reports the choice through ``log``.
    A CIFAR-10 folder that is present but broken raises rather than silently falling back.
    """
    key = str(name).strip().lower()
    if key not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASET_NAMES)}")
    if key == "cifar10":
        return load_cifar10(data_dir, download=download)
    if key == "digits":
        return load_digits32()
    if key == "synthetic":
        return make_synthetic()

    say = log or (lambda _msg: None)
    root = _data_root(data_dir)
    why_not = _why_no_cifar10(root)
    if why_not is None:
        say(f"dataset auto → cifar10: found {_cifar10_folder(root)}")
        return load_cifar10(root)
    if download:
        try:
            dataset = load_cifar10(root, download=True)
        except DatasetError as exc:
            why_not = f"download failed ({exc})"
        else:
            say(f"dataset auto → cifar10: downloaded into {root}")
            return dataset
    say(
        f"dataset auto → digits: {why_not} (put CIFAR-10's {CIFAR10_FOLDER} folder there, "
        f"or set {DATA_DIR_ENV}, for the real thing)"
    )
    return load_digits32()
