"""Neuron clusters of a layer's class-activation matrix, their row order, edits, and layer groups.

Neurons (rows) are clustered on their class profile with K-Means or MeanShift (scikit-learn).
Clustering uses L2-normalised rows: what a neuron is selective for is the *shape* of its profile
across classes, not its scale, so two neurons differing only by a gain land together. After
CNNVis, clusters are laid out one after another, similar clusters adjacent, and the rows inside
each cluster are ordered so similar rows sit together (:mod:`analysis.statistics.ordering`).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans, MeanShift, estimate_bandwidth
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances, silhouette_score
from threadpoolctl import threadpool_limits

from .ordering import order_rows

__all__ = [
    "NeuronClustering",
    "apply_edits",
    "group_layers_by_similarity",
    "l2_normalize_rows",
    "order_within_clusters",
    "renumber_by_order",
    "split_cluster",
    "split_parts",
]

METHODS = ("kmeans", "meanshift")


def l2_normalize_rows(profiles: np.ndarray) -> np.ndarray:
    """Return the rows scaled to unit L2 norm; zero rows (dead neurons) stay zero."""
    profiles = np.asarray(profiles, dtype=float)
    if profiles.ndim != 2:
        raise ValueError(f"profiles must be a 2-D array (neurons × classes), got shape {profiles.shape}")
    norms = np.linalg.norm(profiles, axis=1, keepdims=True)
    return np.divide(profiles, norms, out=np.zeros_like(profiles), where=norms > 0)


def _n_distinct(rows: np.ndarray, decimals: int = 12) -> int:
    # Rounded so rows equal up to float noise count once (K-Means cannot separate them either).
    return 0 if rows.shape[0] == 0 else int(np.unique(np.round(rows, decimals), axis=0).shape[0])


def _dense(labels: np.ndarray) -> np.ndarray:
    # Keeps the relative order of the old ids, drops the gaps.
    return np.unique(labels, return_inverse=True)[1].astype(int).reshape(-1)


def _kmeans(unit: np.ndarray, k: int, random_state: int, n_init: int) -> np.ndarray:
    # One thread: a layer is at most a few thousand rows × ~10 classes, where OpenMP start-up and
    # contention on shared cores cost 10-50× the work itself (measured on 2 busy cores).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # Raised when rows coincide; the caller already caps k at the number of distinct rows.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit_predict(unit)


def _silhouette(unit: np.ndarray, labels: np.ndarray) -> float | None:
    # Euclidean on unit rows: ‖u − v‖² = 2 − 2 cos(u, v), so it ranks pairs exactly as cosine
    # distance does, it is the geometry K-Means optimises, and zero rows get a defined distance (1)
    # where sklearn's cosine metric would have to invent one.
    k = np.unique(labels).size
    if not 2 <= k <= unit.shape[0] - 1:
        return None
    return float(silhouette_score(unit, labels, metric="euclidean"))


def renumber_by_order(labels: np.ndarray, row_order: np.ndarray) -> np.ndarray:
    """Return labels renumbered 0..k-1 in the order the clusters first appear along ``row_order``."""
    labels = np.asarray(labels, dtype=int)
    _, first = np.unique(labels[np.asarray(row_order, dtype=int)], return_index=True)
    ordered_ids = labels[np.asarray(row_order, dtype=int)][np.sort(first)]
    mapping = {int(old): new for new, old in enumerate(ordered_ids)}
    return np.array([mapping[int(label)] for label in labels], dtype=int)


def order_within_clusters(profiles: np.ndarray, labels: np.ndarray, exact_limit: int = 12) -> np.ndarray:
    """Return the row order: clusters one after another, similar clusters adjacent, rows ordered inside each.

    Clusters are ordered by :func:`order_rows` on their centroids (mean unit profile); rows within a
    cluster by :func:`order_rows` on their profiles.
    """
    unit = l2_normalize_rows(profiles)
    labels = np.asarray(labels, dtype=int).reshape(-1)
    if labels.shape[0] != unit.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {unit.shape[0]} neurons")
    if unit.shape[0] == 0:
        return np.zeros(0, dtype=int)
    ids = np.unique(labels)
    centroids = np.stack([unit[labels == cluster].mean(axis=0) for cluster in ids])
    pieces = []
    for position in order_rows(centroids, exact_limit=exact_limit):
        members = np.flatnonzero(labels == ids[position])
        pieces.append(members[order_rows(unit[members], exact_limit=exact_limit)])
    return np.concatenate(pieces)


class NeuronClustering:
    """Cluster the neurons of one layer by class profile and lay the rows out as CNNVis does.

    Parameters
    ----------
    method : ``"kmeans"`` or ``"meanshift"``.
    n_clusters : an int, or ``"auto"`` (K-Means only): k in 2..min(max_clusters, n-1) with the best
        silhouette. Capped at the number of distinct rows (identical rows cannot be split).
    max_clusters : upper bound of the ``"auto"`` search.
    bandwidth : MeanShift kernel width on unit rows; ``None`` estimates it.
    random_state : seed of K-Means and of the bandwidth estimate.
    exact_order_limit : clusters up to this many rows are ordered exactly (Held-Karp).
    n_init : K-Means restarts per k.
    bandwidth_quantile : quantile of ``estimate_bandwidth`` when ``bandwidth`` is None (sklearn's 0.3);
        smaller values give narrower kernels and more clusters.

    Attributes (after ``fit``)
    --------------------------
    labels_ : cluster of each neuron, numbered 0..k-1 in the order clusters appear in ``row_order_``.
    n_clusters_ : number of clusters found.
    row_order_ : permutation of the neurons; each cluster is contiguous.
    cluster_sizes_ : neurons per cluster, indexed by label.
    silhouette_ : silhouette of ``labels_`` (Euclidean on unit rows), ``None`` when undefined.
    """

    def __init__(
        self,
        method: str = "kmeans",
        n_clusters: int | str = "auto",
        max_clusters: int = 10,
        bandwidth: float | None = None,
        random_state: int = 0,
        exact_order_limit: int = 12,
        n_init: int = 4,
        bandwidth_quantile: float = 0.3,
    ) -> None:
        self.method = method
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.bandwidth = bandwidth
        self.random_state = random_state
        self.exact_order_limit = exact_order_limit
        self.n_init = n_init
        self.bandwidth_quantile = bandwidth_quantile

    def _validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown clustering method {self.method!r}; expected one of {METHODS}")
        if isinstance(self.n_clusters, str):
            if self.n_clusters != "auto":
                raise ValueError(f"n_clusters must be a positive int or 'auto', got {self.n_clusters!r}")
        elif (
            isinstance(self.n_clusters, bool)
            or not isinstance(self.n_clusters, (int, np.integer))
            or self.n_clusters < 1
        ):
            raise ValueError(f"n_clusters must be a positive int or 'auto', got {self.n_clusters!r}")
        if int(self.max_clusters) < 1:
            raise ValueError(f"max_clusters must be at least 1, got {self.max_clusters!r}")
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be positive or None, got {self.bandwidth!r}")
        if not 0 < self.bandwidth_quantile <= 1:
            raise ValueError(f"bandwidth_quantile must be in (0, 1], got {self.bandwidth_quantile!r}")

    def fit(self, profiles: np.ndarray) -> NeuronClustering:
        """Cluster the rows of ``profiles`` (neurons × classes) and compute the row order."""
        self._validate()
        unit = l2_normalize_rows(profiles)
        n = unit.shape[0]
        if isinstance(self.n_clusters, (int, np.integer)) and self.n_clusters > max(n, 1):
            raise ValueError(f"n_clusters={self.n_clusters} exceeds the number of neurons ({n})")
        if n == 0:
            raw = np.zeros(0, dtype=int)
        elif self.method == "kmeans":
            raw = self._fit_kmeans(unit)
        else:
            raw = self._fit_meanshift(unit)
        raw = _dense(raw) if n else raw

        self.row_order_ = order_within_clusters(unit, raw, exact_limit=self.exact_order_limit)
        self.labels_ = renumber_by_order(raw, self.row_order_) if n else raw
        self.n_clusters_ = int(np.unique(self.labels_).size)
        self.cluster_sizes_ = np.bincount(self.labels_, minlength=self.n_clusters_).astype(int)
        self.silhouette_ = _silhouette(unit, self.labels_) if n else None
        return self

    def fit_predict(self, profiles: np.ndarray) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(profiles).labels_

    def _fit_kmeans(self, unit: np.ndarray) -> np.ndarray:
        n = unit.shape[0]
        distinct = _n_distinct(unit)
        if self.n_clusters != "auto":
            k = min(int(self.n_clusters), distinct)
            return np.zeros(n, dtype=int) if k == 1 else _kmeans(unit, k, self.random_state, self.n_init)
        # Silhouette needs 2 ≤ k ≤ n-1; more clusters than distinct rows cannot be told apart.
        candidates = range(2, min(int(self.max_clusters), n - 1, distinct) + 1)
        best_labels, best_score = np.zeros(n, dtype=int), -np.inf
        for k in candidates:
            labels = _kmeans(unit, k, self.random_state, self.n_init)
            score = _silhouette(unit, labels)
            if score is not None and score > best_score:  # strict: ties keep the smaller k
                best_labels, best_score = labels, score
        return best_labels

    def _fit_meanshift(self, unit: np.ndarray) -> np.ndarray:
        n = unit.shape[0]
        if _n_distinct(unit) < 2:
            return np.zeros(n, dtype=int)
        bandwidth = self.bandwidth
        if bandwidth is None:
            bandwidth = estimate_bandwidth(unit, quantile=self.bandwidth_quantile, random_state=self.random_state)
            if not bandwidth > 1e-9:
                # Mostly duplicated rows make the nearest-neighbour quantile 0. Half the typical nonzero
                # distance keeps groups of copies apart (a full one would merge two groups into one window).
                distances = pairwise_distances(unit)
                bandwidth = 0.5 * float(np.median(distances[distances > 1e-9]))
        # Seeding from a grid of bandwidth-sized bins instead of every row: same modes on layers of
        # hundreds of neurons, ~30× faster (0.7 s → 0.02 s on 512 rows); small layers seed from every row.
        with threadpool_limits(limits=1):  # same reason as in _kmeans
            return MeanShift(bandwidth=bandwidth, bin_seeding=n >= 200).fit_predict(unit)


def apply_edits(
    labels: np.ndarray, moves: dict[int, int] | None = None, merges: list[tuple[int, int]] | None = None
) -> np.ndarray:
    """Return labels after interactive edits, renumbered densely 0..k-1 (relative order of ids kept).

    ``moves`` {neuron: cluster} are applied first (a new id makes a new cluster), then ``merges``
    [(a, b)] in sequence, each relabelling cluster a as b (so (a, b), (b, c) sends a to c).
    Cluster ids refer to the numbering of ``labels``.
    """
    edited = np.asarray(labels, dtype=int).reshape(-1).copy()
    n = edited.size
    for neuron, cluster in (moves or {}).items():
        if not 0 <= int(neuron) < n:
            raise ValueError(f"cannot move neuron {neuron}: the layer has {n} neurons")
        if int(cluster) < 0:
            raise ValueError(f"cannot move neuron {neuron} to negative cluster id {cluster}")
        edited[int(neuron)] = int(cluster)
    for source, target in merges or []:
        if not np.any(edited == source):
            raise ValueError(f"cannot merge cluster {source}: no neuron has that label")
        if int(target) < 0:
            raise ValueError(f"cannot merge into negative cluster id {target}")
        edited[edited == source] = int(target)
    return _dense(edited) if n else edited


def split_parts(profiles: np.ndarray, members: np.ndarray, n_parts: int = 2, random_state: int = 0) -> np.ndarray:
    """Return the part (0..k-1) of each of ``members`` when K-Means splits their rows into ``n_parts``.

    The first member's part is 0, so a caller can keep the cluster's id for it ("split off", not
    "renamed"). With fewer distinct rows than ``n_parts`` there are as many parts as distinct rows.
    """
    unit = l2_normalize_rows(profiles)
    members = np.asarray(members, dtype=int).reshape(-1)
    if n_parts < 2:
        raise ValueError(f"n_parts must be at least 2, got {n_parts}")
    if members.size == 0:
        raise ValueError("cannot split an empty cluster")
    k = min(n_parts, _n_distinct(unit[members]))
    if k < 2:
        return np.zeros(members.size, dtype=int)
    parts = _dense(_kmeans(unit[members], k, random_state, n_init=4))
    return (parts - parts[0]) % k


def split_cluster(
    profiles: np.ndarray, labels: np.ndarray, cluster: int, n_parts: int = 2, random_state: int = 0
) -> np.ndarray:
    """Return labels with ``cluster`` split into ``n_parts`` by K-Means on its rows only, renumbered densely.

    The first part keeps the cluster's id; the others get new ids after the current largest, so
    after renumbering they follow the existing clusters. A cluster with fewer distinct rows than
    ``n_parts`` is split into as many parts as it has distinct rows.
    """
    labels = np.asarray(labels, dtype=int).reshape(-1)
    if labels.shape[0] != np.asarray(profiles).shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {np.asarray(profiles).shape[0]} neurons")
    if n_parts < 2:
        raise ValueError(f"n_parts must be at least 2, got {n_parts}")
    members = np.flatnonzero(labels == cluster)
    if members.size == 0:
        raise ValueError(f"cannot split cluster {cluster}: no neuron has that label")
    parts = split_parts(profiles, members, n_parts, random_state)
    new_ids = np.concatenate(([cluster], labels.max() + np.arange(1, int(parts.max()) + 1)))
    edited = labels.copy()
    edited[members] = new_ids[parts]
    return _dense(edited)


def group_layers_by_similarity(similarity: np.ndarray, n_groups: int) -> list[int]:
    """Return group labels (0..n_groups-1, non-decreasing) splitting consecutive layers into similar segments.

    ``similarity`` is layer × layer (e.g. linear CKA). A segment's score is its size times its
    within-segment mean similarity (diagonal included), i.e. kernel k-means with the constraint
    that groups are contiguous; the sum over segments is maximised exactly by dynamic programming
    over split points. Ties go to the earliest split.
    """
    similarity = np.asarray(similarity, dtype=float)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be a square layer × layer matrix, got shape {similarity.shape}")
    n = similarity.shape[0]
    if n == 0 and n_groups == 0:
        return []
    if not 1 <= n_groups <= n:
        raise ValueError(f"n_groups must be between 1 and the number of layers ({n}), got {n_groups}")

    # cumulative[a, b] = sum of similarity[:a, :b]; block sums in O(1).
    cumulative = np.zeros((n + 1, n + 1))
    cumulative[1:, 1:] = similarity.cumsum(axis=0).cumsum(axis=1)
    starts, ends = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        block = (
            cumulative[ends, ends] - cumulative[starts, ends] - cumulative[ends, starts] + cumulative[starts, starts]
        )
        score = np.where(ends > starts, block / (ends - starts), -np.inf)  # score[a, b]: layers a..b-1

    best = np.full((n_groups + 1, n + 1), -np.inf)
    split = np.zeros((n_groups + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for g in range(1, n_groups + 1):
        candidates = best[g - 1][:, None] + score  # (start, end)
        split[g] = np.argmax(candidates, axis=0)
        best[g] = candidates[split[g], np.arange(n + 1)]

    groups = np.zeros(n, dtype=int)
    end = n
    for g in range(n_groups, 0, -1):
        start = int(split[g, end])
        groups[start:end] = g - 1
        end = start
    return groups.tolist()
