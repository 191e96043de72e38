"""Redundancy of a layer's neurons, from its class-activation matrix (neurons × classes).

Three views, after the design notes: how alike the rows inside a cluster are, how many neurons
have a near-duplicate elsewhere in the layer, and the effective rank of the matrix (how many
independent class profiles the layer really has). Similarity is cosine similarity of rows.
"""

from __future__ import annotations

import numpy as np

from .ordering import cosine_similarity_matrix

__all__ = [
    "NORMALIZATION_MODES",
    "effective_rank",
    "mean_within_cluster_similarity",
    "near_duplicate_fraction",
    "near_duplicate_mask",
    "normalize_profiles",
    "redundancy_metrics",
]

NORMALIZATION_MODES = ("max", "zscore")

# Exact copies have cosine 1 up to rounding; a threshold of 1.0 must still catch them.
_SIMILARITY_TOL = 1e-9


def _as_matrix(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D array (neurons × classes), got shape {matrix.shape}")
    return matrix


def normalize_profiles(matrix: np.ndarray, mode: str = "max") -> np.ndarray:
    """Return the matrix normalised per neuron (row): ``"max"`` by max |value|, ``"zscore"`` by mean and std.

    Zero rows stay zero under ``"max"``; constant rows become zeros under ``"zscore"``.
    """
    matrix = _as_matrix(matrix)
    if mode == "max":
        scale = np.abs(matrix).max(axis=1, keepdims=True) if matrix.shape[1] else np.zeros((matrix.shape[0], 1))
        return np.divide(matrix, scale, out=np.zeros_like(matrix), where=scale > 0)
    if mode == "zscore":
        if matrix.shape[1] == 0:
            return matrix.copy()
        centred = matrix - matrix.mean(axis=1, keepdims=True)
        std = matrix.std(axis=1, keepdims=True)
        # Relative test: a constant row's std is rounding noise, not signal to blow up.
        constant = std <= 1e-12 * np.maximum(np.abs(matrix).max(axis=1, keepdims=True), 1.0)
        return np.divide(centred, std, out=np.zeros_like(matrix), where=~constant)
    raise ValueError(f"unknown normalisation mode {mode!r}; expected one of {NORMALIZATION_MODES}")


def mean_within_cluster_similarity(profiles: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean cosine similarity over pairs of distinct neurons in the same cluster.

    All such pairs are averaged together (large clusters weigh more). Returns ``nan`` when no
    cluster has two neurons; callers display it as '–'.
    """
    profiles = _as_matrix(profiles)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != profiles.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {profiles.shape[0]} neurons")
    same = labels[:, None] == labels[None, :]
    pairs = np.triu(same, k=1)
    if not pairs.any():
        return float("nan")
    return float(cosine_similarity_matrix(profiles)[pairs].mean())


def near_duplicate_mask(profiles: np.ndarray, threshold: float = 0.95) -> np.ndarray:
    """Return, per neuron, whether another neuron has cosine similarity ≥ ``threshold`` with it.

    Dead (all-zero) neurons have similarity 0 to everything, so they are not near-duplicates here.
    """
    profiles = _as_matrix(profiles)
    similarity = cosine_similarity_matrix(profiles)
    np.fill_diagonal(similarity, -np.inf)
    return (similarity >= threshold - _SIMILARITY_TOL).any(axis=1) if profiles.shape[0] else np.zeros(0, bool)


def near_duplicate_fraction(profiles: np.ndarray, threshold: float = 0.95) -> float:
    """Return the fraction of neurons that have a near-duplicate (cosine ≥ ``threshold``); ``nan`` for no neurons."""
    mask = near_duplicate_mask(profiles, threshold)
    return float(mask.mean()) if mask.size else float("nan")


def effective_rank(matrix: np.ndarray) -> float:
    """Return Roy & Vetterli's effective rank: exp of the entropy of the normalised singular values.

    1 for a rank-1 matrix, n for an orthonormal n×n one, 0 for a zero (or empty) matrix.
    """
    matrix = _as_matrix(matrix)
    if matrix.size == 0:
        return 0.0
    singular = np.linalg.svd(matrix, compute_uv=False)
    if singular[0] <= 0:
        return 0.0
    # Drop singular values that are rounding noise (numpy's matrix_rank tolerance), so rank 1 gives exactly 1.
    singular = singular[singular > singular[0] * max(matrix.shape) * np.finfo(float).eps]
    p = singular / singular.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def redundancy_metrics(profiles: np.ndarray, labels: np.ndarray, threshold: float = 0.95) -> dict:
    """Return the redundancy summary of one layer (see the module docstring) as a plain dict.

    ``normalized_effective_rank`` divides by min(neurons, classes), so layers of different widths compare.
    """
    profiles = _as_matrix(profiles)
    labels = np.asarray(labels).reshape(-1)
    n_neurons, n_classes = profiles.shape
    rank = effective_rank(profiles)
    capacity = min(n_neurons, n_classes)
    return {
        "n_neurons": int(n_neurons),
        "n_clusters": int(np.unique(labels).size),
        "mean_within_cluster_similarity": mean_within_cluster_similarity(profiles, labels),
        "near_duplicate_fraction": near_duplicate_fraction(profiles, threshold),
        "effective_rank": rank,
        "normalized_effective_rank": rank / capacity if capacity else float("nan"),
    }
