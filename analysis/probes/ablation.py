"""Redundancy tested by ablation: the test error without the neurons the redundancy analysis flags.

Per analysable layer (the output layer excepted: its units are the classes) the near-duplicate
neurons are picked greedily — strongest first, a neuron is *flagged* when its centred class
profile correlates ≥ the threshold with a neuron already kept, and that kept neuron is its
*partner* — then re-evaluated without retraining in two ways:

- **removed**: the flagged neurons' output is zeroed (batch norm folded: its scale and shift for
  them set to 0, which is the folded filter and bias zeroed), so their output after ReLU is 0;
- **merged**: as removed, and first each flagged neuron's outgoing weights are added to its
  partner's, scaled by the ratio of their mean responses (a copy responding ``r`` times as
  strongly hands ``r`` times its weights over).

Dead units (zero response on every evaluation image) are removed likewise. Every edit works on
copies of the affected units; the model passed in is never changed. One batched pass serves all
variants: the unchanged prefix of the network is computed once per batch and each variant only
runs the layers from its first edited unit on.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..statistics import dead_units
from ..statistics.ordering import cosine_similarity_matrix
from ..statistics.redundancy import normalize_profiles
from ..statistics.uncertainty import mcnemar
from ..training.evaluation import autocast

if TYPE_CHECKING:
    from model_zoo import FamilyCNN

    from ..training.evaluation import Normalization


@dataclass(frozen=True)
class Removal:
    """Neurons of one layer to take out: ``neurons``, and for a merge each one's ``partners`` and ``ratios``."""

    neurons: tuple[int, ...]
    partners: tuple[int, ...] = ()
    ratios: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.neurons)


def mean_responses(class_means: np.ndarray, class_counts: np.ndarray) -> np.ndarray:
    """Each neuron's mean response over the images, from its per-class means and the class sizes."""
    class_means = np.asarray(class_means, dtype=np.float64)
    counts = np.asarray(class_counts, dtype=np.float64)
    total = counts.sum()
    return class_means @ counts / total if total > 0 else class_means.mean(axis=1)


def pick_duplicates(class_means: np.ndarray, responses: np.ndarray, threshold: float) -> Removal:
    """The near-duplicates to remove and the kept neuron each merges into (see the module docstring).

    Strongest neurons are kept first; a flagged neuron's ratio is its mean response over its partner's.
    """
    profiles = normalize_profiles(class_means, "zscore")
    similarity = cosine_similarity_matrix(profiles)
    kept: list[int] = []
    neurons, partners, ratios = [], [], []
    for neuron in np.argsort(-np.asarray(responses), kind="stable"):
        neuron = int(neuron)
        if kept:
            scores = similarity[neuron, kept]
            best = int(np.argmax(scores))
            # Same tolerance as near_duplicate_mask: an exact copy must pass a threshold of 1.0.
            if scores[best] >= threshold - 1e-9 and np.any(profiles[neuron]):
                partner = kept[best]
                neurons.append(neuron)
                partners.append(partner)
                ratios.append(float(responses[neuron] / responses[partner]) if responses[partner] > 0 else 0.0)
                continue
        kept.append(neuron)
    order = np.argsort(neurons, kind="stable")
    return Removal(
        tuple(int(neurons[i]) for i in order),
        tuple(int(partners[i]) for i in order),
        tuple(float(ratios[i]) for i in order),
    )


def dead_neurons(class_means: np.ndarray) -> Removal:
    """The dead neurons of a ReLU layer (:mod:`analysis.statistics.dead_units`, the one definition): a
    post-ReLU response is never negative, so its peak over the images is positive exactly when some
    class mean is, and the class means alone decide."""
    means = np.asarray(class_means, dtype=float)
    return Removal(tuple(int(n) for n in np.flatnonzero(dead_units.dead_neurons(means.max(axis=1), means))))


