"""Two runs side by side: what changed, whether the error change is real, and where in depth.

:func:`diff_tables` is pure (plain inputs, so it is tested by hand); :func:`run_diff` gathers its
inputs from an analyzer's cached analyses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..pipeline import RunAnalyzer


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value) if math.isfinite(value) else None


def _change(a: Any, b: Any) -> float | None:
    a, b = _number(a), _number(b)
    return b - a if a is not None and b is not None else None


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [v for v in (_number(x) for x in values) if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def matched_layers(depths_a: Sequence[float], depths_b: Sequence[float]) -> list[tuple[int, int]]:
    """Pairs (i, j) of corresponding layers: each layer of the shallower run with the other's nearest in depth."""
    if len(depths_a) <= len(depths_b):
        return [(i, int(np.argmin([abs(d - depth) for d in depths_b]))) for i, depth in enumerate(depths_a)]
    return [(int(np.argmin([abs(d - depth) for d in depths_a])), j) for j, depth in enumerate(depths_b)]


def diff_tables(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    paired: Mapping[str, Any] | None = None,
    cka: np.ndarray | None = None,
) -> dict[str, Any]:
    """The diff of run ``a`` to run ``b`` (changes are b − a).

    ``a`` and ``b``: ``run``, ``params``, ``flops``, ``test_error``, ``train_error``, ``class_names``,
    ``per_class_error``, ``layers`` (per-layer metrics with ``name``, ``relative_depth``,
    ``near_duplicate_fraction``, ``positive_edge_fraction``). ``paired``: the McNemar test of a
    against b (None when they were not evaluated on the same images); ``cka``: a's layers × b's.
    """
    significant = None if paired is None else bool(paired["significant"])
    gap_a, gap_b = (
        _change(a.get("train_error"), a.get("test_error")),
        _change(b.get("train_error"), b.get("test_error")),
    )
    layers_a, layers_b = list(a.get("layers") or []), list(b.get("layers") or [])
    quantities = [
        ("params", a.get("params"), b.get("params"), None),
        ("flops", a.get("flops"), b.get("flops"), None),
        ("test_error", a.get("test_error"), b.get("test_error"), significant),
        ("train_error", a.get("train_error"), b.get("train_error"), None),
        ("gap", gap_a, gap_b, None),
        ("layers", len(layers_a) or None, len(layers_b) or None, None),
        (
            "near_duplicate_fraction",
            _mean([m.get("near_duplicate_fraction") for m in layers_a]),
            _mean([m.get("near_duplicate_fraction") for m in layers_b]),
            None,
        ),
        (
            "positive_edge_fraction",
            _mean([m.get("positive_edge_fraction") for m in layers_a]),
            _mean([m.get("positive_edge_fraction") for m in layers_b]),
            None,
        ),
    ]
    rows = [
        {"quantity": q, "a": va, "b": vb, "change": _change(va, vb), "significant": s} for q, va, vb, s in quantities
    ]
    per_class = []
    if list(a.get("class_names") or []) == list(b.get("class_names") or []):
        for name, ea, eb in zip(a["class_names"], a.get("per_class_error") or [], b.get("per_class_error") or []):
            per_class.append({"class": name, "a": _number(ea), "b": _number(eb), "change": _change(ea, eb)})
        per_class.sort(key=lambda row: -abs(row["change"]) if row["change"] is not None else 0.0)
    by_depth = []
    pairs = matched_layers([m["relative_depth"] for m in layers_a], [m["relative_depth"] for m in layers_b])
    for i, j in pairs:
        la, lb = layers_a[i], layers_b[j]
        by_depth.append(
            {
                "depth": la["relative_depth"] if len(layers_a) <= len(layers_b) else lb["relative_depth"],
                "layer_a": la["name"],
                "layer_b": lb["name"],
                "near_duplicate_a": la.get("near_duplicate_fraction"),
                "near_duplicate_b": lb.get("near_duplicate_fraction"),
                "positive_edges_a": la.get("positive_edge_fraction"),
                "positive_edges_b": lb.get("positive_edge_fraction"),
                "cka": None if cka is None else _number(np.asarray(cka)[i, j]),
            }
        )
    return {
        "run_a": a["run"],
        "run_b": b["run"],
        "rows": rows,
        "per_class": per_class,
        "by_depth": by_depth,
        "paired": dict(paired) if paired is not None else None,
        "sentences": diff_sentences(a, b, rows, per_class, by_depth, paired),
    }


