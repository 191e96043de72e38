"""Tests for analysis.data.datasets: the CIFAR-10 reader, the offline stand-ins, and dispatch."""

from __future__ import annotations

import json
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from analysis.data.datasets import (
    CIFAR10_CLASSES,
    DATASET_NAMES,
    DatasetError,
    ImageDataset,
    cifar10_available,
    default_data_dir,
    load_cifar10,
    load_dataset,
    load_digits32,
    make_synthetic,
)
from tests.cifar_format import write_cifar10_folder


@pytest.fixture
def cifar_root(tmp_path):
    """A data dir holding a small fake cifar-10-batches-py folder, and what was written."""
    expected = write_cifar10_folder(tmp_path, images_per_batch=20, test_images=30, seed=1)
    return tmp_path, expected


# ------------------------------------------------------------------------------ CIFAR-10


def test_cifar10_reads_back_exactly(cifar_root):
    root, expected = cifar_root
    ds = load_cifar10(root)
    assert ds.name == "cifar10"
    assert ds.class_names == CIFAR10_CLASSES
    assert ds.description == "CIFAR-10 (100 train / 30 test)"
    assert ds.train_images.dtype == torch.uint8 and ds.train_images.shape == (100, 3, 32, 32)
    assert ds.train_labels.dtype == torch.int64 and ds.train_labels.shape == (100,)
    assert ds.train_images.is_contiguous() and ds.test_images.is_contiguous()
    np.testing.assert_array_equal(ds.train_images.numpy(), expected.train_images)
    np.testing.assert_array_equal(ds.train_labels.numpy(), expected.train_labels)
    np.testing.assert_array_equal(ds.test_images.numpy(), expected.test_images)
    np.testing.assert_array_equal(ds.test_labels.numpy(), expected.test_labels)


def test_cifar10_pixel_layout_matches_raw_rows(cifar_root):
    # Check against the raw 3072-byte rows directly, independent of how the helper wrote them.
    root, _ = cifar_root
    folder = root / "cifar-10-batches-py"
    raw = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [3] * 20,
        b"data": np.zeros((20, 3072), dtype=np.uint8),
        b"filenames": [b"x.png"] * 20,
    }
    row, col = 5, 7
    raw[b"data"][2, 0 * 1024 + row * 32 + col] = 200  # red plane
    raw[b"data"][2, 1 * 1024 + row * 32 + col] = 100  # green plane
    raw[b"data"][2, 2 * 1024 + row * 32 + col] = 50  # blue plane
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump(raw, f, protocol=2)
    image = load_cifar10(root).train_images[2]
    assert image[:, row, col].tolist() == [200, 100, 50]
    assert int(image.sum()) == 350  # nothing landed anywhere else (e.g. transposed)


def test_cifar10_data_dir_may_be_parent_or_folder(cifar_root):
    root, expected = cifar_root
    from_parent = load_cifar10(root)
    from_folder = load_cifar10(root / "cifar-10-batches-py")
    assert from_parent.content_hash == from_folder.content_hash
    assert cifar10_available(root) and cifar10_available(root / "cifar-10-batches-py")


def test_cifar10_uses_env_data_dir(cifar_root, monkeypatch):
    root, _ = cifar_root
    monkeypatch.setenv("CNNCMP_DATA_DIR", str(root))
    assert default_data_dir() == root
    assert load_cifar10().n_train == 100
    monkeypatch.delenv("CNNCMP_DATA_DIR")
    monkeypatch.chdir(root)
    assert default_data_dir() == root / "data"


def test_cifar10_missing_folder_message(tmp_path):
    missing = tmp_path / "nowhere"
    assert not cifar10_available(missing)
    with pytest.raises(DatasetError) as info:
        load_cifar10(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "cifar-10-batches-py" in message
    assert "download" in message
    assert "CNNCMP_DATA_DIR" in message


def test_cifar10_incomplete_folder_names_missing_file(cifar_root):
    root, _ = cifar_root
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    assert not cifar10_available(root)
    with pytest.raises(DatasetError, match="data_batch_4"):
        load_cifar10(root)


def test_cifar10_truncated_batch_names_file(cifar_root):
    root, _ = cifar_root
    path = root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="data_batch_3") as info:
        load_cifar10(root)
    assert "truncated" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.__setitem__(b"data", np.zeros((30, 3000), np.uint8)), "shape"),
        (lambda d: d.__setitem__(b"labels", [0] * 29 + [10]), r"\[0, 10\)"),
        (lambda d: d.__setitem__(b"labels", [0] * 5), "labels"),
        (lambda d: d.pop(b"data"), "b'data'"),
    ],
)
def test_cifar10_malformed_batch(cifar_root, mutate, problem):
    root, _ = cifar_root
    path = root / "cifar-10-batches-py" / "test_batch"
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    mutate(entry)
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)
    with pytest.raises(DatasetError, match=problem) as info:
        load_cifar10(root)
    assert "test_batch" in str(info.value)


