"""How sure an error rate is: Wilson intervals, and McNemar's exact test for two models on the same images.

Pure functions on counts and per-image outcome vectors (no torch; no scipy either: importing
scipy.stats costs seconds on a web dyno's first Review page): the review says "A is better than
B" only when the paired test rejects at 5 %.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from ..review.thresholds import SIGNIFICANCE


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(errors: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for an error rate of ``errors`` out of ``n``; (0, 1) when ``n`` is 0.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 errors.
    """
    if n < 0 or errors < 0 or errors > n:
        raise ValueError(f"need 0 <= errors <= n, got errors={errors}, n={n}")
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = errors / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 (or n) errors the bound is exactly 0 (or 1); rounding would leave a hair beside it.
    low = 0.0 if errors == 0 else max(0.0, centre - half)
    high = 1.0 if errors == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class PairedTest:
    """Two models' errors on the same ``n`` images: McNemar's exact test and the difference with its interval.

    ``difference`` is error_a − error_b (positive: A is worse); ``interval`` is Newcombe's score
    interval for a paired difference (his method 10, 1998); ``significant`` is p < 0.05.
    """

    n: int
    only_a_wrong: int
    only_b_wrong: int
    both_wrong: int
    p_value: float
    difference: float
    interval: tuple[float, float]
    significant: bool

    @property
    def error_a(self) -> float:
        return (self.only_a_wrong + self.both_wrong) / self.n if self.n else float("nan")

    @property
    def error_b(self) -> float:
        return (self.only_b_wrong + self.both_wrong) / self.n if self.n else float("nan")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["interval"] = list(self.interval)
        return {**values, "error_a": self.error_a, "error_b": self.error_b}


def mcnemar_p_value(only_a_wrong: int, only_b_wrong: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs against Binomial(b + c, 1/2); 1 with none."""
    discordant = only_a_wrong + only_b_wrong
    if discordant == 0:
        return 1.0
    # P(X <= k) for X ~ Binomial(n, 1/2), exactly: sum of C(n, j) over 2^n in integers, one float division.
    term, tail = 1, 1
    for j in range(min(only_a_wrong, only_b_wrong)):
        term = term * (discordant - j) // (j + 1)
        tail += term
    return min(1.0, 2 * tail / 2**discordant)


def newcombe_paired_interval(
    both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's (1998, method 10) interval for p_a − p_b from a paired 2×2 table.

    ``both``: both events, ``only_a`` / ``only_b``: one of them, ``neither``. The Wilson intervals
    of the two marginal rates are combined with the table's phi correlation.
    """
    n = both + only_a + only_b + neither
    if n == 0:
        return -1.0, 1.0
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    low_a, high_a = wilson_interval(both + only_a, n, confidence)
    low_b, high_b = wilson_interval(both + only_b, n, confidence)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins else 0.0
    difference = p_a - p_b
    below = (p_a - low_a) ** 2 - 2 * phi * (p_a - low_a) * (high_b - p_b) + (high_b - p_b) ** 2
    above = (high_a - p_a) ** 2 - 2 * phi * (high_a - p_a) * (p_b - low_b) + (p_b - low_b) ** 2
    return max(-1.0, difference - math.sqrt(max(below, 0.0))), min(1.0, difference + math.sqrt(max(above, 0.0)))


def mcnemar(wrong_a: np.ndarray, wrong_b: np.ndarray, confidence: float = 0.95) -> PairedTest:
    """McNemar's exact test of two models' per-image mistakes (boolean vectors over the same images)."""
    wrong_a = np.asarray(wrong_a, dtype=bool).reshape(-1)
    wrong_b = np.asarray(wrong_b, dtype=bool).reshape(-1)
    if wrong_a.shape != wrong_b.shape:
        raise ValueError(f"a paired test needs the same images: {wrong_a.size} outcomes against {wrong_b.size}")
    n = int(wrong_a.size)
    both = int(np.count_nonzero(wrong_a & wrong_b))
    only_a = int(np.count_nonzero(wrong_a & ~wrong_b))
    only_b = int(np.count_nonzero(~wrong_a & wrong_b))
    p_value = mcnemar_p_value(only_a, only_b)
    return PairedTest(
        n=n,
        only_a_wrong=only_a,
        only_b_wrong=only_b,
        both_wrong=both,
        p_value=p_value,
        difference=(only_a - only_b) / n if n else 0.0,
        interval=newcombe_paired_interval(both, only_a, only_b, n - both - only_a - only_b, confidence),
        significant=p_value < SIGNIFICANCE,
    )