# -- sizes -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerShape:
    """What one analysable layer costs per neuron: weights per input, spatial positions, extra parameters."""

    name: str
    n_neurons: int
    n_inputs: int  # neurons (or colour channels) of the layer before
    kernel: int  # kernel area (1 for FC)
    per_input: int  # weights per input neuron and kernel tap: fc1 reads every position of a channel
    positions: int  # output positions (H × W of a conv map, 1 for FC)
    extras: int  # parameters per neuron besides its weights: bias, batch norm's scale and shift

    def params(self, kept: int, kept_inputs: int) -> int:
        return kept * (kept_inputs * self.kernel * self.per_input + self.extras)

    def flops(self, kept: int, kept_inputs: int) -> int:
        # torch's counter: 2 per multiply-add of convolutions and matrix products.
        return 2 * kept * kept_inputs * self.kernel * self.per_input * self.positions


@torch.no_grad()
def layer_shapes(model: FamilyCNN) -> list[LayerShape]:
    """The analysable layers' shapes, measured with one forward pass of a blank image."""
    layers = model.analysable_layers()
    sizes: dict[str, int] = {}
    hooks = [
        layer.module.register_forward_hook(
            lambda _m, _i, out, name=layer.name: sizes.__setitem__(name, int(np.prod(out.shape[2:])))
        )
        for layer in layers
    ]
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, 3, model.input_size, model.input_size, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    shapes, previous = [], None
    for layer in layers:
        weight = layer.weight
        if isinstance(weight, nn.Conv2d):
            n_inputs, kernel, per_input = weight.in_channels, int(np.prod(weight.kernel_size)), 1
        else:
            n_inputs = previous if previous is not None else weight.in_features
            kernel, per_input = 1, weight.in_features // n_inputs
        extras = (weight.bias is not None) + (2 if layer.norm is not None and layer.norm.affine else 0)
        shapes.append(LayerShape(layer.name, layer.n_neurons, n_inputs, kernel, per_input, sizes[layer.name], extras))
        previous = layer.n_neurons
    return shapes


def model_cost(shapes: Sequence[LayerShape], removed: Mapping[int, int] | None = None) -> tuple[int, int]:
    """Parameters and FLOPs of the analysable layers with ``removed[i]`` neurons gone from layer ``i``."""
    removed = removed or {}
    params = flops = 0
    for index, shape in enumerate(shapes):
        kept = shape.n_neurons - removed.get(index, 0)
        kept_inputs = shape.n_inputs - (removed.get(index - 1, 0) if index > 0 else 0)
        params += shape.params(kept, kept_inputs)
        flops += shape.flops(kept, kept_inputs)
    return params, flops


def savings(shapes: Sequence[LayerShape], removed: Mapping[int, int]) -> tuple[int, int]:
    """Parameters and FLOPs saved by removing ``removed[i]`` neurons from layer ``i`` (shared weights once)."""
    params, flops = model_cost(shapes)
    after_params, after_flops = model_cost(shapes, removed)
    return params - after_params, flops - after_flops


# -- edits on copies -----------------------------------------------------------------------------------
def _weight(unit: nn.Sequential) -> nn.Conv2d | nn.Linear:
    for module in unit.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return module
    raise TypeError(f"{type(unit).__name__} has no conv or linear layer")


def _merge_inputs(unit: nn.Sequential, removal: Removal, n_inputs: int) -> None:
    """Hand each removed input's outgoing weights to its partner (scaled), in place on ``unit`` (a copy)."""
    layer = _weight(unit)
    # A contiguous copy: a channels_last conv weight does not reshape to a view.
    weight = layer.weight.detach().contiguous().clone()
    grouped = weight.view(weight.shape[0], n_inputs, -1)  # fc1: every position of a channel; conv: the taps
    for neuron, partner, ratio in zip(removal.neurons, removal.partners, removal.ratios):
        grouped[:, partner] += ratio * grouped[:, neuron]
        grouped[:, neuron] = 0
    layer.weight.data = weight


