"""Neuron clusters: planted clusters are found, rows are laid out by cluster, edits renumber."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis.statistics.clustering import (
    NeuronClustering,
    apply_edits,
    group_layers_by_similarity,
    order_within_clusters,
    renumber_by_order,
    split_cluster,
)


def planted(n_per: int = 15, n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clusters of noisy class profiles at random scales, shuffled."""
    rng = np.random.default_rng(seed)
    prototypes = np.zeros((2, n_classes))
    prototypes[0, : n_classes // 2] = 1.0
    prototypes[1, n_classes // 2 :] = 1.0
    truth = np.repeat([0, 1], n_per)
    scales = rng.uniform(0.2, 3.0, size=(2 * n_per, 1))  # scale must not matter
    profiles = scales * (prototypes[truth] + 0.1 * rng.random((2 * n_per, n_classes)))
    shuffle = rng.permutation(2 * n_per)
    return profiles[shuffle], truth[shuffle]


def assert_layout(model: NeuronClustering, n: int) -> None:
    order = model.row_order_
    assert sorted(order.tolist()) == list(range(n))
    along = model.labels_[order]
    # Contiguous clusters numbered in order of appearance: labels along the order are 0,0,..,1,1,..,2..
    assert np.all(np.diff(along) >= 0)
    assert along[0] == 0 and np.array_equal(np.unique(along), np.arange(model.n_clusters_))
    np.testing.assert_array_equal(model.cluster_sizes_, np.bincount(model.labels_))


@pytest.mark.parametrize("method", ["kmeans", "meanshift"])
def test_planted_clusters_are_recovered(method):
    profiles, truth = planted()
    model = NeuronClustering(method=method).fit(profiles)
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert model.n_clusters_ == 2
    assert model.silhouette_ is not None and model.silhouette_ > 0.5
    assert_layout(model, profiles.shape[0])


def test_fixed_k_and_layout_with_many_rows():
    profiles = np.random.default_rng(1).random((40, 6))
    model = NeuronClustering(n_clusters=3).fit(profiles)
    assert model.n_clusters_ == 3
    assert_layout(model, 40)
    np.testing.assert_array_equal(model.labels_, NeuronClustering(n_clusters=3).fit(profiles).labels_)


def test_fit_does_not_touch_parameters():
    model = NeuronClustering(method="kmeans", n_clusters="auto", max_clusters=4)
    model.fit(planted()[0])
    assert (model.method, model.n_clusters, model.max_clusters) == ("kmeans", "auto", 4)


@pytest.mark.parametrize("method", ["kmeans", "meanshift"])
@pytest.mark.parametrize(
    "profiles",
    [
        np.ones((1, 5)),  # one neuron
        np.tile([1.0, 2.0, 0.5], (6, 1)),  # all identical
        np.zeros((5, 4)),  # all dead
        np.vstack([np.zeros((3, 4)), np.tile([1.0, 0, 0, 0], (3, 1))]),  # two distinct rows
        np.zeros((0, 4)),  # empty layer
    ],
    ids=["one", "identical", "zeros", "two-distinct", "empty"],
)
def test_degenerate_inputs(method, profiles):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = NeuronClustering(method=method).fit(profiles)
    n = profiles.shape[0]
    assert model.labels_.shape == (n,)
    if n:
        assert_layout(model, n)
    distinct = np.unique(profiles, axis=0).shape[0]
    assert model.n_clusters_ == (distinct if n >= 3 else min(n, 1))


def test_fixed_k_capped_by_distinct_rows():
    profiles = np.vstack([np.tile([1.0, 0, 0], (4, 1)), np.tile([0, 1.0, 0], (4, 1))])
    assert NeuronClustering(n_clusters=5).fit(profiles).n_clusters_ == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "dbscan"}, "unknown clustering method"),
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": "many"}, "n_clusters"),
        ({"n_clusters": 50}, "exceeds the number of neurons"),
        ({"method": "meanshift", "bandwidth": -1.0}, "bandwidth"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeuronClustering(**kwargs).fit(np.random.default_rng(0).random((10, 3)))


def test_order_within_clusters_and_renumber():
    profiles = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.9, 0.1, 0.0],
            [0.0, 0.9, 0.1],
            [1.0, 0.05, 0.0],
        ]
    )
    labels = np.array([7, 3, 7, 3, 7])
    order = order_within_clusters(profiles, labels)
    assert sorted(order.tolist()) == list(range(5))
    along = labels[order]
    assert np.count_nonzero(along[1:] != along[:-1]) == 1
    renumbered = renumber_by_order(labels, order)
    assert renumbered[order[0]] == 0
    assert set(renumbered.tolist()) == {0, 1}


