"""Row order of a class-activation matrix: similar neurons next to each other (after CNNVis).

CNNVis orders the rows of each neuron cluster so that the summed similarity of adjacent rows is
maximal, i.e. a best open Hamiltonian path through the rows. Small clusters are solved exactly with
the Held-Karp dynamic programme; larger ones with SciPy's optimal leaf ordering refined by 2-opt.
Similarity is cosine similarity between rows throughout. Pure numpy/scipy functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import squareform

__all__ = [
    "MAX_EXACT_ROWS",
    "cosine_similarity_matrix",
    "heuristic_order",
    "held_karp_order",
    "order_rows",
    "path_similarity",
    "two_opt",
]

# Held-Karp holds 2^n × n values and parents: 2^16 × 16 is ~8 MB, 2^20 × 20 would be ~170 MB and seconds.
MAX_EXACT_ROWS = 16

# A 2-opt move must gain more than this; float noise must not make the search cycle.
_GAIN_TOL = 1e-12


def cosine_similarity_matrix(rows: np.ndarray) -> np.ndarray:
    """Return the n×n cosine similarity of the rows of ``rows`` (n×d).

    A zero row has similarity 0 to every other row and 1 to itself, so no NaN appears.
    """
    rows = np.asarray(rows, dtype=float)
    if rows.ndim != 2:
        raise ValueError(f"rows must be a 2-D array (neurons × classes), got shape {rows.shape}")
    norms = np.linalg.norm(rows, axis=1)
    unit = np.divide(rows, norms[:, None], out=np.zeros_like(rows), where=norms[:, None] > 0)
    similarity = unit @ unit.T
    # Rounding can push |cos| a hair above 1; the diagonal is 1 by definition (zero rows included).
    np.clip(similarity, -1.0, 1.0, out=similarity)
    np.fill_diagonal(similarity, 1.0)
    return similarity


def path_similarity(similarity: np.ndarray, order: Sequence[int]) -> float:
    """Return the summed similarity of adjacent rows when the rows are taken in ``order``."""
    order = np.asarray(order, dtype=int)
    if order.size < 2:
        return 0.0
    return float(np.asarray(similarity)[order[:-1], order[1:]].sum())


def _check_square(similarity: np.ndarray) -> np.ndarray:
    similarity = np.asarray(similarity, dtype=float)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be a square matrix, got shape {similarity.shape}")
    return similarity


def _canonical(order: np.ndarray) -> np.ndarray:
    # A path and its reverse score the same; pick one so equal inputs give equal outputs.
    return order[::-1].copy() if order.size > 1 and order[0] > order[-1] else order


def held_karp_order(similarity: np.ndarray) -> np.ndarray:
    """Return the exact row order maximising the summed similarity of adjacent rows (Held-Karp).

    ``best[mask, k]`` is the best path through the rows in ``mask`` ending at ``k``. Masks are
    processed one popcount at a time so each layer is a single numpy max over (masks × end × previous).
    Ties go to the lowest index; the path is oriented so it starts at the smaller end index.
    """
    similarity = _check_square(similarity)
    n = similarity.shape[0]
    if n > MAX_EXACT_ROWS:
        raise ValueError(f"held_karp_order is exponential; n={n} exceeds {MAX_EXACT_ROWS} (use heuristic_order)")
    if n <= 2:
        return np.arange(n)

    n_masks = 1 << n
    bits = 1 << np.arange(n)
    masks = np.arange(n_masks)
    popcount = np.bitwise_count(masks)
    best = np.full((n_masks, n), -np.inf)
    parent = np.full((n_masks, n), -1, dtype=np.int8)
    best[bits, np.arange(n)] = 0.0
    # step[k, j]: gain of stepping from j to k; transposed so the max runs over the last axis.
    step = similarity.T

    for size in range(2, n + 1):
        layer = masks[popcount == size]
        previous = layer[:, None] ^ bits[None, :]  # (m, n): the mask before k was appended
        candidates = best[previous] + step[None, :, :]  # (m, k, j); -inf where j ∉ previous or k ∉ layer
        choice = np.argmax(candidates, axis=2)
        value = np.take_along_axis(candidates, choice[:, :, None], axis=2)[:, :, 0]
        contains = (layer[:, None] & bits[None, :]) != 0
        best[layer] = np.where(contains, value, -np.inf)
        parent[layer] = np.where(contains, choice, -1)

    full = n_masks - 1
    end = int(np.argmax(best[full]))
    order = [end]
    mask = full
    while parent[mask, end] >= 0:
        previous_end = int(parent[mask, end])
        mask ^= 1 << end
        end = previous_end
        order.append(end)
    return _canonical(np.array(order[::-1], dtype=int))


def two_opt(similarity: np.ndarray, order: Sequence[int], max_passes: int = 200) -> np.ndarray:
    """Improve an open path by segment reversals while the path similarity increases.

    A virtual node with similarity 0 to every row is put at both ends, so reversing a prefix or a
    suffix is the same move as reversing an inner segment. Each pass scores all O(n²) reversals at
    once with numpy, then applies the best one and every further improving one whose segment stays
    at least one row away from those already taken (their gains are then independent, so the path
    similarity rises by the sum). ``max_passes`` bounds the work.
    """
    similarity = _check_square(similarity)
    order = np.asarray(order, dtype=int).copy()
    n = order.size
    if n < 3:
        return order
    padded = np.zeros((n + 1, n + 1))
    padded[:n, :n] = similarity
    virtual = n
    path = np.concatenate(([virtual], order, [virtual]))
    lower = ~np.triu(np.ones((n, n), dtype=bool), k=1)
    max_moves_per_pass = max(1, n // 8)

    for _ in range(max_passes):
        # Reversing path[p..q] (1 ≤ p < q ≤ n) swaps edges (a,b),(c,d) for (a,c),(b,d);
        # gain[p-1, q-1] is the change of path similarity.
        walk = padded[np.ix_(path, path)]
        adjacent = np.diagonal(walk, offset=1)
        gain = walk[:n, 1 : n + 1] + walk[1 : n + 1, 2 : n + 2] - adjacent[:n, None] - adjacent[None, 1:]
        gain[lower] = -np.inf
        flat = gain.ravel()
        k = min(max_moves_per_pass, flat.size)
        top = np.argpartition(flat, -k)[-k:]
        top = top[np.argsort(-flat[top], kind="stable")]
        if flat[top[0]] <= _GAIN_TOL:
            break
        taken = np.zeros(n + 2, dtype=bool)
        for index in top:
            if flat[index] <= _GAIN_TOL:
                break
            i, j = divmod(int(index), n)
            p, q = i + 1, j + 1
            # The move reads p-1..q+1; keeping those free of other writes keeps the gains exact.
            if taken[p - 1 : q + 2].any():
                continue
            path[p : q + 1] = path[p : q + 1][::-1].copy()
            taken[p : q + 1] = True
    return path[1 : n + 1]


def heuristic_order(rows: np.ndarray, similarity: np.ndarray | None = None) -> np.ndarray:
    """Return a good row order for many rows: average-linkage optimal leaf ordering, then 2-opt.

    ``similarity`` (cosine, n×n) is computed from ``rows`` when not given. The leaf ordering
    minimises the summed cosine distance of adjacent leaves, which is the same objective as the
    exact order restricted to orders compatible with the dendrogram; 2-opt then leaves that tree.
    """
    rows = np.asarray(rows, dtype=float)
    n = rows.shape[0]
    if similarity is None:
        similarity = cosine_similarity_matrix(rows)
    similarity = _check_square(similarity)
    if similarity.shape[0] != n:
        raise ValueError(f"similarity is {similarity.shape[0]}×{similarity.shape[0]} but rows has {n} rows")
    if n <= 2:
        return np.arange(n)

    distance = 1.0 - similarity
    # Symmetric, non-negative, zero diagonal: squareform and linkage then accept it silently,
    # duplicate rows (distance 0) included.
    distance = np.clip((distance + distance.T) / 2.0, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(distance, checks=False)
    tree = optimal_leaf_ordering(linkage(condensed, method="average"), condensed)
    order = leaves_list(tree).astype(int)
    return _canonical(two_opt(similarity, order))


def order_rows(rows: np.ndarray, exact_limit: int = 12) -> np.ndarray:
    """Return a permutation of the rows maximising adjacent cosine similarity (exact up to ``exact_limit`` rows)."""
    rows = np.asarray(rows, dtype=float)
    if rows.ndim != 2:
        raise ValueError(f"rows must be a 2-D array (neurons × classes), got shape {rows.shape}")
    n = rows.shape[0]
    if n <= 2:
        return np.arange(n)
    similarity = cosine_similarity_matrix(rows)
    if n <= min(exact_limit, MAX_EXACT_ROWS):
        return held_karp_order(similarity)
    return heuristic_order(rows, similarity)
