"""A folder of PNG or JPEG images, one sub-folder per class (torchvision's ImageFolder convention).

``<folder>/<class>/<image>.png``, or with the split given: ``<folder>/train/<class>/…`` and
``<folder>/test/<class>/…``. Class names are the sub-folder names in sorted order (test classes must
be among the training ones). Without ``train/`` and ``test/`` the images are split at random,
stratified by class, into ``1 - test_fraction`` train and ``test_fraction`` test (seed 0), and the
description says so.

Each image is converted to RGB (grey copied to three channels, alpha dropped), its shorter side
scaled to 32 pixels (Pillow's bilinear filter, antialiased when shrinking), and the centre 32×32
cut out, so the aspect ratio is kept. An image that cannot be read is skipped: the loader counts
them and names the first few, and never stops on one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .core import IMAGE_SIZE, DatasetError, ImageDataset, describe, name_some

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _class_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and _visible(p)), key=lambda p: p.name)


def _image_files(folder: Path) -> list[Path]:
    """PNG and JPEG files anywhere under ``folder`` (sorted, so the order never depends on the file system)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and _visible(p))


def read_image(path: Path) -> np.ndarray:
    """One image as uint8 ``(3, 32, 32)``: RGB, shorter side scaled to 32, centre cut. Raises on unreadable files."""
    from PIL import Image  # deferred: only this reader needs Pillow

    with Image.open(path) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    scale = IMAGE_SIZE / min(width, height)
    size = (max(IMAGE_SIZE, round(width * scale)), max(IMAGE_SIZE, round(height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - IMAGE_SIZE) // 2, (size[1] - IMAGE_SIZE) // 2
    image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def _read_classes(
    folder: Path, class_names: list[str], skipped: list[str], root: Path
) -> tuple[list[np.ndarray], list[int]]:
    """Every readable image under ``folder/<class>`` for the given classes, with its label."""
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        class_folder = folder / name
        if not class_folder.is_dir():
            continue
        for path in _image_files(class_folder):
            try:
                images.append(read_image(path))
            except Exception as exc:  # noqa: BLE001 - any undecodable file is skipped, counted and named
                skipped.append(f"{path.relative_to(root)} ({type(exc).__name__})")
                continue
            labels.append(label)
    return images, labels


def _stack(images: list[np.ndarray], labels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    array = np.stack(images) if images else np.zeros((0, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    return torch.from_numpy(array), torch.tensor(labels, dtype=torch.int64)


def _check_classes(folder: Path, classes: list[Path]) -> list[str]:
    """The class names, or a DatasetError saying how the folder should look."""
    layout = f"put the images in one sub-folder per class: {folder}/<class>/<image>.png (or train/ and test/ inside)"
    if not classes:
        loose = _image_files(folder)
        detail = f"its {len(loose)} images lie directly in it" if loose else "it has no sub-folders"
        raise DatasetError(f"image folder {folder}: {detail}; {layout}")
    if len(classes) < 2:
        raise DatasetError(
            f"image folder {folder} has one class ({classes[0].name!r}); a classifier needs at least two: {layout}"
        )
    return [c.name for c in classes]


def _stratified_split(labels: torch.Tensor, test_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test indices: ``test_fraction`` of each class (at least one image while a class has two)."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for label in np.unique(labels.numpy()):
        members = rng.permutation(np.flatnonzero(labels.numpy() == label))
        n_test = min(len(members) - 1, max(1, round(test_fraction * len(members)))) if len(members) > 1 else 0
        test.append(members[:n_test])
        train.append(members[n_test:])
    empty = np.zeros(0, dtype=np.int64)
    return torch.from_numpy(np.sort(np.concatenate([empty, *train]))), torch.from_numpy(
        np.sort(np.concatenate([empty, *test]))
    )


def load_image_folder(
    folder: str | Path,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    log: Callable[[str], None] | None = print,
) -> ImageDataset:
    """Read ``folder`` (see the module docstring); skipped images are reported through ``log`` and the notes."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    root = Path(folder).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(
            f"image folder {root} does not exist; give the folder of class sub-folders with --data-dir "
            "(or $CNNCMP_DATA_DIR)"
        )
    skipped: list[str] = []
    has_split = (root / "train").is_dir() and (root / "test").is_dir()
    if has_split:
        class_names = _check_classes(root / "train", _class_folders(root / "train"))
        unknown = sorted({c.name for c in _class_folders(root / "test")} - set(class_names))
        if unknown:
            raise DatasetError(f"image folder {root}: test/ has classes train/ lacks: {', '.join(unknown)}")
        train_images, train_labels = _stack(*_read_classes(root / "train", class_names, skipped, root))
        test_images, test_labels = _stack(*_read_classes(root / "test", class_names, skipped, root))
        split = "its train/ and test/ folders"
    else:
        class_names = _check_classes(root, _class_folders(root))
        images, labels = _stack(*_read_classes(root, class_names, skipped, root))
        train_idx, test_idx = _stratified_split(labels, test_fraction)
        train_images, train_labels = images[train_idx], labels[train_idx]
        test_images, test_labels = images[test_idx], labels[test_idx]
        split = f"a random {round(100 * (1 - test_fraction))}/{round(100 * test_fraction)} split, seed {SPLIT_SEED}"
    notes = []
    if skipped:
        notes.append(f"skipped {len(skipped)} unreadable image(s): {name_some(skipped)}")
        if log:
            log(f"image folder {root}: {notes[0]}")
    if len(train_labels) == 0 or len(test_labels) == 0:
        empty = "training" if len(train_labels) == 0 else "test"
        why = f"; {notes[0]}" if notes else ""
        raise DatasetError(f"image folder {root}: no readable {empty} images ({split}){why}")
    return ImageDataset(
        name="imagefolder",
        description=describe(
            f"image folder {root.name!r}, {len(class_names)} classes, resized to 32×32, {split}",
            len(train_labels),
            len(test_labels),
        ),
        class_names=tuple(class_names),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        source=str(root),
        notes=tuple(notes),
    )
