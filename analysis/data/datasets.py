"""Image datasets for the model comparison: CIFAR-10 when present, closer or quicker stand-ins otherwise.

Every loader returns an :class:`~analysis.data.core.ImageDataset` holding uint8 ``(N, 3, 32, 32)``
images and int64 labels as CPU tensors, so the training and analysis code never cares where the
pixels came from. docs/data.md says what each one is good for and what it cannot show.

* ``cifar10``       -- the real thing, read from an extracted ``cifar-10-batches-py`` folder.
* ``fashion-mnist`` -- 70,000 photographs of clothing, 28×28 grey padded to 32×32×3
  (:mod:`.fashion_mnist`; Debian's ``dataset-fashion-mnist`` package works offline).
* ``imagefolder``   -- a folder of PNG/JPEG images, one sub-folder per class (:mod:`.imagefolder`);
  ``data_dir`` is that folder.
* ``digits``        -- scikit-learn's bundled 8×8 digits, upsampled to 32×32×3. Always there.
* ``synthetic``     -- coloured oriented stripes, generated in milliseconds; for tests and demos.
* ``auto``          -- ``cifar10``, else ``fashion-mnist``, else ``digits``; it logs which and why.

Every description but CIFAR-10's says "not CIFAR-10", so no figure passes other data off as it.

Security: the CIFAR-10 batch files are Python pickles, and unpickling can run code. The loader
only reads the folder the user put at ``data_dir`` (or ``$CNNCMP_DATA_DIR``); it never fetches
pickles from anywhere except through torchvision's checksum-verified download when asked to.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import fashion_mnist
from .core import DATA_DIR_ENV, IMAGE_SIZE, DatasetError, ImageDataset, data_root, default_data_dir, describe
from .fashion_mnist import find_fashion_mnist, load_fashion_mnist
from .imagefolder import load_image_folder

__all__ = [
    "AUTO_ORDER",
    "CIFAR10_CLASSES",
    "DATASET_NAMES",
    "DatasetError",
    "ImageDataset",
    "auto_choice",
    "cifar10_available",
    "default_data_dir",
    "load_cifar10",
    "load_dataset",
    "load_digits32",
    "load_fashion_mnist",
    "load_image_folder",
    "make_synthetic",
]

DATASET_NAMES = ("auto", "cifar10", "fashion-mnist", "imagefolder", "digits", "synthetic")
# What ``auto`` tries, best first: the first one present is used.
AUTO_ORDER = ("cifar10", "fashion-mnist", "digits")
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
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR10_FILES = (*_CIFAR10_TRAIN_FILES, "test_batch", "batches.meta")
_CIFAR10_ROW = 3 * IMAGE_SIZE * IMAGE_SIZE  # 3072 bytes: 1024 red, 1024 green, 1024 blue

# --------------------------------------------------------------------------------------------
# CIFAR-10


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
    return _why_no_cifar10(data_root(data_dir)) is None


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
    return data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE), labels


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
    root = data_root(data_dir)
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
        description=describe("CIFAR-10", len(train_labels), len(test_labels)),
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
    big = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
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
        description=describe(
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
    axis = torch.linspace(-1.0, 1.0, IMAGE_SIZE)
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
        description=describe(f"synthetic coloured stripes, {num_classes} classes — not CIFAR-10", n_train, n_test),
        class_names=tuple(f"class{c}" for c in range(num_classes)),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
    )


# --------------------------------------------------------------------------------------------
# Dispatch


def auto_choice(data_dir: str | Path | None = None) -> tuple[str, str]:
    """What ``auto`` would load from ``data_dir`` and why, from the files present (nothing is read)."""
    root = data_root(data_dir)
    why_not_cifar = _why_no_cifar10(root)
    if why_not_cifar is None:
        return "cifar10", f"found {_cifar10_folder(root)}"
    folder = find_fashion_mnist(root)
    if folder is not None:
        return "fashion-mnist", f"no CIFAR-10 ({why_not_cifar}); found Fashion-MNIST in {folder}"
    return "digits", (
        f"no CIFAR-10 ({why_not_cifar}) and no Fashion-MNIST; for better data: {fashion_mnist.HOW_TO_GET}, "
        f"or extract CIFAR-10's {CIFAR10_FOLDER} folder into {root}"
    )


def load_dataset(
    name: str = "auto",
    data_dir: str | Path | None = None,
    download: bool = False,
    log: Callable[[str], None] | None = print,
) -> ImageDataset:
    """Load a dataset by name (one of :data:`DATASET_NAMES`).

    ``auto`` picks the first of :data:`AUTO_ORDER` whose files are present (see :func:`auto_choice`;
    with ``download=True`` it first tries to download CIFAR-10) and reports the choice through ``log``.
    A dataset that is present but broken raises rather than silently falling back. For
    ``imagefolder``, ``data_dir`` is the image folder itself.
    """
    key = str(name).strip().lower()
    if key not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASET_NAMES)}")
    if key == "cifar10":
        return load_cifar10(data_dir, download=download)
    if key == "fashion-mnist":
        return load_fashion_mnist(data_dir, download=download)
    if key == "imagefolder":
        return load_image_folder(default_data_dir() if data_dir is None else data_dir, log=log)
    if key == "digits":
        return load_digits32()
    if key == "synthetic":
        return make_synthetic()

    say = log or (lambda _msg: None)
    root = data_root(data_dir)
    if download and _why_no_cifar10(root) is not None:
        try:
            dataset = load_cifar10(root, download=True)
        except DatasetError as exc:
            say(f"dataset auto: CIFAR-10 download failed ({exc})")
        else:
            say(f"dataset auto → cifar10: downloaded into {root}")
            return dataset
    choice, why = auto_choice(root)
    say(f"dataset auto → {choice}: {why}")
    return load_dataset(choice, data_dir=root, log=log)
