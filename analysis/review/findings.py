"""Findings: what a reviewer should hear, each with the numbers behind it and the view that shows it.

:func:`build_findings` is a pure function of plain data (what the cached analyses hold), so every
kind is tested on hand-built inputs. Thresholds live in :mod:`analysis.review.thresholds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import median
from typing import Any
from urllib.parse import quote, urlencode

from . import thresholds as T

#: Order of kinds within one severity (the recommendation leads the informational ones).
KIND_ORDER = (
    "recommendation",
    "training_health",
    "overfitting",
    "redundant_layer",
    "dead_units",
    "positive_edges",
    "within_noise",
    "within_seed_spread",
)


def view(path: str, **params: Any) -> str:
    """A URL path with its query in the app's vocabulary: ``view("/redundancy", runs="a", layer="conv7")``."""
    query = {key: ",".join(value) if isinstance(value, (list, tuple)) else str(value) for key, value in params.items()}
    return f"{path}?{urlencode(query, safe=',', quote_via=quote)}" if query else path


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _pp(fraction: float, signed: bool = False) -> str:
    return f"{100 * fraction:+.1f} pp" if signed else f"{100 * fraction:.1f} pp"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def finding(
    kind: str,
    run: str | None,
    severity: str,
    text: str,
    evidence: Mapping[str, Any],
    link: str,
    layer: str | None = None,
) -> dict[str, Any]:
    if severity not in T.SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {T.SEVERITIES}")
    return {
        "kind": kind,
        "run": run,
        "layer": layer,
        "severity": severity,
        "text": text,
        "evidence": dict(evidence),
        "view": link,
    }


def _gap(run: Mapping[str, Any]) -> float | None:
    train, test = _number(run.get("train_error")), _number(run.get("test_error"))
    return test - train if train is not None and test is not None else None


