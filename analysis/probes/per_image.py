"""Per-image views: every layer's activation maps, and occlusion sensitivity (Zeiler & Fergus 2014)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from model_zoo import FamilyCNN

from ..training.evaluation import Normalization


def _as_batch(image: torch.Tensor, normalization: Normalization, device: torch.device) -> torch.Tensor:
    if image.dtype != torch.uint8 or image.dim() != 3:
        raise ValueError(f"expected one uint8 (C, H, W) image, got {image.dtype} {tuple(image.shape)}")
    return normalization(image[None].to(device)).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def activation_maps(model: FamilyCNN, image: torch.Tensor, normalization: Normalization) -> dict[str, np.ndarray]:
    """Every analysable layer's output for one image: (C, H, W) maps for convs, (units,) for FC layers."""
    device = next(model.parameters()).device
    maps: dict[str, np.ndarray] = {}
    handles = []
    for layer in model.analysable_layers():

        def record(_m: nn.Module, _i: object, output: torch.Tensor, name: str = layer.name) -> None:
            maps[name] = output[0].float().cpu().numpy()

        handles.append(layer.module.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        logits = model(_as_batch(image, normalization, device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    maps["probabilities"] = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
    return maps


@torch.inference_mode()
def occlusion_sensitivity(
    model: FamilyCNN,
    image: torch.Tensor,
    label: int,
    normalization: Normalization,
    size: int = 8,
    stride: int = 4,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Slide a grey square over the image; per position, the correct-class probability and the top label.

    Grey is the dataset mean, i.e. zero after normalisation, so the square removes information
    without adding a colour the net could respond to.
    """
    if size < 1 or stride < 1:
        raise ValueError(f"occluder size and stride must be positive, got {size}, {stride}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    base = _as_batch(image, normalization, device)[0]
    height, width = base.shape[-2:]
    tops = list(range(0, max(height - size, 0) + 1, stride))
    lefts = list(range(0, max(width - size, 0) + 1, stride))
    variants = base.unsqueeze(0).repeat(len(tops) * len(lefts), 1, 1, 1)
    for i, top in enumerate(tops):
        for j, left in enumerate(lefts):
            variants[i * len(lefts) + j, :, top : top + size, left : left + size] = 0.0
    probabilities = []
    for start in range(0, len(variants), batch_size):
        chunk = variants[start : start + batch_size].contiguous(memory_format=torch.channels_last)
        probabilities.append(torch.softmax(model(chunk).float(), dim=1).cpu())
    model.train(was_training)
    probs = torch.cat(probabilities).reshape(len(tops), len(lefts), -1)
    clean = torch.softmax(model.eval()(base[None].contiguous(memory_format=torch.channels_last)).float(), 1)[0]
    model.train(was_training)
    return {
        "correct_probability": probs[..., label].numpy(),
        "top_label": probs.argmax(dim=-1).numpy(),
        "top_probability": probs.max(dim=-1).values.numpy(),
        "tops": np.array(tops),
        "lefts": np.array(lefts),
        "size": np.array(size),
        "stride": np.array(stride),
        "clean_probability": np.array(float(clean[label])),
    }
