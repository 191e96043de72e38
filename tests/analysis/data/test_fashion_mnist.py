"""Tests for analysis.data.fashion_mnist: the idx reader on small files the tests write, and auto's order."""

from __future__ import annotations

import gzip
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.data import fashion_mnist
from analysis.data.datasets import auto_choice, load_dataset
from analysis.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    DatasetError,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
    to_rgb32,
)
from tests.cifar_format import write_cifar10_folder


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """``array`` (uint8) as an idx file: big-endian magic, then one big-endian size per dimension."""
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_fashion_mnist(folder: Path, n_train: int = 30, n_test: int = 20, compress: bool = True, seed: int = 0):
    """A small Fashion-MNIST folder in the standard layout; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        arrays[split] = (images, labels)
        for kind, array, magic, dims in (("images", images, IMAGES_MAGIC, 3), ("labels", labels, LABELS_MAGIC, 1)):
            data = idx_bytes(array, magic)
            name = f"{split}-{kind}-idx{dims}-ubyte"
            if compress:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return arrays


def test_reads_back_exactly_and_pads_to_32x32x3(tmp_path):
    arrays = write_fashion_mnist(tmp_path / "fashion-mnist")
    ds = load_fashion_mnist(tmp_path)
    assert ds.name == "fashion-mnist" and ds.class_names == FASHION_MNIST_CLASSES
    assert "not CIFAR-10" in ds.description and "(30 train / 20 test)" in ds.description
    assert ds.train_images.shape == (30, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    assert ds.source == str(tmp_path / "fashion-mnist")
    images, labels = arrays["train"]
    np.testing.assert_array_equal(ds.train_labels.numpy(), labels)
    # The 28×28 picture sits in the middle, unchanged, in all three channels; the 2-pixel border is black.
    for channel in range(3):
        np.testing.assert_array_equal(ds.train_images[:, channel, 2:30, 2:30].numpy(), images)
    border = ds.train_images.clone()
    border[:, :, 2:30, 2:30] = 0
    assert int(border.sum()) == 0
    np.testing.assert_array_equal(ds.test_labels.numpy(), arrays["t10k"][1])


def test_plain_files_and_torchvision_layout_are_found(tmp_path):
    write_fashion_mnist(tmp_path / "FashionMNIST" / "raw", compress=False)
    assert find_fashion_mnist(tmp_path) == tmp_path / "FashionMNIST" / "raw"
    assert load_fashion_mnist(tmp_path).n_train == 30


def test_system_folder_is_searched_last(tmp_path, monkeypatch):
    write_fashion_mnist(tmp_path / "system", n_train=10, n_test=10)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_FOLDERS", (tmp_path / "system",))
    assert find_fashion_mnist(tmp_path / "empty") == tmp_path / "system"
    write_fashion_mnist(tmp_path / "data" / "fashion-mnist")
    assert find_fashion_mnist(tmp_path / "data") == tmp_path / "data" / "fashion-mnist"


def test_damaged_header_names_the_file(tmp_path):
    folder = tmp_path / "fashion-mnist"
    write_fashion_mnist(folder)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    # An images header where a labels file belongs: the wrong magic number.
    path.write_bytes(gzip.compress(struct.pack(">IIII", IMAGES_MAGIC, 20, 28, 28) + bytes(20 * 784)))
    with pytest.raises(DatasetError, match="magic number") as info:
        load_fashion_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_short_file_names_the_file_and_the_sizes(tmp_path):
    folder = tmp_path / "fashion-mnist"
    write_fashion_mnist(folder, compress=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="short") as info:
        load_fashion_mnist(tmp_path)
    assert str(path) in str(info.value) and "23,520" in str(info.value)  # 30 × 28 × 28 bytes promised


def test_truncated_header_and_broken_gzip(tmp_path):
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(DatasetError, match="shorter than an idx header"):
        read_idx(tmp_path / "tiny", LABELS_MAGIC)
    folder = tmp_path / "fashion-mnist"
    write_fashion_mnist(folder)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:15])  # a gzip stream cut short
    with pytest.raises(DatasetError, match="damaged") as info:
        load_fashion_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_counts_and_labels_are_checked(tmp_path):
    folder = tmp_path / "fashion-mnist"
    write_fashion_mnist(folder)
    labels_path = folder / "train-labels-idx1-ubyte.gz"
    labels_path.write_bytes(gzip.compress(idx_bytes(np.zeros(29, dtype=np.uint8), LABELS_MAGIC)))
    with pytest.raises(DatasetError, match="29 labels for 30 images"):
        load_fashion_mnist(tmp_path)
    labels_path.write_bytes(gzip.compress(idx_bytes(np.full(30, 12, dtype=np.uint8), LABELS_MAGIC)))
    with pytest.raises(DatasetError, match="labels must lie in 0..9, found 12") as info:
        load_fashion_mnist(tmp_path)
    assert str(labels_path) in str(info.value)


def test_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist(tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(info.value) and str(tmp_path) in str(info.value)


def test_to_rgb32_shape():
    out = to_rgb32(np.full((2, 28, 28), 7, dtype=np.uint8))
    assert out.shape == (2, 3, 32, 32) and int(out[0, 1, 16, 16]) == 7 and int(out[1, 2, 0, 0]) == 0


# ------------------------------------------------------------------------------ auto's order


def test_auto_order_cifar10_then_fashion_mnist_then_digits(tmp_path):
    messages: list[str] = []
    assert auto_choice(tmp_path)[0] == "digits"
    assert "apt-get install dataset-fashion-mnist" in auto_choice(tmp_path)[1]
    assert load_dataset("auto", data_dir=tmp_path, log=messages.append).name == "digits"

    write_fashion_mnist(tmp_path / "fashion-mnist")
    name, why = auto_choice(tmp_path)
    assert name == "fashion-mnist" and "no CIFAR-10" in why and str(tmp_path / "fashion-mnist") in why
    assert load_dataset("auto", data_dir=tmp_path, log=messages.append).name == "fashion-mnist"
    assert messages[-1].startswith("dataset auto → fashion-mnist")

    write_cifar10_folder(tmp_path, images_per_batch=2, test_images=4)
    assert auto_choice(tmp_path)[0] == "cifar10"
    assert load_dataset("auto", data_dir=tmp_path, log=messages.append).name == "cifar10"
    assert len(messages) == 3


def test_auto_does_not_hide_a_broken_fashion_mnist(tmp_path):
    folder = tmp_path / "fashion-mnist"
    write_fashion_mnist(folder)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="t10k-images"):
        load_dataset("auto", data_dir=tmp_path, log=None)


def test_download_uses_torchvision_then_own_reader(tmp_path, monkeypatch):
    calls = []

    def fake_fashion_mnist(root, train, download):
        calls.append((root, train, download))
        write_fashion_mnist(Path(root) / "FashionMNIST" / "raw", n_train=10, n_test=10)

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(FashionMNIST=fake_fashion_mnist)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    ds = load_fashion_mnist(tmp_path / "dl", download=True)
    assert calls == [(str(tmp_path / "dl"), True, True)] and ds.n_train == 10
    load_fashion_mnist(tmp_path / "dl", download=True)  # already there: no second download
    assert len(calls) == 1

    def offline(root, train, download):
        raise RuntimeError("no network")

    fake.datasets = types.SimpleNamespace(FashionMNIST=offline)
    with pytest.raises(DatasetError, match="no network") as info:
        load_fashion_mnist(tmp_path / "elsewhere", download=True)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
