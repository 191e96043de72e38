"""Neuron responses in one streaming pass: class-activation matrices, top-k images, CKA samples.

A neuron is a conv channel or an FC unit; its response to an image is the spatial mean (or max)
of its post-ReLU map. Hooks reduce every layer's output to (batch, neurons) on the fly, so memory
does not grow with the number of images, and one forward pass serves every layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from model_zoo import FamilyCNN

from ..training.evaluation import Normalization, autocast

Reduce = Literal["mean", "max"]


@dataclass
class LayerStatistics:
    """What one pass accumulates for one layer (numpy arrays, ready to cache)."""

    name: str
    class_sums: np.ndarray  # (neurons, classes) summed responses per class
    class_counts: np.ndarray  # (classes,)
    top_values: np.ndarray  # (k, neurons) strongest spatial-max responses, descending
    top_images: np.ndarray  # (k, neurons) their image indices
    top_positions: np.ndarray  # (k, neurons, 2) (row, col) of the max in the layer's map
    map_size: tuple[int, int]  # (H, W) of the layer's maps; (1, 1) for FC
    sample: np.ndarray | None = None  # (n_sample, features) for CKA

    @property
    def class_means(self) -> np.ndarray:
        """Mean response of each neuron to each class (neurons × classes); empty classes are 0."""
        return self.class_sums / np.maximum(self.class_counts, 1)[None, :]


class PassResult(NamedTuple):
    """Per-layer statistics, and the model's predicted class for every image of the pass."""

    layers: dict[str, LayerStatistics]
    predictions: np.ndarray


