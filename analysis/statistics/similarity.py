"""Linear CKA between layer representations, within a model and across two models.

Centred kernel alignment (Kornblith et al., "Similarity of Neural Network Representations
Revisited", ICML 2019) with a linear kernel; the debiased variant replaces HSIC by its unbiased
estimator (Song et al. 2012), as in Nguyen et al. ("Do Wide and Deep Networks Learn the Same
Things?", ICLR 2021). Inputs are numpy arrays (n examples, features); all sums are in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Spatial = Literal["flatten", "mean"]
Method = Literal["auto", "gram", "features"]

# A centred layer this small against its raw values is a constant layer up to rounding.
_CONSTANT_TOLERANCE = 1e-10
# Above this many bytes of Gram matrices, cka_matrix works in feature space whatever the cost.
_MAX_GRAM_BYTES = 2 * 1024**3


def flatten_features(activations: np.ndarray, spatial: Spatial = "flatten") -> np.ndarray:
    """(n, C, H, W) activations → (n, C·H·W) with ``"flatten"`` or (n, C) spatial means with ``"mean"``.

    2-d input (an FC layer's (n, units)) passes through.
    """
    if spatial not in ("flatten", "mean"):
        raise ValueError(f"spatial must be 'flatten' or 'mean', got {spatial!r}")
    activations = np.asarray(activations)
    if activations.ndim == 2:
        return activations
    if activations.ndim != 4:
        raise ValueError(f"expected (n, C, H, W) or (n, features) activations, got shape {activations.shape}")
    if spatial == "mean":
        return activations.mean(axis=(2, 3))
    return activations.reshape(activations.shape[0], -1)


def _centred(x: np.ndarray) -> np.ndarray:
    """Column-centred float64 copy of a 2-d (n, p) array; all zeros if the layer is constant."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d (n, features) array, got shape {x.shape}; see flatten_features")
    x = x.astype(np.float64)
    scale = np.abs(x).max() if x.size else 0.0
    x = x - x.mean(axis=0, keepdims=True)
    # The mean of identical floats can miss them by an ulp; that residue must not look like signal.
    if not x.size or np.abs(x).max() <= _CONSTANT_TOLERANCE * scale:
        return np.zeros_like(x)
    return x


def _u_centre(gram: np.ndarray) -> np.ndarray:
    """U-centre a Gram matrix in place: ⟨Ũ(K), Ũ(L)⟩ / (n(n−3)) is the unbiased HSIC of Song et al. 2012."""
    n = gram.shape[0]
    np.fill_diagonal(gram, 0.0)
    means = gram.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None]
    gram -= means[None, :]
    np.fill_diagonal(gram, 0.0)
    return gram


def _gram(x_centred: np.ndarray, debiased: bool, out: np.ndarray | None = None) -> np.ndarray:
    """Centred linear Gram matrix (n, n): H K H for biased CKA, Ũ(K) for debiased (into ``out`` if given)."""
    gram = np.matmul(x_centred, x_centred.T, out=out)
    # X is already centred, so X Xᵀ = H K H; U-centring ignores any row/column offsets anyway.
    return _u_centre(gram) if debiased else gram


def _check_debiased_n(n: int) -> None:
    if n < 4:
        raise ValueError(f"debiased CKA needs at least 4 examples, got {n}")


def _ratio(numerator: float, norm_x: float, norm_y: float, debiased: bool) -> float:
    """CKA from ⟨x, y⟩ and the two norms: 0 for a constant side, clipped against rounding."""
    if norm_x <= 0 or norm_y <= 0:
        return 0.0
    value = numerator / (norm_x * norm_y)
    return float(np.clip(value, -1.0 if debiased else 0.0, 1.0))


class _FeatureStats:
    """What the feature-space formula needs of one centred layer, computed once."""

    def __init__(self, x_centred: np.ndarray, debiased: bool) -> None:
        self.x = x_centred
        self.n = x_centred.shape[0]
        self.debiased = debiased
        self.row_sq = np.einsum("ij,ij->i", x_centred, x_centred)  # diagonal of the Gram
        self.sq_norm = float(self.row_sq.sum())  # its trace
        self_dot = float(np.sum((x_centred.T @ x_centred) ** 2))  # ||XᵀX||²_F = ||K||²_F
        self.norm = np.sqrt(max(self.cross(self_dot, self), 0.0))

    def cross(self, xty_sq: float, other: _FeatureStats) -> float:
        """⟨K, L⟩ (biased) or ⟨Ũ(K), Ũ(L)⟩ (debiased) from ||YᵀX||²_F and row norms, without n×n matrices."""
        if not self.debiased:
            return xty_sq
        n = self.n
        # Kornblith et al.'s feature-space form of the U-statistic (their _debiased_dot_product_similarity_helper).
        return (
            xty_sq
            - n / (n - 2.0) * float(self.row_sq @ other.row_sq)
            + self.sq_norm * other.sq_norm / ((n - 1) * (n - 2))
        )


