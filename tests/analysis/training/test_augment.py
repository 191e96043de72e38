"""Tests for analysis.training.augment: batch crop/flip and normalisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from analysis.training.augment import random_crop_flip, to_float_normalized

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _batch(n: int = 64, size: int = 8, dtype: torch.dtype = torch.uint8, device: str = "cpu"):
    """Random images with distinct-enough pixels that every crop/flip is unique."""
    g = torch.Generator().manual_seed(123)
    images = torch.randint(1, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return images.to(device=device, dtype=dtype)


def _candidates(image: torch.Tensor, padding: int) -> list[tuple[int, int, bool, torch.Tensor]]:
    """Every crop (dy, dx) of the zero-padded image, plain and flipped."""
    _, h, w = image.shape
    padded = F.pad(image, (padding,) * 4)
    out = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            out.append((dy, dx, False, crop))
            out.append((dy, dx, True, torch.flip(crop, dims=[-1])))
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_shape_dtype_device_kept(device, dtype):
    images = _batch(dtype=dtype, device=device)
    out = random_crop_flip(images, padding=4, generator=torch.Generator(device).manual_seed(0))
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device


@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_output(device):
    images = _batch(device=device)
    a = random_crop_flip(images, generator=torch.Generator(device).manual_seed(7))
    b = random_crop_flip(images, generator=torch.Generator(device).manual_seed(7))
    c = random_crop_flip(images, generator=torch.Generator(device).manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_identity_without_padding_or_flip():
    images = _batch()
    out = random_crop_flip(images, padding=0, flip=False)
    assert torch.equal(out, images)
    assert out.data_ptr() != images.data_ptr()  # a copy: callers may modify it


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_every_output_is_a_crop_or_flipped_crop_of_the_padded_input(dtype):
    images = _batch(n=48, dtype=dtype)
    padding = 2
    original = images.clone()
    out = random_crop_flip(images, padding=padding, generator=torch.Generator().manual_seed(1))
    assert torch.equal(images, original)  # input untouched
    seen_flips, seen_offsets = set(), set()
    for i in range(len(images)):
        matches = [(dy, dx, f) for dy, dx, f, c in _candidates(images[i], padding) if torch.equal(out[i], c)]
        assert len(matches) == 1, f"image {i} is not a single crop/flip of its padded input"
        dy, dx, flipped = matches[0]
        seen_flips.add(flipped)
        seen_offsets.add((dy, dx))
    assert seen_flips == {False, True}  # both branches exercised
    assert len(seen_offsets) > 10  # offsets really vary per image


def test_flip_only_flips_about_half():
    images = _batch(n=400)
    out = random_crop_flip(images, padding=0, generator=torch.Generator().manual_seed(0))
    same = (out == images).flatten(1).all(1)
    flipped = (out == torch.flip(images, dims=[-1])).flatten(1).all(1)
    assert torch.all(same ^ flipped)
    assert 150 < int(flipped.sum()) < 250


def test_crop_without_flip_never_mirrors():
    images = _batch(n=32)
    out = random_crop_flip(images, padding=3, flip=False, generator=torch.Generator().manual_seed(2))
    for i in range(len(images)):
        assert any(torch.equal(out[i], c) for *_, f, c in _candidates(images[i], 3) if not f)


def test_channels_last_kept_and_matches_contiguous():
    images = _batch(size=32)
    cl = images.contiguous(memory_format=torch.channels_last)
    a = random_crop_flip(images, generator=torch.Generator().manual_seed(5))
    b = random_crop_flip(cl, generator=torch.Generator().manual_seed(5))
    assert b.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(a, b)


def test_empty_batch_and_bad_arguments():
    empty = torch.zeros(0, 3, 32, 32, dtype=torch.uint8)
    assert random_crop_flip(empty).shape == empty.shape
    with pytest.raises(ValueError):
        random_crop_flip(torch.zeros(3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError):
        random_crop_flip(empty, padding=-1)


def test_to_float_normalized_values_and_format():
    images = _batch(n=4, size=5)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    out = to_float_normalized(images, mean, std)
    expected = (images.double() / 255 - torch.tensor(mean).double().view(1, 3, 1, 1)) / torch.tensor(std).double().view(
        1, 3, 1, 1
    )
    assert out.dtype == torch.float32 and out.shape == images.shape
    torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=0)
    cl = to_float_normalized(images.contiguous(memory_format=torch.channels_last), mean, std)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cl, out)
    # Tensors for mean/std and a single (C, H, W) image work too.
    single = to_float_normalized(images[0], torch.tensor(mean), torch.tensor(std))
    torch.testing.assert_close(single, out[0])
    with pytest.raises(TypeError):
        to_float_normalized(images.float(), mean, std)
    with pytest.raises(ValueError):
        to_float_normalized(images, mean[:2], std[:2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_reference_semantics():
    images = _batch(n=16).cuda()
    out = random_crop_flip(images, padding=2, generator=torch.Generator("cuda").manual_seed(0))
    for i in range(len(images)):
        assert any(torch.equal(out[i], c) for *_, c in _candidates(images[i], 2))
    normed = to_float_normalized(images, (0.5,) * 3, (0.25,) * 3)
    torch.testing.assert_close(normed.cpu(), to_float_normalized(images.cpu(), (0.5,) * 3, (0.25,) * 3))
    with pytest.raises(ValueError):
        random_crop_flip(images, generator=torch.Generator().manual_seed(0))
