"""Fashion-MNIST (Xiao et al. 2017) from its four idx files, brought to 32×32×3.

70,000 photographs of clothing (60,000 train, 10,000 test), 28×28 grey, 10 classes. The files are
the standard idx format: a big-endian header (magic number, item count, rows, columns) then one
unsigned byte per pixel or label. They are read, gzip-compressed or not, from the first folder that
holds all four: ``<data dir>/fashion-mnist``, ``<data dir>/FashionMNIST/raw`` (torchvision's
layout), ``<data dir>`` itself, then Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``). ``download=True`` fetches them with torchvision.

To 32×32×3: each 28×28 image gets 2 black rows/columns on every side (Fashion-MNIST's background is
black, so the pad adds no edge and no pixel is interpolated) and its grey channel is copied to
red, green and blue. Every description says "not CIFAR-10".
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from .core import IMAGE_SIZE, DatasetError, ImageDataset, data_root, describe

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
FASHION_MNIST_FOLDER = "fashion-mnist"
# Debian's dataset-fashion-mnist package installs the four .gz files here (tests point it elsewhere).
SYSTEM_FOLDERS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
DEBIAN_PACKAGE = "dataset-fashion-mnist"
HOW_TO_GET = (
    f"`sudo apt-get install {DEBIAN_PACKAGE}` (Debian/Ubuntu), or put the four idx files in "
    f"<data dir>/{FASHION_MNIST_FOLDER}, or train with --download when online"
)
# (split, kind) -> file stem; each may end in .gz or not.
FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
SIDE = 28
PAD = (IMAGE_SIZE - SIDE) // 2


def _file(folder: Path, stem: str) -> Path | None:
    """``stem.gz`` or ``stem`` in ``folder``, whichever exists (the compressed one first)."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def candidate_folders(data_dir: str | Path | None = None) -> list[Path]:
    """Where Fashion-MNIST is looked for, in order."""
    root = data_root(data_dir)
    return [root / FASHION_MNIST_FOLDER, root / "FashionMNIST" / "raw", root, *SYSTEM_FOLDERS]


def find_fashion_mnist(data_dir: str | Path | None = None) -> Path | None:
    """The first candidate folder holding all four idx files (not opened, so this is cheap), or None."""
    for folder in candidate_folders(data_dir):
        if all(_file(folder, stem) is not None for stem in FILES.values()):
            return folder
    return None


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it ends in .gz; a DatasetError naming it when that fails."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        # gzip raises BadGzipFile (an OSError) or EOFError on a truncated stream.
        raise DatasetError(
            f"{path}: damaged Fashion-MNIST file ({type(exc).__name__}: {exc}); get it again: {HOW_TO_GET}"
        ) from exc


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """One idx file as a uint8 array: ``(n,)`` for labels, ``(n, rows, cols)`` for images.

    Checks the magic number, that the header's sizes match the bytes that follow, and names the
    file in every error.
    """
    path = Path(path)
    data = _read_bytes(path)
    dims = magic & 0xFF
    header_size = 4 + 4 * dims
    if len(data) < header_size:
        raise DatasetError(f"{path}: {len(data)} bytes, shorter than an idx header ({header_size} bytes)")
    (found_magic,) = struct.unpack(">I", data[:4])
    if found_magic != magic:
        raise DatasetError(
            f"{path}: not an idx file of this kind (magic number 0x{found_magic:08x}, expected 0x{magic:08x})"
        )
    shape = struct.unpack(f">{dims}I", data[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(data) - header_size
    if found != expected:
        what = "short" if found < expected else "too long"
        raise DatasetError(
            f"{path}: {what}: the header says {' × '.join(map(str, shape))} = {expected:,} bytes, "
            f"the file holds {found:,}; get it again: {HOW_TO_GET}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28)`` and labels ``(n,)`` of one split, checked against each other."""
    images_path = _file(folder, FILES[(split, "images")])
    labels_path = _file(folder, FILES[(split, "labels")])
    if images_path is None or labels_path is None:
        missing = [stem for (s, _), stem in FILES.items() if s == split and _file(folder, stem) is None]
        raise DatasetError(f"Fashion-MNIST folder {folder} lacks {', '.join(missing)}(.gz)")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != (SIDE, SIDE):
        raise DatasetError(f"{images_path}: images are {images.shape[1]}×{images.shape[2]}, expected {SIDE}×{SIDE}")
    if len(labels) != len(images):
        raise DatasetError(f"{labels_path}: {len(labels):,} labels for {len(images):,} images in {images_path.name}")
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise DatasetError(
            f"{labels_path}: labels must lie in 0..{len(FASHION_MNIST_CLASSES) - 1}, found {int(labels.max())}"
        )
    return images, labels


def to_rgb32(images: np.ndarray) -> torch.Tensor:
    """(n, 28, 28) grey uint8 → (n, 3, 32, 32): a 2-pixel black border, grey copied to R, G and B."""
    padded = np.zeros((len(images), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    padded[:, PAD : PAD + SIDE, PAD : PAD + SIDE] = images
    return torch.from_numpy(padded).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def _download(root: Path) -> None:
    """Fetch the four files with torchvision into ``root/FashionMNIST/raw`` (checksums verified)."""
    try:
        import torchvision  # deferred: only this path needs it

        root.mkdir(parents=True, exist_ok=True)
        torchvision.datasets.FashionMNIST(root=str(root), train=True, download=True)
    except Exception as exc:
        raise DatasetError(
            f"downloading Fashion-MNIST into {root} failed ({type(exc).__name__}: {exc}). Offline: {HOW_TO_GET}"
        ) from exc


def load_fashion_mnist(data_dir: str | Path | None = None, download: bool = False) -> ImageDataset:
    """Fashion-MNIST from the first folder of :func:`candidate_folders` that holds it (see the module docstring)."""
    folder = find_fashion_mnist(data_dir)
    if folder is None and download:
        _download(data_root(data_dir))
        folder = find_fashion_mnist(data_dir)
    if folder is None:
        looked = ", ".join(str(f) for f in candidate_folders(data_dir))
        raise DatasetError(f"Fashion-MNIST not found (looked in {looked}). To get it: {HOW_TO_GET}")
    train_images, train_labels = _read_split(folder, "train")
    test_images, test_labels = _read_split(folder, "test")
    return ImageDataset(
        name="fashion-mnist",
        description=describe(
            "Fashion-MNIST, 28×28 grey padded to 32×32×3 — not CIFAR-10", len(train_labels), len(test_labels)
        ),
        class_names=FASHION_MNIST_CLASSES,
        train_images=to_rgb32(train_images),
        train_labels=torch.from_numpy(train_labels.astype(np.int64)),
        test_images=to_rgb32(test_images),
        test_labels=torch.from_numpy(test_labels.astype(np.int64)),
        source=str(folder),
    )