def _zero_outputs(unit: nn.Sequential, neurons: Sequence[int]) -> None:
    """Make ``neurons``' output 0, in place on ``unit`` (a copy).

    With batch norm, its scale and shift are zeroed: the same map as folding BN into the conv and
    zeroing the folded filter, while the kept channels are computed exactly as before (a fold
    would round them differently, in bf16 enough to flip predictions).
    """
    weight = _weight(unit)
    index = torch.as_tensor(list(neurons), dtype=torch.long, device=weight.weight.device)
    bn = getattr(unit, "bn", None)
    targets = [bn.weight, bn.bias] if bn is not None and bn.affine else [weight.weight, weight.bias]
    for tensor in targets:
        if tensor is not None:
            tensor.data[index] = 0


def edited_units(
    units: Sequence[nn.Sequential], removals: Mapping[int, Removal], merge: bool
) -> dict[int, nn.Sequential]:
    """Copies of the units an ablation changes (by analysable-layer index); ``units`` stay as they are."""
    edited: dict[int, nn.Sequential] = {}
    for index, removal in removals.items():
        if not len(removal):
            continue
        if merge and index + 1 < len(units):
            target = edited[index + 1] if index + 1 in edited else copy.deepcopy(units[index + 1])
            _merge_inputs(target, removal, _weight(units[index]).weight.shape[0])
            edited[index + 1] = target
    for index, removal in removals.items():
        if not len(removal):
            continue
        unit = edited[index] if index in edited else copy.deepcopy(units[index])  # input merges kept
        _zero_outputs(unit, removal.neurons)
        edited[index] = unit
    return edited


# -- one pass for every variant ----------------------------------------------------------------------
@dataclass
class Variant:
    """A network with some units replaced (by analysable-layer index), and its predictions once run."""

    name: str
    replaced: dict[int, nn.Module]
    predictions: list[torch.Tensor] = field(default_factory=list)


