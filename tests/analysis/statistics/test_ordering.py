"""Row order: Held-Karp is exact, the heuristic is close, edge cases hold."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from analysis.statistics.ordering import (
    cosine_similarity_matrix,
    held_karp_order,
    heuristic_order,
    order_rows,
    path_similarity,
    two_opt,
)


def brute_force_value(similarity: np.ndarray) -> float:
    perms = np.array(list(itertools.permutations(range(similarity.shape[0]))))
    return float(similarity[perms[:, :-1], perms[:, 1:]].sum(axis=1).max())


def olo_order(similarity: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    distance = np.clip(1.0 - similarity, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(distance, checks=False)
    return leaves_list(optimal_leaf_ordering(linkage(condensed, "average"), condensed))


def assert_permutation(order: np.ndarray, n: int) -> None:
    assert order.dtype.kind == "i"
    assert sorted(order.tolist()) == list(range(n))


def test_cosine_similarity_by_hand():
    rows = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]])
    s = cosine_similarity_matrix(rows)
    r = 1 / np.sqrt(2)
    expected = np.array([[1, 0, r, 0], [0, 1, r, 0], [r, r, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(s, expected)
    assert not np.isnan(s).any()


def test_path_similarity_by_hand():
    s = np.array([[1, 0.5, 0.1], [0.5, 1, 0.9], [0.1, 0.9, 1]])
    assert path_similarity(s, [0, 1, 2]) == pytest.approx(1.4)
    assert path_similarity(s, [1, 0, 2]) == pytest.approx(0.6)
    assert path_similarity(s, [2]) == 0.0


def test_held_karp_matches_brute_force():
    rng = np.random.default_rng(0)
    for case in range(36):
        n = 2 + case % 7  # 2..8
        # Mix of non-negative profiles and signed (z-scored-like) ones: negative similarities too.
        rows = rng.random((n, 5)) if case % 2 else rng.normal(size=(n, 5))
        s = cosine_similarity_matrix(rows)
        order = held_karp_order(s)
        assert_permutation(order, n)
        assert path_similarity(s, order) == pytest.approx(brute_force_value(s), abs=1e-9)


def test_held_karp_deterministic_and_fast_at_12():
    import time

    rows = np.random.default_rng(1).random((12, 10))
    s = cosine_similarity_matrix(rows)
    start = time.perf_counter()
    first = held_karp_order(s)
    assert time.perf_counter() - start < 1.0
    np.testing.assert_array_equal(first, held_karp_order(s))
    # All-equal similarities: every order ties; the answer is still fixed.
    np.testing.assert_array_equal(held_karp_order(np.ones((5, 5))), np.arange(5))


def test_held_karp_refuses_huge_n():
    with pytest.raises(ValueError, match="heuristic_order"):
        held_karp_order(np.eye(30))


def test_heuristic_not_worse_than_olo_and_close_to_exact():
    rng = np.random.default_rng(2)
    ratios = []
    for _ in range(8):
        rows = rng.random((10, 6))
        s = cosine_similarity_matrix(rows)
        order = heuristic_order(rows)
        assert_permutation(order, 10)
        value = path_similarity(s, order)
        assert value >= path_similarity(s, olo_order(s)) - 1e-12
        ratios.append(value / path_similarity(s, held_karp_order(s)))
    assert min(ratios) > 0.97


def test_two_opt_never_decreases():
    rng = np.random.default_rng(3)
    for n in (3, 5, 20, 40):
        rows = rng.normal(size=(n, 4))
        s = cosine_similarity_matrix(rows)
        start = rng.permutation(n)
        improved = two_opt(s, start)
        assert_permutation(improved, n)
        assert path_similarity(s, improved) >= path_similarity(s, start) - 1e-12


def test_two_groups_are_contiguous():
    rng = np.random.default_rng(4)
    group_a = np.array([1.0, 1, 1, 0, 0, 0]) + 0.05 * rng.random((7, 6))
    group_b = np.array([0.0, 0, 0, 1, 1, 1]) + 0.05 * rng.random((7, 6))
    rows = np.vstack([group_a, group_b])[rng.permutation(14)]
    is_a = rows[:, 0] > 0.5
    exact = held_karp_order(cosine_similarity_matrix(rows))
    for order in (exact, order_rows(rows, exact_limit=2)):  # Held-Karp, and the heuristic
        assert_permutation(order, 14)
        flags = is_a[order]
        assert np.count_nonzero(flags[1:] != flags[:-1]) == 1


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_inputs(n):
    rows = np.ones((n, 3))
    for order in (order_rows(rows), heuristic_order(rows), held_karp_order(cosine_similarity_matrix(rows))):
        assert_permutation(order, n)


def test_duplicates_and_zero_rows_without_warnings():
    rows = np.vstack([np.tile([1.0, 2.0, 3.0], (10, 1)), np.zeros((5, 3)), np.eye(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for exact_limit in (0, 12):
            assert_permutation(order_rows(rows, exact_limit=exact_limit), 18)
        assert_permutation(order_rows(rows[:8]), 8)


def test_order_rows_is_a_permutation_for_many_rows():
    rows = np.random.default_rng(5).random((60, 10))
    order = order_rows(rows)
    assert_permutation(order, 60)
    np.testing.assert_array_equal(order, order_rows(rows))


def test_bad_shapes():
    with pytest.raises(ValueError):
        order_rows(np.ones(5))
    with pytest.raises(ValueError):
        held_karp_order(np.ones((3, 4)))
