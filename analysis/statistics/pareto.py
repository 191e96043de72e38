"""Which member to keep: the error–cost Pareto front and the smallest member as good as the best.

Pure functions over plain rows (run name, test error, FLOPs, parameters and, for the paired test,
the per-image mistakes), so the rule is tested on hand-made points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..review.thresholds import DEFAULT_TOLERANCE
from .uncertainty import mcnemar


def pareto_front(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Names of the ``(name, cost, error)`` points no other point beats on both (cheapest first).

    A point is dominated when another costs no more *and* errs no more, and is better on one of
    the two. Points with a missing (NaN) cost or error are left out.
    """
    usable = [(str(n), float(c), float(e)) for n, c, e in points if np.isfinite(c) and np.isfinite(e)]
    front = [
        (cost, error, name)
        for name, cost, error in usable
        if not any(c <= cost and e <= error and (c < cost or e < error) for other, c, e in usable if other != name)
    ]
    return [name for _, _, name in sorted(front)]


def _size(row: Mapping[str, Any]) -> tuple[float, float]:
    def number(key: str) -> float:
        value = row.get(key)
        return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else float("inf")

    return number("flops"), number("params")


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def recommend(rows: Sequence[Mapping[str, Any]], tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """The smallest member (FLOPs, then parameters) whose test error is within ``tolerance`` of the best
    and not significantly worse than it (McNemar on ``wrong``, the per-image mistakes on the same images).

    ``rows``: mappings with ``run``, ``test_error``, ``flops``, ``params`` and ``wrong`` (a boolean
    vector; without it a member can only be chosen when it *is* the best). Returns ``run`` (None
    without rows), ``reason`` (one sentence) and the ``best`` run with the ``p_value`` of the pick.
    """
    rows = [row for row in rows if isinstance(row.get("test_error"), (int, float)) and np.isfinite(row["test_error"])]
    if not rows:
        return {"run": None, "reason": "no run has a test error to compare", "best": None, "p_value": None}
    best = min(rows, key=lambda row: (row["test_error"], _size(row)))
    candidates = []
    for row in rows:
        if row is best:
            candidates.append((row, None))
            continue
        excess = row["test_error"] - best["test_error"]
        if excess > tolerance + 1e-12 or row.get("wrong") is None or best.get("wrong") is None:
            continue
        test = mcnemar(row["wrong"], best["wrong"])
        if test.significant and test.difference > 0:
            continue  # significantly worse than the best
        candidates.append((row, test))
    chosen, test = min(candidates, key=lambda pair: (_size(pair[0]), pair[0]["test_error"]))
    if test is None:
        others = "no smaller member" if len(rows) > 1 else "it is the only member"
        reason = f"{chosen['run']} has the lowest test error ({_percent(chosen['test_error'])}); " + (
            f"{others} comes within {100 * tolerance:.1f} pp without being significantly worse"
            if len(rows) > 1
            else f"{others} compared"
        )
        return {"run": chosen["run"], "reason": reason, "best": best["run"], "p_value": None}
    flops_ratio = _size(best)[0] / _size(chosen)[0] if np.isfinite(_size(chosen)[0]) and _size(chosen)[0] else None
    saving = f" with {flops_ratio:.1f}× fewer FLOPs" if flops_ratio and np.isfinite(flops_ratio) else ""
    reason = (
        f"{chosen['run']} is the smallest member as good as the best{saving}: its test error "
        f"({_percent(chosen['test_error'])}) is {100 * (chosen['test_error'] - best['test_error']):+.1f} pp from "
        f"{best['run']}'s ({_percent(best['test_error'])}), within the {100 * tolerance:.1f} pp tolerance and not "
        f"significantly worse (McNemar p = {test.p_value:.2f} on {test.n:,} images)"
    )
    return {"run": chosen["run"], "reason": reason, "best": best["run"], "p_value": test.p_value}
