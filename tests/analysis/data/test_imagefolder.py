"""Tests for analysis.data.imagefolder on small folders of PNG and JPEG files the tests write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analysis.data.datasets import load_dataset
from analysis.data.imagefolder import DatasetError, load_image_folder, read_image

COLOURS = {"cat": (200, 30, 30), "dog": (30, 200, 30), "owl": (30, 30, 200)}


def write_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 40)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def write_folder(root: Path, per_class: int = 5, classes: dict = COLOURS) -> Path:
    for name, colour in classes.items():
        for i in range(per_class):
            write_image(root / name / f"{i}.{'jpg' if i % 2 else 'png'}", colour)
    return root


def test_classes_from_folder_names_and_a_stated_split(tmp_path):
    root = write_folder(tmp_path / "pets", per_class=5)
    messages: list[str] = []
    ds = load_image_folder(root, log=messages.append)
    assert ds.name == "imagefolder" and ds.class_names == ("cat", "dog", "owl")
    assert (ds.n_train, ds.n_test) == (12, 3)  # 20 % of each class's 5 images is 1
    assert "'pets', 3 classes" in ds.description and "random 80/20 split, seed 0" in ds.description
    assert ds.train_images.shape == (12, 3, 32, 32) and ds.source == str(root)
    assert not messages and not ds.notes
    # Each image keeps its class's colour, so labels and pixels travel together.
    for image, label in zip(ds.train_images, ds.train_labels):
        colour = COLOURS[ds.class_names[int(label)]]
        assert np.allclose(image[:, 16, 16].numpy(), colour, atol=8)  # JPEG is lossy
    again = load_image_folder(root, log=None)
    assert again.content_hash == ds.content_hash  # the split is fixed


def test_train_and_test_folders_are_used_as_given(tmp_path):
    root = tmp_path / "given"
    write_folder(root / "train", per_class=3)
    write_folder(root / "test", per_class=2, classes={"dog": COLOURS["dog"], "owl": COLOURS["owl"]})
    ds = load_image_folder(root, log=None)
    assert ds.class_names == ("cat", "dog", "owl") and (ds.n_train, ds.n_test) == (9, 4)
    assert sorted(ds.test_labels.tolist()) == [1, 1, 2, 2]
    assert "train/ and test/" in ds.description
    write_image(root / "test" / "emu" / "0.png", (1, 2, 3))
    with pytest.raises(DatasetError, match="emu"):
        load_image_folder(root, log=None)


def test_unreadable_images_are_skipped_counted_and_named(tmp_path):
    root = write_folder(tmp_path / "pets", per_class=4)
    for i in range(7):
        (root / "dog" / f"broken{i}.png").write_bytes(b"not a png at all")
    (root / "cat" / "notes.txt").write_text("ignored: not an image suffix")
    messages: list[str] = []
    ds = load_image_folder(root, log=messages.append)
    assert ds.n_train + ds.n_test == 12
    assert len(messages) == 1 and "skipped 7 unreadable image(s)" in messages[0]
    assert "dog/broken0.png" in messages[0] and "and 2 more" in messages[0]  # the first five named
    assert ds.notes == (messages[0].split(": ", 1)[1],)
    assert ds.summary()["notes"] == list(ds.notes)


def test_one_class_and_flat_folders_say_how_to_lay_it_out(tmp_path):
    one = write_folder(tmp_path / "one", classes={"cat": COLOURS["cat"]})
    with pytest.raises(DatasetError, match="one class \\('cat'\\)") as info:
        load_image_folder(one, log=None)
    assert "one sub-folder per class" in str(info.value)
    flat = tmp_path / "flat"
    write_image(flat / "a.png", (1, 1, 1))
    with pytest.raises(DatasetError, match="1 images lie directly in it"):
        load_image_folder(flat, log=None)
    with pytest.raises(DatasetError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere", log=None)


def test_every_image_unreadable_is_an_error_not_a_crash(tmp_path):
    root = tmp_path / "bad"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "x.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DatasetError, match="no readable training images"):
        load_image_folder(root, log=None)


def test_read_image_keeps_aspect_by_cutting_the_centre(tmp_path):
    path = tmp_path / "wide.png"
    image = Image.new("RGB", (64, 32), (0, 0, 255))
    image.paste((255, 0, 0), (16, 0, 48, 32))  # red centre, blue sides
    image.save(path)
    pixels = read_image(path)
    assert pixels.shape == (3, 32, 32) and pixels.dtype == np.uint8
    assert pixels[0].min() > 200 and pixels[2].max() < 50  # only the red centre is left
    grey = tmp_path / "grey.png"
    Image.new("L", (8, 8), 90).save(grey)
    assert read_image(grey)[:, 4, 4].tolist() == [90, 90, 90]


def test_load_dataset_reads_the_folder_named_by_data_dir(tmp_path):
    root = write_folder(tmp_path / "pets", per_class=3)
    assert load_dataset("imagefolder", data_dir=root, log=None).class_names == ("cat", "dog", "owl")
