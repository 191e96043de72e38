"""The review of a family of runs, assembled from what the analyzer has cached.

Nothing here computes an ablation: a run whose ablation is not cached is listed in
``not_reviewed`` (its errors, size and training health still count). A cached-only analyzer
(the dashboard's) reads run.json's errors for a run whose statistics are not cached either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AnalysisError, NotAnalyzedError
from ..runs.store import BrokenRunError
from ..statistics.pareto import pareto_front, recommend
from ..statistics.uncertainty import wilson_interval
from ..sweeps import seed_spread
from .findings import build_findings

if TYPE_CHECKING:
    from ..pipeline import RunAnalyzer

# What a run without cached analyses is to the review (not an error: the page offers the job).
_MISSING = (NotAnalyzedError, AnalysisError, BrokenRunError, FileNotFoundError)


def _try(compute, default=None):
    try:
        return compute()
    except _MISSING:
        return default


def run_facts(analyzer: RunAnalyzer, run: str) -> dict[str, Any]:
    """What the review knows of one run: errors with the interval, size, layers, ablation, health.

    ``layers`` and ``ablation`` are None when not cached; ``wrong`` (the per-image mistakes) too.
    """
    meta = analyzer.meta(run)
    stats = _try(lambda: analyzer.statistics(run))
    if stats is not None:
        test_error = stats["test_error"]
        interval = list(analyzer.test_error_interval(run))
        train = _try(lambda: analyzer.train_errors(run)["train_error"], stats.get("train_error"))
        n_images, dataset = stats["n_images"], stats["dataset"]
        description = stats["dataset_description"]
    else:  # run.json's record, and its interval on the recorded test-set size
        test_error, train = meta.get("test_error"), meta.get("train_error")
        n_images, dataset = meta.get("n_test"), meta.get("dataset")
        description = meta.get("dataset_description") or dataset
        interval = (
            list(wilson_interval(round(test_error * n_images), int(n_images)))
            if isinstance(test_error, (int, float)) and isinstance(n_images, int) and n_images > 0
            else None
        )
    outcomes = _try(lambda: analyzer.test_outcomes(run))
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    return {
        "run": run,
        "model": meta.get("model"),
        # What makes runs "the same model, another seed" (analysis.sweeps.SAME_BUT_SEED), and the seed.
        "profile": meta.get("profile"),
        "epochs_planned": meta.get("epochs_planned"),
        "width_scale": meta.get("width_scale"),
        "seed": config.get("seed"),
        "dataset": dataset,
        "dataset_description": description,
        "test_error": test_error,
        "interval": interval,
        "train_error": train,
        "n_images": n_images,
        "params": meta.get("params"),
        "flops": meta.get("flops"),
        "layers": _try(lambda: analyzer.layer_metrics(run)),
        "ablation": _try(lambda: analyzer.cached_only().ablation(run)),
        "anomalies": _try(lambda: analyzer.health(run), []),
        "wrong": None if outcomes is None else outcomes["wrong"],
        "labels_hash": None if outcomes is None else outcomes["labels_hash"],
    }


def check_one_dataset(facts: Sequence[dict[str, Any]]) -> None:
    """ValueError naming the runs of each dataset when ``facts`` span more than one."""
    by_dataset: dict[str, list[str]] = {}
    for fact in facts:
        by_dataset.setdefault(str(fact["dataset"]), []).append(fact["run"])
    if len(by_dataset) > 1:
        groups = "; ".join(f"{', '.join(runs)} ({dataset})" for dataset, runs in by_dataset.items())
        raise ValueError(f"a review compares runs of one dataset, these span {len(by_dataset)}: {groups}")


def paired(fact_a: dict[str, Any], fact_b: dict[str, Any], analyzer: RunAnalyzer) -> dict[str, Any] | None:
    """The paired test of two runs when both runs' outcomes are cached on the same images, else None."""
    if fact_a["wrong"] is None or fact_b["wrong"] is None or fact_a["labels_hash"] != fact_b["labels_hash"]:
        return None
    return analyzer.paired_test(fact_a["run"], fact_b["run"])


def review(analyzer: RunAnalyzer, runs: Sequence[str], tolerance: float) -> dict[str, Any]:
    """See :meth:`analysis.pipeline.RunAnalyzer.review`."""
    facts, broken = [], {}
    for run in dict.fromkeys(runs):
        try:
            facts.append(run_facts(analyzer, run))
        except BrokenRunError as exc:  # its run.json cannot be read: named, the others reviewed
            broken[run] = str(exc)
    check_one_dataset(facts)
    points = [
        (f["run"], f["flops"], f["test_error"])
        for f in facts
        if isinstance(f["flops"], (int, float)) and isinstance(f["test_error"], (int, float))
    ]
    front = pareto_front(points)
    recommendation = recommend(facts, tolerance)
    best = next((f for f in facts if f["run"] == recommendation.get("best")), None)
    pairs = []
    if best is not None:
        for fact in facts:
            if fact is not best:
                test = paired(best, fact, analyzer)
                if test is not None:
                    pairs.append(test)
    spreads = seed_spread(facts)
    findings = build_findings(facts, pairs, recommendation, front, spreads)
    return {
        "dataset": facts[0]["dataset_description"] if facts else None,
        "dataset_name": facts[0]["dataset"] if facts else None,
        "tolerance": tolerance,
        "runs": [
            {
                "run": f["run"],
                "model": f["model"],
                "seed": f["seed"],
                "test_error": f["test_error"],
                "interval": f["interval"],
                "train_error": f["train_error"],
                "n_images": f["n_images"],
                "params": f["params"],
                "flops": f["flops"],
                "on_front": f["run"] in front,
                "reviewed": f["ablation"] is not None,
                "whole_model": (f["ablation"] or {}).get("whole_model"),
            }
            for f in facts
        ],
        "pareto": front,
        "recommendation": {
            "run": recommendation["run"],
            "reason": recommendation["reason"],
            "best": recommendation["best"],
        },
        "pairs": pairs,
        "seed_spread": spreads,
        "findings": findings,
        "not_reviewed": [f["run"] for f in facts if f["ablation"] is None],
        "broken": broken,
    }


def run_findings(analyzer: RunAnalyzer, run: str) -> list[dict[str, Any]]:
    """The findings about one run on its own (the report's): health, redundancy, dead units, edges, gap."""
    return build_findings([run_facts(analyzer, run)])