def _prefer_gram(n: int, widths: Sequence[int], pairs: Sequence[tuple[int, int]]) -> bool:
    """Whether n×n Gram matrices take fewer multiply-adds than p×q cross products for these layers.

    Gram: n²·p to build each layer's Gram, then n² per pair. Features: n·p² for each layer's
    ||XᵀX||_F, then n·p·q per pair.
    """
    gram_cost = n * n * (sum(widths) + len(pairs))
    feature_cost = n * (sum(p * p for p in widths) + sum(p * q for p, q in pairs))
    return gram_cost < feature_cost


def linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA between two representations x (n, p) and y (n, q) of the same n examples.

    Biased: ||YᵀX||²_F / (||XᵀX||_F ||YᵀY||_F) on centred features (in [0, 1]); computed on Gram
    matrices instead when that is cheaper (p, q large against n). Debiased: the same ratio with
    the unbiased HSIC estimator, on U-centred Gram matrices (can be slightly negative).
    A constant representation has no similarity to anything: 0, not NaN.
    """
    xc, yc = _centred(x), _centred(y)
    n = xc.shape[0]
    if yc.shape[0] != n:
        raise ValueError(f"x and y must hold the same examples: {n} vs {yc.shape[0]} rows")
    if debiased:
        _check_debiased_n(n)
    if debiased or _prefer_gram(n, [xc.shape[1], yc.shape[1]], [(xc.shape[1], yc.shape[1])]):
        kx, ky = _gram(xc, debiased), _gram(yc, debiased)
        return _ratio(float(np.vdot(kx, ky)), float(np.linalg.norm(kx)), float(np.linalg.norm(ky)), debiased)
    sx, sy = _FeatureStats(xc, False), _FeatureStats(yc, False)
    return _ratio(float(np.sum((yc.T @ xc) ** 2)), sx.norm, sy.norm, False)


def cka_matrix(
    features_a: Sequence[np.ndarray],
    features_b: Sequence[np.ndarray] | None = None,
    debiased: bool = False,
    *,
    method: Method = "auto",
) -> np.ndarray:
    """Linear CKA of every layer in ``features_a`` against every layer in ``features_b``: (len a, len b).

    With ``features_b`` None the matrix is ``features_a`` against itself: symmetric, computed on one
    triangle, with 1 on the diagonal (0 for a constant layer). Each layer is centred once; ``method``
    ``"gram"`` builds its centred n×n Gram once and a pair then costs one n² dot product,
    ``"features"`` keeps (n, p) features and a pair costs one p×q product; ``"auto"`` takes the one
    with fewer flops (Gram matrices only while they fit in memory).
    """
    if method not in ("auto", "gram", "features"):
        raise ValueError(f"method must be 'auto', 'gram' or 'features', got {method!r}")
    symmetric = features_b is None
    centred_a = [_centred(x) for x in features_a]
    centred_b = centred_a if symmetric else [_centred(y) for y in features_b]
    n_a, n_b = len(centred_a), len(centred_b)
    result = np.zeros((n_a, n_b))
    if not n_a or not n_b:
        return result
    n = centred_a[0].shape[0]
    if any(x.shape[0] != n for x in [*centred_a, *centred_b]):
        raise ValueError("every layer must hold the same examples (same number of rows)")
    if debiased:
        _check_debiased_n(n)
    layers = centred_a if symmetric else centred_a + centred_b
    if method == "auto":
        widths_a = [x.shape[1] for x in centred_a]
        if symmetric:
            pairs = [(p, q) for i, p in enumerate(widths_a) for q in widths_a[i + 1 :]]
        else:
            pairs = [(p, y.shape[1]) for p in widths_a for y in centred_b]
        fits = len(layers) * n * n * 8 <= _MAX_GRAM_BYTES
        method = "gram" if fits and _prefer_gram(n, [x.shape[1] for x in layers], pairs) else "features"

    if method == "gram":
        # All pairwise ⟨K_i, L_j⟩ at once: one (layers, n²) × (n², layers) product.
        grams = np.empty((len(layers), n * n))
        for row, x in zip(grams, layers):
            _gram(x, debiased, out=row.reshape(n, n))  # written in place: no second copy of every Gram
        inner = grams @ grams.T
        norms = np.sqrt(np.clip(np.diag(inner), 0.0, None))
        b_offset = 0 if symmetric else n_a
        for i in range(n_a):
            for j in range(n_b):
                result[i, j] = _ratio(inner[i, b_offset + j], norms[i], norms[b_offset + j], debiased)
    else:
        stats_a = [_FeatureStats(x, debiased) for x in centred_a]
        stats_b = stats_a if symmetric else [_FeatureStats(y, debiased) for y in centred_b]
        for i, sa in enumerate(stats_a):
            for j, sb in enumerate(stats_b):
                if symmetric and j <= i:
                    continue
                xty_sq = float(np.sum((sb.x.T @ sa.x) ** 2))
                result[i, j] = _ratio(sa.cross(xty_sq, sb), sa.norm, sb.norm, debiased)
    if symmetric:
        upper = np.triu(result, 1)
        result = upper + upper.T
        # CKA(X, X) = 1 by definition; a constant layer is 0 everywhere, its diagonal included.
        result[np.diag_indices(n_a)] = [1.0 if np.any(x) else 0.0 for x in centred_a]
    return result


def centre_gram(gram: np.ndarray, debiased: bool = False) -> np.ndarray:
    """H K H (biased) or Ũ(K) (debiased) of a linear Gram matrix K = X Xᵀ of uncentred features.

    Lets a cache keep one n×n Gram per layer (small, whatever the layer's width) and compute CKA
    against any other layer or model later.
    """
    k = np.array(gram, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"a Gram matrix must be square, got shape {k.shape}")
    if debiased:
        _check_debiased_n(k.shape[0])
        return _u_centre(k)
    k -= k.mean(axis=0, keepdims=True)
    k -= k.mean(axis=1, keepdims=True)
    return k


def cka_from_grams(
    grams_a: Sequence[np.ndarray],
    grams_b: Sequence[np.ndarray] | None = None,
    debiased: bool = False,
) -> np.ndarray:
    """Linear CKA of every layer pair from the layers' uncentred Gram matrices (same n examples)."""
    symmetric = grams_b is None

    def centred_and_norm(gram: np.ndarray) -> tuple[np.ndarray, float]:
        centred = centre_gram(gram, debiased).ravel()
        norm = float(np.sqrt(max(centred @ centred, 0.0)))
        # A layer constant over the examples centres to rounding noise: treat it as zero (CKA 0).
        scale = float(np.abs(gram).max(initial=0.0)) * gram.shape[0]
        return centred, (0.0 if norm <= _CONSTANT_TOLERANCE * scale else norm)

    side_a = [centred_and_norm(np.asarray(k)) for k in grams_a]
    side_b = side_a if symmetric else [centred_and_norm(np.asarray(k)) for k in grams_b]
    if not side_a or not side_b:
        return np.zeros((len(side_a), len(side_b)))
    if len({c.size for c, _ in [*side_a, *side_b]}) != 1:
        raise ValueError("every Gram matrix must hold the same examples (same size)")
    inner = np.stack([c for c, _ in side_a]) @ np.stack([c for c, _ in side_b]).T
    result = np.array(
        [
            [_ratio(inner[i, j], na, nb, debiased) for j, (_, nb) in enumerate(side_b)]
            for i, (_, na) in enumerate(side_a)
        ]
    )
    if symmetric:
        result[np.diag_indices(len(side_a))] = [1.0 if norm > 0 else 0.0 for _, norm in side_a]
    return result


def identification_accuracy(cka: np.ndarray, include_logits: bool = True) -> float | None:
    """Kornblith et al.'s layer identification: the share of layers found again by their most similar layer.

    ``cka[i, j]`` compares layer i of network A with layer j of network B, two networks of one
    architecture (e.g. two seeds), so layer i of A corresponds to layer i of B. Layer i of A is
    identified when row i's largest entry is the one at j = i, and layer j of B when column j's
    largest entry is at i = j; the result is the share over both directions (2·L decisions), so
    it does not depend on which network comes first. A tie for the largest is not an
    identification; NaN counts as no similarity. ``include_logits=False`` drops the last layer
    (the logits) first, as in Kornblith et al. (ICML 2019, Table 2). None when the matrix is not
    square (different architectures have no corresponding layers) or has no layer left.
    """
    matrix = np.asarray(cka, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return None
    if not include_logits:
        matrix = matrix[:-1, :-1]
    n = matrix.shape[0]
    if n == 0:
        return None
    matrix = np.where(np.isnan(matrix), -np.inf, matrix)
    diagonal = np.diag(matrix)
    hits = 0
    for along in (matrix, matrix.T):
        best = along.max(axis=1)
        unique = (along == best[:, None]).sum(axis=1) == 1
        hits += int(np.sum((diagonal == best) & unique & np.isfinite(diagonal)))
    return hits / (2 * n)