def _ratio(a: Any, b: Any) -> str | None:
    a, b = _number(a), _number(b)
    if not a or not b:
        return None
    if f"{b / a:.2g}" == "1":
        return "the same"
    return f"{b / a:.2g}× the" if b >= a else f"{a / b:.2g}× fewer"


def diff_sentences(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    per_class: Sequence[Mapping[str, Any]],
    by_depth: Sequence[Mapping[str, Any]],
    paired: Mapping[str, Any] | None,
) -> list[str]:
    """The diff in words, one sentence per aspect (b described against a)."""
    name_a, name_b = a["run"], b["run"]
    sentences = []
    params, flops = _ratio(a.get("params"), b.get("params")), _ratio(a.get("flops"), b.get("flops"))
    if params and flops:
        sentences.append(f"Against {name_a}, {name_b} has {params} parameters and {flops} FLOPs.")
    by_quantity = {row["quantity"]: row for row in rows}
    test = by_quantity["test_error"]
    if test["change"] is not None:
        direction = "higher" if test["change"] > 0 else "lower"
        verdict = ""
        if paired is not None:
            verdict = (
                f", a real difference (McNemar p = {paired['p_value']:.3g} on {paired['n']:,} images)"
                if paired["significant"]
                else f", not a real difference (McNemar p = {paired['p_value']:.2f} on {paired['n']:,} images)"
            )
        sentences.append(
            f"{name_b}'s test error is {100 * abs(test['change']):.1f} pp {direction} than {name_a}'s "
            f"({100 * test['b']:.1f} % vs {100 * test['a']:.1f} %){verdict}."
        )
    gap = by_quantity["gap"]
    if gap["change"] is not None:
        sentences.append(f"The train/test gap goes from {100 * gap['a']:.1f} pp to {100 * gap['b']:.1f} pp.")
    if per_class and per_class[0]["change"] is not None:
        top = per_class[:2]
        changes = " and ".join(f"{row['class']} ({100 * row['change']:+.1f} pp)" for row in top)
        sentences.append(f"The classes that change most: {changes}.")
    if by_depth:

        def spread(key_a: str, key_b: str) -> tuple[float, dict] | None:
            changes = [
                (row[key_b] - row[key_a], row) for row in by_depth if row[key_a] is not None and row[key_b] is not None
            ]
            return max(changes, key=lambda c: abs(c[0])) if changes else None

        redundancy = spread("near_duplicate_a", "near_duplicate_b")
        if redundancy is not None and abs(redundancy[0]) >= 0.05:
            change, row = redundancy
            sentences.append(
                f"Redundancy changes most at depth {row['depth']:.2f} ({row['layer_a']} → {row['layer_b']}): "
                f"near-duplicates {100 * row['near_duplicate_a']:.0f} % → {100 * row['near_duplicate_b']:.0f} %."
            )
        edges = spread("positive_edges_a", "positive_edges_b")
        if edges is not None and abs(edges[0]) >= 0.05:
            change, row = edges
            sentences.append(
                f"Edge signs change most at depth {row['depth']:.2f}: positive edges "
                f"{100 * row['positive_edges_a']:.0f} % → {100 * row['positive_edges_b']:.0f} %."
            )
        ckas = [row for row in by_depth if row["cka"] is not None]
        if ckas:
            lowest = min(ckas, key=lambda row: row["cka"])
            highest = max(ckas, key=lambda row: row["cka"])
            sentences.append(
                f"CKA between corresponding layers ranges from {lowest['cka']:.2f} at depth {lowest['depth']:.2f} "
                f"({lowest['layer_a']} vs {lowest['layer_b']}) to {highest['cka']:.2f} at depth {highest['depth']:.2f}."
            )
    return sentences


def run_diff(analyzer: RunAnalyzer, run_a: str, run_b: str) -> dict[str, Any]:
    """:func:`diff_tables` of two runs from the analyzer (computed when it may, else cached)."""
    from .assemble import check_one_dataset, paired, run_facts

    facts = [run_facts(analyzer, run) for run in (run_a, run_b)]
    check_one_dataset(facts)
    for fact in facts:
        stats = analyzer.statistics(fact["run"])
        fact["class_names"] = list(stats["class_names"])
        fact["per_class_error"] = np.asarray(stats["per_class_error"]).tolist()
        fact["layers"] = analyzer.layer_metrics(fact["run"])
    test = paired(facts[0], facts[1], analyzer)
    cka = analyzer.cka(run_a, run_b)["matrix"]
    result = diff_tables(facts[0], facts[1], test, cka)
    result["dataset"] = facts[0]["dataset_description"]
    return result
