"""Redundancy metrics on matrices small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.statistics.redundancy import (
    effective_rank,
    mean_within_cluster_similarity,
    near_duplicate_fraction,
    near_duplicate_mask,
    normalize_profiles,
    redundancy_metrics,
)

# 4 neurons × 3 classes: rows 0 and 1 are the same profile at two scales, row 2 is orthogonal to
# them, row 3 is dead.
M = np.array(
    [
        [2.0, 0.0, -4.0],
        [1.0, 0.0, -2.0],
        [0.0, 5.0, 0.0],
        [0.0, 0.0, 0.0],
    ]
)


def test_normalize_max():
    expected = np.array([[0.5, 0, -1], [0.5, 0, -1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(normalize_profiles(M), expected)
    np.testing.assert_allclose(normalize_profiles(M, "max"), expected)


def test_normalize_zscore():
    matrix = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0], [0.0, 0.0, 6.0], [0.1, 0.1, 0.1]])
    s = math.sqrt(2 / 3)
    expected = np.array(
        [[-1 / s, 0, 1 / s], [0, 0, 0], [-1 / math.sqrt(2), -1 / math.sqrt(2), math.sqrt(2)], [0, 0, 0]]
    )
    result = normalize_profiles(matrix, "zscore")
    np.testing.assert_allclose(result, expected, atol=1e-12)
    assert not np.isnan(result).any()


def test_normalize_unknown_mode():
    with pytest.raises(ValueError, match="unknown normalisation mode 'l1'"):
        normalize_profiles(M, "l1")


def test_mean_within_cluster_similarity_by_hand():
    # Pairs in the same cluster: (0,1) cos 1, (2,3) cos 0 → mean 0.5.
    assert mean_within_cluster_similarity(M, [0, 0, 1, 1]) == pytest.approx(0.5)
    # One cluster of rows 0,1,2: pairs (0,1)=1, (0,2)=0, (1,2)=0 → 1/3; row 3 alone adds no pair.
    assert mean_within_cluster_similarity(M, [4, 4, 4, 9]) == pytest.approx(1 / 3)
    # Hand cosines: [1,1,0]·[1,0,0] = 1/√2.
    rows = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    # Pairs (0,1) and (2,3) both have cosine 1/√2.
    assert mean_within_cluster_similarity(rows, [0, 0, 1, 1]) == pytest.approx(1 / math.sqrt(2))
    assert math.isnan(mean_within_cluster_similarity(M, [0, 1, 2, 3]))
    with pytest.raises(ValueError):
        mean_within_cluster_similarity(M, [0, 1])


def test_near_duplicates_by_hand():
    np.testing.assert_array_equal(near_duplicate_mask(M), [True, True, False, False])
    assert near_duplicate_fraction(M) == 0.5
    # Exact copies are caught even at threshold 1.
    assert near_duplicate_fraction(np.tile([0.3, 0.7, 0.1], (4, 1)), threshold=1.0) == 1.0
    # Orthogonal rows: none.
    assert near_duplicate_fraction(np.eye(4, 3)) == 0.0
    # Threshold in between: cos([1,1,0],[1,0,0]) ≈ 0.707.
    rows = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(near_duplicate_mask(rows, 0.7), [True, True, True, True])
    np.testing.assert_array_equal(near_duplicate_mask(rows, 0.75), [False, False, True, True])


def test_four_copies_and_four_orthogonal_rows():
    rows = np.vstack([np.tile([1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], (4, 1)), np.eye(8)[4:]])
    assert near_duplicate_fraction(rows) == 0.5


def test_effective_rank():
    for n in (1, 3, 5):
        assert effective_rank(np.eye(n)) == pytest.approx(n)
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    assert effective_rank(rotation) == pytest.approx(4)
    assert effective_rank(np.outer([1.0, 2.0, 3.0, 4.0], [1.0, -1.0, 0.5])) == pytest.approx(1.0)
    assert effective_rank(np.zeros((4, 3))) == 0.0
    # Singular values 2 and 2 of diag(2, 2, 0) → two equal values → 2.
    assert effective_rank(np.diag([2.0, 2.0, 0.0])) == pytest.approx(2.0)
    # Singular values 3, 1: p = (3/4, 1/4).
    p = np.array([0.75, 0.25])
    assert effective_rank(np.diag([3.0, 1.0])) == pytest.approx(math.exp(-(p * np.log(p)).sum()))


def test_redundancy_metrics():
    metrics = redundancy_metrics(M, [0, 0, 1, 1])
    assert metrics["n_neurons"] == 4 and metrics["n_clusters"] == 2
    assert metrics["mean_within_cluster_similarity"] == pytest.approx(0.5)
    assert metrics["near_duplicate_fraction"] == 0.5
    # Rows 0,1 span one direction (singular value √(20+5) = 5), row 2 an orthogonal one (norm 5): 2.
    assert metrics["effective_rank"] == pytest.approx(2.0)
    assert metrics["normalized_effective_rank"] == pytest.approx(metrics["effective_rank"] / 3)
    assert set(metrics) == {
        "n_neurons",
        "n_clusters",
        "mean_within_cluster_similarity",
        "near_duplicate_fraction",
        "effective_rank",
        "normalized_effective_rank",
    }


def test_empty_and_single_neuron():
    single = redundancy_metrics(np.array([[1.0, 2.0]]), [0])
    assert single["near_duplicate_fraction"] == 0.0 and single["effective_rank"] == pytest.approx(1.0)
    assert math.isnan(single["mean_within_cluster_similarity"])
    empty = redundancy_metrics(np.zeros((0, 3)), np.zeros(0, int))
    assert empty["n_neurons"] == 0 and empty["effective_rank"] == 0.0
    assert math.isnan(empty["near_duplicate_fraction"])
