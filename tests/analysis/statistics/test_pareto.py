"""The Pareto front and the recommendation on hand-made points."""

from __future__ import annotations

import numpy as np

from analysis.statistics.pareto import pareto_front, recommend


def test_pareto_front_keeps_the_points_nothing_beats():
    points = [("a", 1, 0.30), ("b", 2, 0.20), ("c", 3, 0.25), ("d", 4, 0.10), ("e", 4, 0.12)]
    # c is beaten by b (cheaper and better); e by d (same cost, better).
    assert pareto_front(points) == ["a", "b", "d"]
    assert pareto_front([("x", 1, float("nan")), ("y", 2, 0.1)]) == ["y"]
    assert pareto_front([("x", 1, 0.1), ("y", 1, 0.1)]) == ["x", "y"]  # equal points do not dominate each other


def _wrong(n_errors: int, n: int = 1000, shift: int = 0) -> np.ndarray:
    wrong = np.zeros(n, dtype=bool)
    wrong[shift : shift + n_errors] = True
    return wrong


def test_recommend_the_smallest_member_not_significantly_worse():
    # Best: big (10.0 %). mid: 10.3 %, its mistakes mostly the same images as big's (p large) and 4× cheaper.
    # small: 12.0 %, 2 pp worse: outside the tolerance.
    rows = [
        {"run": "big", "test_error": 0.100, "flops": 400, "params": 40, "wrong": _wrong(100)},
        {"run": "mid", "test_error": 0.103, "flops": 100, "params": 10, "wrong": _wrong(103)},
        {"run": "small", "test_error": 0.120, "flops": 10, "params": 1, "wrong": _wrong(120)},
    ]
    chosen = recommend(rows, tolerance=0.005)
    assert chosen["run"] == "mid" and chosen["best"] == "big"
    assert "4.0× fewer FLOPs" in chosen["reason"] and "not significantly worse" in chosen["reason"]
    # A wider tolerance lets small in, but small's 20 extra mistakes are significant (p = 2/2^20·…).
    assert recommend(rows, tolerance=0.05)["run"] == "mid"


def test_recommend_refuses_a_member_significantly_worse_within_the_tolerance():
    # 1 % vs 1.4 % on 10,000 images, the 40 extra mistakes all the cheap run's: p ≈ 1e-12.
    rows = [
        {"run": "best", "test_error": 0.010, "flops": 100, "params": 10, "wrong": _wrong(100, 10_000)},
        {"run": "cheap", "test_error": 0.014, "flops": 10, "params": 1, "wrong": _wrong(140, 10_000)},
    ]
    chosen = recommend(rows, tolerance=0.005)
    assert chosen["run"] == "best" and "lowest test error" in chosen["reason"]


def test_recommend_ties_on_flops_go_to_fewer_parameters():
    rows = [
        {"run": "a", "test_error": 0.10, "flops": 100, "params": 20, "wrong": _wrong(100)},
        {"run": "b", "test_error": 0.10, "flops": 100, "params": 10, "wrong": _wrong(100, shift=1)},
    ]
    assert recommend(rows)["run"] == "b"


def test_recommend_without_rows_or_outcomes():
    assert recommend([])["run"] is None
    rows = [
        {"run": "best", "test_error": 0.10, "flops": 100, "params": 10},
        {"run": "cheap", "test_error": 0.101, "flops": 10, "params": 1},  # no outcomes: no paired test, not chosen
    ]
    assert recommend(rows)["run"] == "best"
