"""Edge-sign statistics between adjacent layers (CNNVis' green/red edges) and edge bundling.

An *edge* joins a neuron of one analysable layer to a neuron of the next; its weight is the
later layer's incoming weight summed over the kernel (and, after the last conv, over the
spatial positions that ``fc1`` reads), with batch norm folded in. Positive edges excite,
negative edges inhibit (Liu et al., "Towards Better Analysis of Deep CNNs", VAST 2016).

The functions work on numpy arrays; only :func:`layer_edge_matrices` touches torch modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import svdvals

if TYPE_CHECKING:  # model_zoo imports torch; the pure functions below never need it
    from model_zoo import FamilyCNN

# Positive fraction reported where there is no edge mass at all: neither excitatory nor
# inhibitory, the neutral midpoint of a diverging green/red scale, and finite for JSON.
NEUTRAL_FRACTION = 0.5

# Auto bundling never asks for more bundles than a reader can tell apart by colour.
MAX_AUTO_BUNDLES = 8


def fold_batch_norm(
    weight: np.ndarray,
    bias: np.ndarray | None,
    bn_weight: np.ndarray,
    bn_bias: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of the conv (or linear) layer equal to ``layer`` then eval-mode BN.

    w' = w · γ/√(σ²+ε) per output channel; b' = (b − μ)·γ/√(σ²+ε) + β, with b = 0 when ``bias`` is None.
    """
    weight = np.asarray(weight, dtype=np.float64)
    scale = np.asarray(bn_weight, dtype=np.float64) / np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)
    if scale.shape != (weight.shape[0],):
        raise ValueError(f"BN has {scale.shape} channels, the layer has {weight.shape[0]} outputs")
    bias = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    folded_weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    folded_bias = (bias - np.asarray(running_mean, dtype=np.float64)) * scale + np.asarray(bn_bias, dtype=np.float64)
    return folded_weight, folded_bias


def kernel_summed_edges(weight: np.ndarray) -> np.ndarray:
    """Neuron-to-neuron matrix (out, in): a conv weight (out, in, kh, kw) summed over its kernel.

    A linear weight (out, in) passes through unchanged.
    """
    weight = np.asarray(weight)
    if weight.ndim == 2:
        return weight
    if weight.ndim != 4:
        raise ValueError(f"expected a (out, in) or (out, in, kh, kw) weight, got shape {weight.shape}")
    return weight.sum(axis=(2, 3))