def test_cifar10_download_uses_torchvision_then_own_reader(tmp_path, monkeypatch):
    calls = []

    def fake_cifar10(root, train, download):
        calls.append((root, train, download))
        write_cifar10_folder(tmp_path / "dl", images_per_batch=2, test_images=4)

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(CIFAR10=fake_cifar10)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    ds = load_cifar10(tmp_path / "dl", download=True)
    assert calls == [(str(tmp_path / "dl"), True, True)]
    assert (ds.n_train, ds.n_test) == (10, 4)
    load_cifar10(tmp_path / "dl", download=True)  # already there: no second download
    assert len(calls) == 1


def test_cifar10_failed_download_is_dataset_error(tmp_path, monkeypatch):
    def offline(root, train, download):
        raise RuntimeError("no network")

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(CIFAR10=offline)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    with pytest.raises(DatasetError, match="no network"):
        load_cifar10(tmp_path, download=True)


# ------------------------------------------------------------------------------ dispatch


def test_auto_picks_cifar10_when_present(cifar_root):
    root, _ = cifar_root
    messages: list[str] = []
    ds = load_dataset("auto", data_dir=root, log=messages.append)
    assert ds.name == "cifar10"
    assert len(messages) == 1 and "cifar10" in messages[0]


def test_auto_falls_back_to_digits_and_says_why(tmp_path):
    messages: list[str] = []
    ds = load_dataset("auto", data_dir=tmp_path, log=messages.append)
    assert ds.name == "digits"
    assert len(messages) == 1
    assert "digits" in messages[0] and str(tmp_path) in messages[0]
    assert "cifar-10-batches-py" in messages[0]
    load_dataset("auto", data_dir=tmp_path, log=None)  # silent is allowed


def test_auto_does_not_hide_a_broken_cifar10(cifar_root):
    root, _ = cifar_root
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="test_batch"):
        load_dataset("auto", data_dir=root, log=None)


def test_named_datasets_and_unknown_name(cifar_root):
    root, _ = cifar_root
    assert load_dataset("cifar10", data_dir=root).name == "cifar10"
    assert load_dataset("digits").name == "digits"
    assert load_dataset("synthetic").name == "synthetic"
    with pytest.raises(DatasetError) as info:
        load_dataset("imagenet")
    for name in DATASET_NAMES:
        assert name in str(info.value)


# ------------------------------------------------------------------------------ stand-ins


def test_digits_shapes_split_and_description():
    ds = load_digits32()
    assert ds.name == "digits"
    assert ds.class_names == tuple(str(d) for d in range(10))
    assert ds.train_images.dtype == torch.uint8 and ds.train_images.shape == (1437, 3, 32, 32)
    assert ds.test_images.shape == (360, 3, 32, 32)
    assert ds.n_train + ds.n_test == 1797
    assert "not CIFAR-10" in ds.description
    # Grey digits: three identical channels, using the full 0..255 range.
    assert torch.equal(ds.train_images[:, 0], ds.train_images[:, 2])
    assert int(ds.train_images.max()) == 255 and int(ds.train_images.min()) == 0
    # Stratified: each class's test share is within one image of 20 %.
    train_counts = torch.bincount(ds.train_labels, minlength=10)
    test_counts = torch.bincount(ds.test_labels, minlength=10)
    assert torch.all((test_counts - 0.2 * (train_counts + test_counts)).abs() <= 1)


def test_digits_deterministic_and_fresh():
    a, b = load_digits32(), load_digits32()
    assert a.content_hash == b.content_hash
    assert a.train_images is not b.train_images
    a.train_images[0].zero_()  # mutating one result must not leak into the next
    assert load_digits32().content_hash == b.content_hash
    assert load_digits32(seed=1).content_hash != b.content_hash
    with pytest.raises(ValueError):
        load_digits32(test_fraction=1.5)