def test_apply_edits_move_merge_renumber():
    labels = np.array([0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(apply_edits(labels, moves={0: 2}), [2, 0, 1, 1, 2, 2])
    # Moving the only neuron of a cluster away removes it; ids close the gap.
    np.testing.assert_array_equal(apply_edits(np.array([0, 1, 2]), moves={1: 2}), [0, 1, 1])
    # Moving to a new id makes a new cluster.
    np.testing.assert_array_equal(apply_edits(labels, moves={5: 9}), [0, 0, 1, 1, 2, 3])
    np.testing.assert_array_equal(apply_edits(labels, merges=[(0, 2)]), [1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(apply_edits(labels, merges=[(0, 1), (1, 2)]), [0] * 6)
    np.testing.assert_array_equal(apply_edits(labels), labels)
    with pytest.raises(ValueError, match="neuron 9"):
        apply_edits(labels, moves={9: 0})
    with pytest.raises(ValueError, match="cluster 5"):
        apply_edits(labels, merges=[(5, 0)])


def test_split_cluster():
    profiles, truth = planted(n_per=6)
    labels = np.zeros(12, dtype=int)
    split = split_cluster(profiles, labels, cluster=0)
    assert adjusted_rand_score(truth, split) == 1.0
    assert split[0] == 0 and set(split.tolist()) == {0, 1}
    # Splitting one cluster among others renumbers densely.
    labels = np.where(np.arange(12) < 2, 5, 3)  # ids 3 and 5
    split = split_cluster(profiles, labels, cluster=3, n_parts=3)
    assert set(split.tolist()) == {0, 1, 2, 3}
    # A cluster of identical rows cannot be split.
    same = np.tile([1.0, 2.0], (4, 1))
    np.testing.assert_array_equal(split_cluster(same, np.zeros(4, int), 0), np.zeros(4))
    with pytest.raises(ValueError, match="cluster 4"):
        split_cluster(profiles, np.zeros(12, int), 4)
    with pytest.raises(ValueError, match="n_parts"):
        split_cluster(profiles, np.zeros(12, int), 0, n_parts=1)


def test_group_layers_recovers_blocks():
    sizes = [3, 2, 4]
    truth = np.repeat(np.arange(3), sizes)
    rng = np.random.default_rng(0)
    similarity = np.where(truth[:, None] == truth[None, :], 0.9, 0.2) + 0.05 * rng.random((9, 9))
    similarity = (similarity + similarity.T) / 2
    np.fill_diagonal(similarity, 1.0)
    assert group_layers_by_similarity(similarity, 3) == truth.tolist()
    assert group_layers_by_similarity(similarity, 1) == [0] * 9
    assert group_layers_by_similarity(similarity, 9) == list(range(9))
    two = group_layers_by_similarity(similarity, 2)
    assert two == sorted(two) and set(two) == {0, 1}
    with pytest.raises(ValueError, match="n_groups"):
        group_layers_by_similarity(similarity, 10)
    with pytest.raises(ValueError, match="square"):
        group_layers_by_similarity(np.ones((2, 3)), 1)


def test_meanshift_on_a_wide_layer_uses_a_narrow_quantile():
    rng = np.random.default_rng(0)
    prototypes = rng.random((6, 10)) ** 3
    truth = rng.integers(0, 6, 300)
    profiles = prototypes[truth] + 0.1 * rng.random((300, 10))
    model = NeuronClustering(method="meanshift", bandwidth_quantile=0.1).fit(profiles)
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert_layout(model, 300)