@dataclass
class ActivationPass:
    """Parameters of the pass; ``run`` returns statistics for every analysable layer."""

    reduce: Reduce = "mean"
    top_k: int = 9
    cka_sample: int = 0  # first N images whose flattened features are kept for CKA
    cka_spatial: Literal["flatten", "mean"] = "mean"
    batch_size: int = 256
    precision: str = "fp32"
    layers: list[str] | None = None
    progress: Callable[[int, int], None] | None = field(default=None, repr=False)

    @torch.inference_mode()
    def run(
        self,
        model: FamilyCNN,
        images: torch.Tensor,
        labels: torch.Tensor,
        num_classes: int,
        normalization: Normalization,
    ) -> PassResult:
        device = next(model.parameters()).device
        layers = [layer for layer in model.analysable_layers() if self.layers is None or layer.name in self.layers]
        state: dict[str, dict] = {}
        batch_labels: list[torch.Tensor] = []
        offset = [0]

        def hook(name: str) -> Callable:
            def record(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
                # Reductions read the (bf16) maps once each and accumulate in fp32; converting the
                # whole map to fp32 first would cost as much as the layer itself.
                if output.dim() == 4:
                    n, c, h, w = output.shape
                    # Pooling kernels reduce channels_last bf16 maps ~8× faster than amax/mean.
                    peak = F.max_pool2d(output, (h, w)).reshape(n, c).float()
                    response = F.adaptive_avg_pool2d(output, 1).reshape(n, c).float() if self.reduce == "mean" else peak
                else:
                    n, c = output.shape
                    h = w = 1
                    peak = response = output.float()
                s = state.get(name)
                if s is None:
                    s = state[name] = {
                        "sums": torch.zeros(c, num_classes, dtype=torch.float64, device=device),
                        "top_v": torch.empty((0, c), device=device),
                        "top_i": torch.empty((0, c), dtype=torch.long, device=device),
                        "top_p": torch.empty((0, c), dtype=torch.long, device=device),
                        "size": (h, w),
                        "sample": [],
                    }
                s["sums"].index_add_(1, batch_labels[-1], response.T.double())
                # Streaming top-k: merge this batch's peaks with the best so far; the argmax
                # position is looked up only for the (image, neuron) pairs that got in.
                previous = s["top_v"].shape[0]
                k = min(self.top_k, previous + n)
                best, rows = torch.cat([s["top_v"], peak]).topk(k, dim=0)
                is_new = rows >= previous
                image = (rows - previous).clamp(min=0)
                positions = torch.cat([s["top_p"], torch.zeros((n, c), dtype=torch.long, device=device)]).gather(
                    0, rows
                )
                if output.dim() == 4 and bool(is_new.any()):
                    channel = torch.arange(c, device=device).expand(k, c)
                    maps = output[image[is_new], channel[is_new]]  # (m, h, w)
                    positions[is_new] = maps.reshape(len(maps), -1).argmax(dim=1)
                indices = torch.cat(
                    [s["top_i"], torch.arange(offset[0], offset[0] + n, device=device)[:, None].expand(n, c)]
                ).gather(0, rows)
                s["top_v"], s["top_i"], s["top_p"] = best, indices, positions
                kept = sum(len(x) for x in s["sample"])
                if kept < self.cka_sample:
                    part = output[: self.cka_sample - kept].float()
                    if part.dim() == 4 and self.cka_spatial == "mean":
                        part = part.mean(dim=(2, 3))
                    s["sample"].append(part.reshape(len(part), -1).cpu())

            return record

        handles = [layer.module.register_forward_hook(hook(layer.name)) for layer in layers]
        was_training = model.training
        model.eval()
        counts = torch.zeros(num_classes, dtype=torch.float64)
        predictions = []
        try:
            for start in range(0, len(images), self.batch_size):
                batch = normalization(images[start : start + self.batch_size].to(device))
                batch = batch.contiguous(memory_format=torch.channels_last)
                target = labels[start : start + self.batch_size].to(device)
                batch_labels[:] = [target]
                offset[0] = start
                counts += torch.bincount(target.cpu(), minlength=num_classes).double()
                with autocast(device, self.precision):
                    predictions.append(model(batch).argmax(dim=1).cpu())
                if self.progress:
                    self.progress(min(start + self.batch_size, len(images)), len(images))
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)

        results = {}
        for layer in layers:
            s = state[layer.name]
            w = s["size"][1]
            positions = torch.stack([s["top_p"] // w, s["top_p"] % w], dim=-1)
            results[layer.name] = LayerStatistics(
                name=layer.name,
                class_sums=s["sums"].cpu().numpy(),
                class_counts=counts.numpy().copy(),
                top_values=s["top_v"].cpu().numpy(),
                top_images=s["top_i"].cpu().numpy(),
                top_positions=positions.cpu().numpy(),
                map_size=s["size"],
                sample=torch.cat(s["sample"]).numpy() if s["sample"] else None,
            )
        predicted = torch.cat(predictions).numpy() if predictions else np.zeros(0, dtype=np.int64)
        return PassResult(results, predicted)


def receptive_fields(model: FamilyCNN) -> dict[str, tuple[int, int, float]]:
    """Per conv layer: (size, jump, start) of its receptive field in input pixels.

    ``start`` is the input coordinate of the centre of map position 0; position p covers
    ``start + p·jump ± size//2`` (the standard receptive-field arithmetic).
    """
    size, jump, start = 1, 1, 0.0
    fields = {}
    for name, module in model.features.named_children():
        if isinstance(module, nn.MaxPool2d):
            k, s, p = module.kernel_size, module.stride, module.padding
        else:
            conv = module.conv
            k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
        k, s, p = (
            (k if isinstance(k, int) else k[0]),
            (s if isinstance(s, int) else s[0]),
            (p if isinstance(p, int) else p[0]),
        )
        start = start + ((k - 1) / 2 - p) * jump
        size = size + (k - 1) * jump
        jump = jump * s
        if not isinstance(module, nn.MaxPool2d):
            fields[name] = (size, jump, start)
    return fields


def receptive_patch(
    field: tuple[int, int, float],
    position: tuple[int, int],
    image_size: int = 32,
) -> tuple[int, int, int, int]:
    """The input box (top, left, bottom, right; clipped to the image) seen by one map position."""
    size, jump, start = field
    top = round(start + position[0] * jump - (size - 1) / 2)
    left = round(start + position[1] * jump - (size - 1) / 2)
    return max(0, top), max(0, left), min(image_size, top + size), min(image_size, left + size)