def test_synthetic_deterministic_balanced_and_separable():
    a, b = make_synthetic(seed=3), make_synthetic(seed=3)
    assert torch.equal(a.train_images, b.train_images) and a.content_hash == b.content_hash
    assert make_synthetic(seed=4).content_hash != a.content_hash
    assert a.train_images.shape == (640, 3, 32, 32) and a.train_images.dtype == torch.uint8
    assert torch.bincount(a.train_labels).tolist() == [64] * 10
    assert torch.bincount(a.test_labels).tolist() == [32] * 10
    assert "synthetic" in a.description and "not CIFAR-10" in a.description
    assert a.class_names == tuple(f"class{c}" for c in range(10))

    # Learnable: even a nearest-centroid rule on mean colour beats chance (10 %) by far.
    def colour(images):
        return images.float().mean(dim=(2, 3))

    centroids = torch.stack([colour(a.train_images[a.train_labels == c]).mean(0) for c in range(10)])
    predicted = torch.cdist(colour(a.test_images), centroids).argmin(1)
    assert (predicted == a.test_labels).float().mean() > 0.9


def test_hash_differs_between_datasets(cifar_root):
    root, _ = cifar_root
    hashes = {load_cifar10(root).content_hash, load_digits32().content_hash, make_synthetic().content_hash}
    assert len(hashes) == 3
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in hashes)


def test_channel_stats_match_direct_computation():
    ds = make_synthetic(n_train=200, n_test=10)
    pixels = ds.train_images.double() / 255
    np.testing.assert_allclose(ds.channel_mean, pixels.mean(dim=(0, 2, 3)).numpy(), atol=1e-9)
    np.testing.assert_allclose(ds.channel_std, pixels.std(dim=(0, 2, 3), unbiased=False).numpy(), atol=1e-9)
    assert len(ds.channel_mean) == 3 and all(isinstance(v, float) for v in ds.channel_std)


def test_subset_keeps_balance_and_is_deterministic():
    ds = load_digits32()
    sub = ds.subset(100, 50, seed=0)
    assert sub.name == "digits"
    assert torch.bincount(sub.train_labels, minlength=10).tolist() == [10] * 10
    assert torch.bincount(sub.test_labels, minlength=10).tolist() == [5] * 10
    assert "subset" in sub.description and "not CIFAR-10" in sub.description
    assert sub.content_hash == ds.subset(100, 50, seed=0).content_hash
    assert sub.content_hash != ds.subset(100, 50, seed=1).content_hash
    odd = ds.subset(15, None)
    assert odd.n_test == ds.n_test
    assert torch.bincount(odd.train_labels, minlength=10).max() <= 2
    again = sub.subset(20, None)
    assert again.description.count("subset") == 1
    assert ds.subset(None, None) is ds
    assert ds.subset(10**6, 10**6).n_train == ds.n_train
    with pytest.raises(ValueError):
        ds.subset(-1, None)


def test_summary_is_json_able(cifar_root):
    summary = make_synthetic().summary()
    assert json.loads(json.dumps(summary)) == summary
    identity = {"name", "description", "hash", "n_train", "n_test", "classes"}
    assert set(summary) == identity | {"source", "notes", "subset_seed"}
    assert make_synthetic().subset(64, 32, seed=3).summary()["subset_seed"] == 3
    assert summary["n_train"] == 640 and len(summary["classes"]) == 10


def test_image_dataset_validates_arrays():
    good = dict(
        name="x",
        description="x",
        class_names=("a", "b"),
        train_images=torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
        train_labels=torch.tensor([0, 1]),
        test_images=torch.zeros(1, 3, 32, 32, dtype=torch.uint8),
        test_labels=torch.tensor([1]),
    )
    assert ImageDataset(**good).num_classes == 2
    with pytest.raises(ValueError):
        ImageDataset(**{**good, "train_images": torch.zeros(2, 3, 32, 32)})
    with pytest.raises(ValueError):
        ImageDataset(**{**good, "train_labels": torch.tensor([0, 2])})
    with pytest.raises(ValueError):
        ImageDataset(**{**good, "test_labels": torch.tensor([0, 1])})