def overfitting_findings(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs whose train/test gap is well above the other runs' median gap (or large, for a run alone)."""
    gaps = {run["run"]: _gap(run) for run in runs}
    found = []
    for run in runs:
        gap = gaps[run["run"]]
        if gap is None:
            continue
        others = [g for name, g in gaps.items() if name != run["run"] and g is not None]
        reference = median(others) if others else None
        excess = gap - reference if reference is not None else None
        if (excess is not None and excess < T.OVERFIT_EXCESS) or (excess is None and gap < T.OVERFIT_ALONE_GAP):
            continue
        compared = f", {_pp(excess)} above the family's median gap ({_pp(reference)})" if reference is not None else ""
        text = (
            f"{run['run']} over-fits: {_percent(run['train_error'])} train error against "
            f"{_percent(run['test_error'])} test error, a gap of {_pp(gap)}{compared}."
        )
        severity = "high" if excess is not None and excess >= T.OVERFIT_HIGH_EXCESS else "medium"
        evidence = {
            "train_error": run["train_error"],
            "test_error": run["test_error"],
            "gap": gap,
            "family_median_gap": reference,
            "excess": excess,
        }
        found.append(finding("overfitting", run["run"], severity, text, evidence, view("/evolution", runs=run["run"])))
    return found


def redundancy_findings(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Layers with many near-duplicates that merging removes at a small test-error cost (from the ablation)."""
    ablation = run.get("ablation")
    if not ablation:
        return []
    duplicate_fraction = {m.get("name"): m.get("near_duplicate_fraction") for m in run.get("layers") or []}
    found = []
    for layer in ablation.get("layers", []):
        n, flagged, cost = (
            layer.get("n_neurons") or 0,
            layer.get("n_flagged") or 0,
            _number(layer.get("merged_error_change")),
        )
        if n < T.REDUNDANT_MIN_NEURONS or cost is None or flagged / n < T.REDUNDANT_SHARE or cost > T.MERGE_COST:
            continue
        interval = layer.get("merged_interval") or [None, None]
        saved = layer.get("params_saved")
        share = (
            f" ({saved / ablation['whole_model']['params']:.0%} of the parameters)"
            if saved and ablation.get("whole_model", {}).get("params")
            else ""
        )
        text = (
            f"{flagged} of {n} {layer['layer']} neurons in {run['run']} can be merged into near-duplicates for "
            f"{_pp(cost, signed=True)} test error{share}."
        )
        evidence = {
            "n_neurons": n,
            "n_flagged": flagged,
            "near_duplicate_fraction": duplicate_fraction.get(layer["layer"]),
            "merged_error_change": cost,
            "merged_interval": list(interval),
            "removed_error_change": layer.get("removed_error_change"),
            "params_saved": saved,
            "flops_saved": layer.get("flops_saved"),
            "depth": layer.get("depth"),
        }
        link = view("/redundancy", runs=run["run"], layer=layer["layer"])
        found.append(finding("redundant_layer", run["run"], "medium", text, evidence, link, layer=layer["layer"]))
    return found


def dead_unit_findings(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Layers where a good share of the units never fire on the evaluation images (from the ablation)."""
    ablation = run.get("ablation")
    if not ablation:
        return []
    found = []
    for layer in ablation.get("layers", []):
        n, dead = layer.get("n_neurons") or 0, layer.get("n_dead") or 0
        if not n or dead / n < T.DEAD_SHARE:
            continue
        share = dead / n
        change = _number(layer.get("dead_error_change"))
        cost = "at no cost" if not change else f"for {_pp(change, signed=True)} test error"
        text = (
            f"{dead} of {n} {layer['layer']} units in {run['run']} never fire on the {ablation.get('n_images', 0):,} "
            f"evaluation images; removing them saves {layer.get('dead_params_saved') or 0:,} parameters {cost}."
        )
        evidence = {
            "n_neurons": n,
            "n_dead": dead,
            "dead_fraction": share,
            "dead_error_change": layer.get("dead_error_change"),
            "params_saved": layer.get("dead_params_saved"),
            "flops_saved": layer.get("dead_flops_saved"),
        }
        severity = "high" if share >= T.DEAD_HIGH_SHARE else "medium"
        link = view("/evolution", runs=run["run"], metric="dead_fraction")
        found.append(finding("dead_units", run["run"], severity, text, evidence, link, layer=layer["layer"]))
    return found


def edge_findings(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """High-level layers whose incoming edges are mostly positive (CNNVis found them mostly negative)."""
    deep = [
        m
        for m in run.get("layers") or []
        if (_number(m.get("relative_depth")) or 0) >= T.HIGH_LEVEL_DEPTH
        and _number(m.get("positive_edge_fraction")) is not None
    ]
    if not deep:
        return []
    mean = sum(m["positive_edge_fraction"] for m in deep) / len(deep)
    if mean < T.POSITIVE_EDGES:
        return []
    names = [m["name"] for m in deep]
    text = (
        f"{_percent(mean)} of the edges into {run['run']}'s high-level layers ({names[0]}–{names[-1]}) are positive: "
        "its deep neurons excite more than they inhibit, unlike the trained CNNs CNNVis describes."
    )
    evidence = {
        "mean_positive_edge_fraction": mean,
        "layers": {m["name"]: m["positive_edge_fraction"] for m in deep},
        "from_depth": T.HIGH_LEVEL_DEPTH,
    }
    return [finding("positive_edges", run["run"], "info", text, evidence, view("/edges", runs=run["run"]))]


def _health_metric(kind: str) -> str | None:
    if kind in ("exploding_gradients", "vanishing_gradients"):
        return "grad_norm"
    if kind == "dead_units":
        return "dead_fraction"
    return None


def health_findings(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each training-health anomaly, in its severity; dead units the ablation measured are left to it."""
    measured_dead = {
        layer["layer"]
        for layer in ((run.get("ablation") or {}).get("layers") or [])
        if (layer.get("n_neurons") or 0) and (layer.get("n_dead") or 0) / layer["n_neurons"] >= T.DEAD_SHARE
    }
    found = []
    for anomaly in run.get("anomalies") or []:
        kind = str(anomaly.get("kind"))
        if kind == "dead_units" and anomaly.get("layer") in measured_dead:
            continue
        metric = _health_metric(kind)
        link = view("/evolution", runs=run["run"], **({"metric": metric} if metric else {}))
        text = f"{run['run']}: {anomaly.get('message')}."
        severity = T.HEALTH_SEVERITY.get(str(anomaly.get("severity")), "info")
        evidence = {"anomaly": kind, "epoch": anomaly.get("epoch")}
        found.append(finding("training_health", run["run"], severity, text, evidence, link, layer=anomaly.get("layer")))
    return found


def noise_findings(pairs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pairs of runs whose test errors differ by less than McNemar's test can tell apart."""
    found = []
    for pair in pairs:
        if pair.get("significant") or pair.get("p_value") is None:
            continue
        a, b = pair["run_a"], pair["run_b"]
        text = (
            f"{a} and {b} differ by {_pp(abs(pair['difference']))} in test error "
            f"({_percent(pair['error_a'])} vs {_percent(pair['error_b'])}): not a real difference "
            f"(McNemar p = {pair['p_value']:.2f} on {pair['n']:,} images)."
        )
        evidence = {key: pair.get(key) for key in ("error_a", "error_b", "difference", "interval", "p_value", "n")}
        evidence.update(only_a_wrong=pair.get("only_a_wrong"), only_b_wrong=pair.get("only_b_wrong"))
        found.append(finding("within_noise", b, "info", text, evidence, view("/models", runs=[a, b])))
    return found


def _seed_range(spread: Mapping[str, Any]) -> float | None:
    low, high = _number(spread.get("test_error_min")), _number(spread.get("test_error_max"))
    if (spread.get("n_seeds") or 0) < T.SEED_MIN or low is None or high is None:
        return None
    return high - low


def seed_spread_findings(spreads: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Models whose mean test error differs from the best model's by no more than reseeding one of them moves it.

    ``spreads``: :func:`analysis.sweeps.seed_spread`'s entries (``model``, ``runs``, ``n_seeds``, ``test_error_``
    ``mean``, ``min``, ``max``). Only when at least one of the two models has :data:`~thresholds.SEED_MIN` seeds.
    """
    ranked = [s for s in spreads if _number(s.get("test_error_mean")) is not None]
    if len(ranked) < 2 or all(_seed_range(s) is None for s in ranked):
        return []
    best = min(ranked, key=lambda s: s["test_error_mean"])
    found = []
    for other in ranked:
        if other is best:
            continue
        widths = {str(s["model"]): w for s in (best, other) if (w := _seed_range(s)) is not None}
        if not widths:
            continue
        widest = max(widths, key=lambda model: widths[model])
        seed_range = widths[widest]
        difference = other["test_error_mean"] - best["test_error_mean"]
        if difference > T.SEED_RANGE_FACTOR * seed_range:
            continue
        seeds = next(s["n_seeds"] for s in (best, other) if str(s["model"]) == widest)
        text = (
            f"{other['model']} and {best['model']} differ by {_pp(difference)} in mean test error "
            f"({_percent(other['test_error_mean'])} vs {_percent(best['test_error_mean'])}), no more than "
            f"{seeds} seeds of {widest} differ among themselves ({_pp(seed_range)}): not a real difference."
        )
        evidence = {
            "model_a": best["model"],
            "model_b": other["model"],
            "mean_error_a": best["test_error_mean"],
            "mean_error_b": other["test_error_mean"],
            "difference": difference,
            "seed_range": seed_range,
            "seeds_a": best.get("n_seeds"),
            "seeds_b": other.get("n_seeds"),
        }
        runs = [*best.get("runs", ()), *other.get("runs", ())]
        found.append(
            finding("within_seed_spread", other["runs"][0], "info", text, evidence, view("/models", runs=runs))
        )
    return found


def recommendation_finding(recommendation: Mapping[str, Any] | None, front: Sequence[str] = ()) -> list[dict[str, Any]]:
    if not recommendation or not recommendation.get("run"):
        return []
    run = recommendation["run"]
    runs = list(dict.fromkeys([run, *([recommendation["best"]] if recommendation.get("best") else []), *front]))
    evidence = {"best": recommendation.get("best"), "p_value": recommendation.get("p_value"), "pareto": list(front)}
    return [
        finding(
            "recommendation",
            run,
            "info",
            f"Keep {run}: {recommendation['reason']}.",
            evidence,
            view("/models", runs=runs),
        )
    ]


def sort_findings(found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first; within a severity, by kind (recommendation first), then the largest saving first
    (a family's many redundant layers lead with those worth most), keeping the given order otherwise."""
    rank = {severity: i for i, severity in enumerate(T.SEVERITIES)}
    kinds = {kind: i for i, kind in enumerate(KIND_ORDER)}

    def saving(f: Mapping[str, Any]) -> float:
        return -(_number(f["evidence"].get("params_saved")) or 0.0)

    return sorted(found, key=lambda f: (rank[f["severity"]], kinds.get(f["kind"], len(kinds)), saving(f)))


def build_findings(
    runs: Sequence[Mapping[str, Any]],
    pairs: Sequence[Mapping[str, Any]] = (),
    recommendation: Mapping[str, Any] | None = None,
    front: Sequence[str] = (),
    spreads: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Every finding about ``runs`` (most severe first).

    ``runs``: one mapping per run with ``run``, ``test_error``, ``train_error``, ``layers`` (the
    report's per-layer metrics: ``name``, ``relative_depth``, ``near_duplicate_fraction``,
    ``positive_edge_fraction``…), ``ablation`` (:func:`analysis.probes.ablation.ablate`'s result or
    None) and ``anomalies`` (training health). ``pairs``: paired tests (``run_a``, ``run_b`` and
    :class:`~analysis.statistics.uncertainty.PairedTest`'s fields). ``recommendation``: ``run``,
    ``reason``, ``best``; ``front``: the Pareto front's run names; ``spreads``: the seed spread of each
    model (:func:`analysis.sweeps.seed_spread`), read against the differences between models.
    """
    found = recommendation_finding(recommendation, front)
    found += overfitting_findings(runs)
    for run in runs:
        found += health_findings(run)
        found += redundancy_findings(run)
        found += dead_unit_findings(run)
        found += edge_findings(run)
    found += noise_findings(pairs)
    found += seed_spread_findings(spreads)
    return sort_findings(found)