@torch.inference_mode()
def evaluate_variants(
    model: FamilyCNN,
    variants: Sequence[Variant],
    images: torch.Tensor,
    normalization: Normalization,
    batch_size: int = 500,
    precision: str = "fp32",
) -> np.ndarray:
    """Predictions of the unchanged model (returned) and of every variant (stored on it), in ``precision``.

    Batches go through the original network once; a variant branches off before its first
    replaced unit and runs only the rest, so the shared prefix is computed once.
    """
    flat = [*model.features.children(), *model.classifier.children()]
    units = [layer.module for layer in model.analysable_layers()]
    position = {i: next(p for p, m in enumerate(flat) if m is unit) for i, unit in enumerate(units)}
    plans = []
    for variant in variants:
        replaced = {position[i]: module for i, module in variant.replaced.items()}
        plans.append((min(replaced) if replaced else 0, replaced, variant))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    base = []
    try:
        for start in range(0, len(images), batch_size):
            batch = normalization(images[start : start + batch_size].to(device))
            x = batch.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                for p, module in enumerate(flat):
                    for first, replaced, variant in plans:
                        if first == p:
                            y = x
                            for q in range(p, len(flat)):
                                y = replaced.get(q, flat[q])(y)
                            variant.predictions.append(y.float().argmax(dim=1).cpu())
                    x = module(x)
            base.append(x.float().argmax(dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(base).numpy() if base else np.zeros(0, dtype=np.int64)


# -- the whole ablation of a model --------------------------------------------------------------------
def _change(wrong: np.ndarray, base_wrong: np.ndarray) -> tuple[float, list[float]]:
    test = mcnemar(wrong, base_wrong)
    return test.difference, list(test.interval)


def ablate(
    model: FamilyCNN,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalization: Normalization,
    class_means: Sequence[np.ndarray],
    class_counts: np.ndarray,
    threshold: float,
    batch_size: int = 500,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Error changes from removing and merging each layer's near-duplicates, dead units, and all at once.

    ``class_means[i]``: layer ``i``'s neurons × classes mean responses (the statistics pass);
    ``class_counts``: evaluation images per class. Error changes are fractions (0.001 = 0.1 pp)
    against the unchanged model on the same images and in the same ``precision`` (fp32 for exact
    merges: in bf16, (w_k + w_r)·x rounds unlike w_k·x + w_r·x and can flip a prediction), each
    with Newcombe's paired 95 % interval; None where a layer has nothing to remove. The model is
    not modified.
    """
    layers = model.analysable_layers()
    units = [layer.module for layer in layers]
    shapes = layer_shapes(model)
    ablatable = range(len(layers) - 1)  # the output layer's units are the classes
    duplicates, dead = {}, {}
    for index in ablatable:
        responses = mean_responses(class_means[index], class_counts)
        duplicates[index] = pick_duplicates(class_means[index], responses, threshold)
        dead[index] = dead_neurons(class_means[index]) if layers[index].relu else Removal(())
    variants: list[Variant] = []
    for index in ablatable:
        if len(duplicates[index]):
            variants.append(Variant(f"removed/{index}", edited_units(units, {index: duplicates[index]}, merge=False)))
            variants.append(Variant(f"merged/{index}", edited_units(units, {index: duplicates[index]}, merge=True)))
        if len(dead[index]):
            variants.append(Variant(f"dead/{index}", edited_units(units, {index: dead[index]}, merge=False)))
    any_flagged = any(len(r) for r in duplicates.values())
    if any_flagged:
        variants.append(Variant("removed/all", edited_units(units, duplicates, merge=False)))
        variants.append(Variant("merged/all", edited_units(units, duplicates, merge=True)))
    base_predictions = evaluate_variants(model, variants, images, normalization, batch_size, precision)
    truth = labels.cpu().numpy()
    base_wrong = base_predictions != truth
    wrong = {v.name: torch.cat(v.predictions).numpy() != truth for v in variants}

    def outcome(name: str) -> tuple[float | None, list[float] | None]:
        return _change(wrong[name], base_wrong) if name in wrong else (None, None)

    rows = []
    for index, layer in enumerate(layers):
        flagged = duplicates.get(index, Removal(()))
        unused = dead.get(index, Removal(()))
        removed_change, removed_interval = outcome(f"removed/{index}")
        merged_change, merged_interval = outcome(f"merged/{index}")
        dead_change, _ = outcome(f"dead/{index}")
        params_saved, flops_saved = savings(shapes, {index: len(flagged)}) if len(flagged) else (None, None)
        dead_params, dead_flops = savings(shapes, {index: len(unused)}) if len(unused) else (None, None)
        rows.append(
            {
                "layer": layer.name,
                "index": index,
                "kind": layer.kind,
                "depth": float(layer.relative_depth),
                "n_neurons": layer.n_neurons,
                "n_flagged": len(flagged),
                "n_dead": len(unused),
                "params_saved": params_saved,
                "flops_saved": flops_saved,
                "removed_error_change": removed_change,
                "removed_interval": removed_interval,
                "merged_error_change": merged_change,
                "merged_interval": merged_interval,
                "dead_error_change": dead_change,
                "dead_params_saved": dead_params,
                "dead_flops_saved": dead_flops,
                "flagged": list(flagged.neurons),
                "merged_into": list(flagged.partners),
                "dead": list(unused.neurons),
            }
        )
    params, flops = model_cost(shapes)
    whole_saved = savings(shapes, {i: len(r) for i, r in duplicates.items()}) if any_flagged else (None, None)
    removed_change, removed_interval = outcome("removed/all")
    merged_change, merged_interval = outcome("merged/all")
    return {
        "layers": rows,
        "whole_model": {
            "n_flagged": sum(len(r) for r in duplicates.values()),
            "n_neurons": sum(layers[i].n_neurons for i in ablatable),
            "n_dead": sum(len(r) for r in dead.values()),
            "params_saved": whole_saved[0],
            "flops_saved": whole_saved[1],
            "params": params,
            "flops": flops,
            "removed_error_change": removed_change,
            "removed_interval": removed_interval,
            "merged_error_change": merged_change,
            "merged_interval": merged_interval,
        },
        "base_error": float(base_wrong.mean()) if base_wrong.size else None,
        "n_images": int(base_wrong.size),
        "threshold": float(threshold),
        "precision": precision,
    }