def fc_after_conv_edges(fc_weight: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """Channel-level edges (out, C) of an FC layer reading a flattened (C, H, W) map.

    PyTorch's ``flatten`` of an NCHW map puts channel c at columns c·H·W … (c+1)·H·W − 1,
    so each channel's spatial weights are one contiguous block; the edge is their sum.
    """
    fc_weight = np.asarray(fc_weight)
    if fc_weight.ndim != 2 or fc_weight.shape[1] != channels * height * width:
        raise ValueError(
            f"an FC weight reading a {channels}×{height}×{width} map must be (out, {channels * height * width}),"
            f" got {fc_weight.shape}"
        )
    return fc_weight.reshape(fc_weight.shape[0], channels, height * width).sum(axis=2)


def edge_sign_fractions(edges: np.ndarray) -> dict[str, float]:
    """Per-layer sign statistics: ``positive_edge_fraction``, ``positive_mass_fraction``, the two masses.

    ``positive_edge_fraction`` counts edges > 0 among the nonzero ones; ``positive_mass_fraction``
    is Σ positive weights / Σ |weights|; ``negative_mass`` is reported as a positive number.
    Both fractions are :data:`NEUTRAL_FRACTION` when every edge is zero.
    """
    edges = np.asarray(edges, dtype=np.float64)
    positive_mass = float(edges[edges > 0].sum())
    negative_mass = float(-edges[edges < 0].sum())
    n_positive = int(np.count_nonzero(edges > 0))
    n_nonzero = int(np.count_nonzero(edges))
    total = positive_mass + negative_mass
    return {
        "positive_edge_fraction": n_positive / n_nonzero if n_nonzero else NEUTRAL_FRACTION,
        "positive_mass_fraction": positive_mass / total if total > 0 else NEUTRAL_FRACTION,
        "positive_mass": positive_mass,
        "negative_mass": negative_mass,
    }


@dataclass(frozen=True)
class ClusterEdges:
    """Cluster-to-cluster edge statistics, each an array (k_out, k_in).

    ``positive_fraction`` = positive / (positive + negative mass), :data:`NEUTRAL_FRACTION` where
    a pair of clusters has no edge mass (look at ``edge_count`` to tell "no edges" from "balanced").
    """

    positive_mass: np.ndarray
    negative_mass: np.ndarray
    positive_fraction: np.ndarray
    edge_count: np.ndarray


def _check_labels(labels: np.ndarray, size: int, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (size,):
        raise ValueError(f"{what} must have shape ({size},), got {labels.shape}")
    if size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0):
        raise ValueError(f"{what} must be non-negative integer cluster ids")
    return labels.astype(np.intp)


def _n_clusters(labels: np.ndarray, given: int | None, what: str) -> int:
    needed = int(labels.max()) + 1 if labels.size else 0
    if given is None:
        return needed
    if given < needed:
        raise ValueError(f"{what} uses cluster id {needed - 1}, but only {given} clusters were given")
    return int(given)


def cluster_edge_summary(
    edges: np.ndarray,
    out_labels: np.ndarray,
    in_labels: np.ndarray,
    n_out_clusters: int | None = None,
    n_in_clusters: int | None = None,
) -> ClusterEdges:
    """Aggregate a neuron-to-neuron matrix (out, in) to cluster-to-cluster positive/negative mass.

    Labels are cluster ids 0 … k−1 (as in scikit-learn's ``labels_``); k is the largest id + 1
    unless given, so a cluster id with no member yields an all-zero row or column rather than
    a shifted index.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 2:
        raise ValueError(f"edges must be a 2-d (out, in) matrix, got shape {edges.shape}")
    rows = _check_labels(out_labels, edges.shape[0], "out_labels")
    cols = _check_labels(in_labels, edges.shape[1], "in_labels")
    k_out = _n_clusters(rows, n_out_clusters, "out_labels")
    k_in = _n_clusters(cols, n_in_clusters, "in_labels")
    # One-hot membership matrices turn the group-by into two small matrix products.
    row_onehot = np.zeros((k_out, rows.size))
    row_onehot[rows, np.arange(rows.size)] = 1.0
    col_onehot = np.zeros((cols.size, k_in))
    col_onehot[np.arange(cols.size), cols] = 1.0
    positive = row_onehot @ np.clip(edges, 0, None) @ col_onehot
    negative = row_onehot @ np.clip(-edges, 0, None) @ col_onehot
    total = positive + negative
    fraction = np.where(total > 0, positive / np.where(total > 0, total, 1.0), NEUTRAL_FRACTION)
    count = np.outer(row_onehot.sum(axis=1), col_onehot.sum(axis=0)).astype(np.int64)
    return ClusterEdges(positive, negative, fraction, count)


def _normalised_abs(edges: np.ndarray) -> np.ndarray:
    """D_r^{-1/2} |A| D_c^{-1/2}, the matrix whose singular vectors spectral co-clustering uses."""
    magnitude = np.abs(edges)
    row_sums = magnitude.sum(axis=1, keepdims=True)
    col_sums = magnitude.sum(axis=0, keepdims=True)
    return magnitude / np.sqrt(row_sums) / np.sqrt(col_sums)


def auto_n_bundles(edges: np.ndarray, max_bundles: int = MAX_AUTO_BUNDLES) -> int:
    """Number of bundles at the largest gap in the singular values of the normalised |edges|.

    With k near-independent blocks, D_r^{-1/2}|A|D_c^{-1/2} has k singular values near 1 and
    then a drop (Dhillon 2001), as the eigengap heuristic of spectral clustering. k is searched
    in 2 … min(max_bundles, min(shape)): a single bundle would say nothing in the view.
    """
    edges = np.asarray(edges, dtype=np.float64)
    upper = min(max_bundles, *edges.shape)
    if upper < 2 or not np.any(edges):
        return 1
    magnitude = np.abs(edges)
    magnitude = magnitude + _epsilon(magnitude)
    sigma = svdvals(_normalised_abs(magnitude))
    sigma = np.concatenate([sigma, [0.0]])  # σ_{k+1} = 0 past the rank
    ks = np.arange(2, upper + 1)
    gaps = sigma[ks - 1] - sigma[ks]
    return int(ks[np.argmax(gaps)])


def _epsilon(magnitude: np.ndarray) -> float:
    # Small against the weights, so it only gives all-zero rows/columns a degree to normalise by.
    return 1e-9 * float(magnitude.max()) if magnitude.size and magnitude.max() > 0 else 1e-12


def _is_positive_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


class EdgeBundling:
    """Group a layer pair's edges into bundles by spectral co-clustering of |edges|.

    A bundle is a set of output neurons and a set of input neurons that are strongly connected
    to each other; its sign statistics say whether the bundle mostly excites or inhibits.

    Parameters
    ----------
    n_bundles : number of co-clusters, or ``"auto"`` (:func:`auto_n_bundles`); capped by min(shape).
    random_state : seed of the co-clustering's SVD and k-means.

    Learned: ``n_bundles_``, ``row_labels_`` (out,), ``column_labels_`` (in,), ``bundles_`` (one
    dict per bundle: ``bundle``, ``n_out``, ``n_in``, ``positive_mass``, ``negative_mass``,
    ``positive_fraction``), ``summary_`` (:class:`ClusterEdges` of all bundle-to-bundle pairs).
    """

    def __init__(self, n_bundles: int | str = "auto", random_state: int = 0) -> None:
        self.n_bundles = n_bundles
        self.random_state = random_state

    def fit(self, edges: np.ndarray) -> EdgeBundling:
        """Co-cluster the rows (output neurons) and columns (input neurons) of ``edges`` (out, in)."""
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 2 or 0 in edges.shape:
            raise ValueError(f"edges must be a non-empty 2-d (out, in) matrix, got shape {edges.shape}")
        if not np.all(np.isfinite(edges)):
            raise ValueError("edges contain NaN or infinity")
        if self.n_bundles == "auto":
            k = auto_n_bundles(edges)
        elif _is_positive_int(self.n_bundles):
            k = int(self.n_bundles)
        else:
            raise ValueError(f"n_bundles must be a positive int or 'auto', got {self.n_bundles!r}")
        k = min(k, *edges.shape)
        if k == 1 or not np.any(edges):
            # Nothing to split: one bundle holds every edge (and all-zero input has no structure).
            k = 1
            rows = np.zeros(edges.shape[0], dtype=np.intp)
            cols = np.zeros(edges.shape[1], dtype=np.intp)
        else:
            rows, cols = self._cocluster(edges, k)
        self.n_bundles_ = k
        self.row_labels_ = rows
        self.column_labels_ = cols
        # k given explicitly: a bundle may hold only rows (or only columns), which is still bundle b.
        summary = cluster_edge_summary(edges, rows, cols, k, k)
        self.summary_ = summary
        self.bundles_ = [
            {
                "bundle": b,
                "n_out": int(np.count_nonzero(rows == b)),
                "n_in": int(np.count_nonzero(cols == b)),
                "positive_mass": float(summary.positive_mass[b, b]),
                "negative_mass": float(summary.negative_mass[b, b]),
                "positive_fraction": float(summary.positive_fraction[b, b]),
            }
            for b in range(k)
        ]
        return self

    def _cocluster(self, edges: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.cluster import SpectralCoclustering

        magnitude = np.abs(edges)
        model = SpectralCoclustering(n_clusters=k, random_state=self.random_state)
        model.fit(magnitude + _epsilon(magnitude))
        return model.row_labels_.astype(np.intp), model.column_labels_.astype(np.intp)


@dataclass(frozen=True)
class LayerEdges:
    """The edges from analysable layer ``source`` into ``target``: a (target neurons, source neurons) matrix."""

    source: str
    target: str
    edges: np.ndarray
    positive_edge_fraction: float
    positive_mass_fraction: float
    positive_mass: float
    negative_mass: float


def layer_edge_matrices(model: FamilyCNN) -> list[LayerEdges]:
    """Neuron-to-neuron edge matrices of every adjacent pair of analysable layers of a FamilyCNN.

    Each matrix is the later layer's incoming weight with its BN folded in (running statistics,
    i.e. eval-mode BN, whatever ``model.training`` says), summed over the kernel; from the last
    conv into ``fc1`` it is summed over the spatial positions of ``model.feature_shape``. Pools
    between convs map channel i to channel i, so they leave the edges unchanged.
    """
    import torch

    layers = model.analysable_layers()
    result: list[LayerEdges] = []
    with torch.no_grad():
        for source, target in zip(layers, layers[1:]):
            weight = target.weight.weight.detach().cpu().double().numpy()
            if target.norm is not None:
                norm = target.norm
                # Only the weight matters for edges; fold_batch_norm scales each output row by γ/√(σ²+ε),
                # so a negative γ flips the sign of all that neuron's incoming edges.
                weight, _ = fold_batch_norm(
                    weight,
                    None,
                    _numpy(norm.weight) if norm.weight is not None else np.ones(weight.shape[0]),
                    _numpy(norm.bias) if norm.bias is not None else np.zeros(weight.shape[0]),
                    _numpy(norm.running_mean) if norm.running_mean is not None else np.zeros(weight.shape[0]),
                    _numpy(norm.running_var) if norm.running_var is not None else np.ones(weight.shape[0]),
                    norm.eps,
                )
            if source.kind == "conv" and target.kind == "fc":
                edges = fc_after_conv_edges(weight, *model.feature_shape)
            else:
                edges = kernel_summed_edges(weight)
            if edges.shape != (target.n_neurons, source.n_neurons):
                raise ValueError(
                    f"{source.name} → {target.name}: edge matrix {edges.shape} does not match "
                    f"({target.n_neurons}, {source.n_neurons}) neurons"
                )
            edges = edges.astype(np.float32)
            result.append(LayerEdges(source.name, target.name, edges, **edge_sign_fractions(edges)))
    return result


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()
