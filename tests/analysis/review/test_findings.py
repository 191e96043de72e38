"""Findings from hand-built analyses: one test per kind, the order, and the links into the app."""

from __future__ import annotations

import pytest

from analysis.review import thresholds as T
from analysis.review.findings import build_findings, view


def run(name: str, test_error: float = 0.20, train_error: float = 0.15, **extra) -> dict:
    return {"run": name, "test_error": test_error, "train_error": train_error, "layers": [], "ablation": None,
            "anomalies": [], **extra}  # fmt: skip


def ablation_layer(layer: str, n: int, flagged: int, merged: float | None, dead: int = 0, depth: float = 0.5) -> dict:
    return {
        "layer": layer,
        "depth": depth,
        "n_neurons": n,
        "n_flagged": flagged,
        "n_dead": dead,
        "params_saved": 1000 if flagged else None,
        "flops_saved": 5000 if flagged else None,
        "removed_error_change": merged,
        "merged_error_change": merged,
        "merged_interval": [-0.002, 0.004] if merged is not None else None,
        "dead_error_change": 0.0 if dead else None,
        "dead_params_saved": 300 if dead else None,
        "dead_flops_saved": 900 if dead else None,
    }


def ablation(*layers: dict) -> dict:
    return {"layers": list(layers), "whole_model": {"params": 10_000}, "n_images": 2000, "base_error": 0.2}


def kinds(found: list[dict]) -> list[tuple[str, str | None, str | None]]:
    return [(f["kind"], f["run"], f["layer"]) for f in found]


def test_overfitting_is_a_gap_well_above_the_family():
    runs = [run("a", 0.20, 0.15), run("b", 0.21, 0.16), run("c", 0.30, 0.10)]  # gaps 5, 5 and 20 pp
    found = build_findings(runs)
    assert kinds(found) == [("overfitting", "c", None)]
    assert found[0]["severity"] == "high"  # 15 pp above the median of the others
    assert found[0]["evidence"]["gap"] == pytest.approx(0.20) and found[0]["evidence"]["excess"] == pytest.approx(0.15)
    assert found[0]["view"] == "/evolution?runs=c"
    assert "over-fits" in found[0]["text"] and "20.0 pp" in found[0]["text"]
    assert build_findings([run("alone", 0.30, 0.25)]) == []  # 5 pp alone is no finding …
    assert kinds(build_findings([run("alone", 0.30, 0.15)])) == [("overfitting", "alone", None)]  # … 15 pp is


def test_a_redundant_layer_needs_many_duplicates_and_a_cheap_merge():
    layers = [
        ablation_layer("conv7", 128, 42, 0.001),  # the example
        ablation_layer("conv3", 64, 40, 0.01),  # many duplicates, but merging them costs 1 pp
        ablation_layer("conv5", 64, 4, 0.0),  # cheap, but few
        ablation_layer("fc2", 10, 0, None),
    ]
    found = build_findings([run("base-demo", ablation=ablation(*layers))])
    assert kinds(found) == [("redundant_layer", "base-demo", "conv7")]
    assert found[0]["text"] == (
        "42 of 128 conv7 neurons in base-demo can be merged into near-duplicates for +0.1 pp test error "
        "(10% of the parameters)."
    )
    assert found[0]["view"] == "/redundancy?runs=base-demo&layer=conv7"
    assert found[0]["evidence"]["n_flagged"] == 42 and found[0]["evidence"]["merged_interval"] == [-0.002, 0.004]


def test_dead_units_from_the_ablation_replace_the_health_warning():
    health = {"severity": "warning", "kind": "dead_units", "epoch": 5, "layer": "conv2",
              "message": "conv2: 60% of its units never fire on the probe images (dead ReLUs)"}  # fmt: skip
    measured = run("r", ablation=ablation(ablation_layer("conv2", 16, 0, None, dead=10)), anomalies=[health])
    found = build_findings([measured])
    assert kinds(found) == [("dead_units", "r", "conv2")]
    assert found[0]["severity"] == "high" and found[0]["evidence"]["dead_fraction"] == pytest.approx(10 / 16)
    assert "10 of 16 conv2 units in r never fire on the 2,000 evaluation images" in found[0]["text"]
    assert found[0]["view"] == "/evolution?runs=r&metric=dead_fraction"
    # Without the ablation the training-health warning is the finding.
    found = build_findings([run("r", anomalies=[health])])
    assert kinds(found) == [("training_health", "r", "conv2")] and found[0]["severity"] == "medium"


def test_each_training_health_anomaly_is_a_finding_in_its_severity():
    anomalies = [
        {"severity": "error", "kind": "exploding_gradients", "epoch": 3, "layer": "conv1", "message": "explode"},
        {"severity": "info", "kind": "test_error_plateau", "epoch": 7, "layer": None, "message": "plateau"},
    ]
    found = build_findings([run("r", anomalies=anomalies)])
    assert [(f["severity"], f["evidence"]["anomaly"]) for f in found] == [
        ("high", "exploding_gradients"),
        ("info", "test_error_plateau"),
    ]
    assert found[0]["view"] == "/evolution?runs=r&metric=grad_norm" and found[1]["view"] == "/evolution?runs=r"


def test_high_level_edges_mostly_positive():
    layers = [
        {"name": "conv1", "relative_depth": 0.0, "positive_edge_fraction": 0.9},
        {"name": "conv5", "relative_depth": 0.5, "positive_edge_fraction": 0.7},
        {"name": "fc2", "relative_depth": 1.0, "positive_edge_fraction": 0.6},
    ]
    found = build_findings([run("r", layers=layers)])
    assert kinds(found) == [("positive_edges", "r", None)] and found[0]["severity"] == "info"
    assert found[0]["evidence"]["mean_positive_edge_fraction"] == pytest.approx(0.65)
    assert "conv5–fc2" in found[0]["text"] and found[0]["view"] == "/edges?runs=r"
    layers[1]["positive_edge_fraction"] = 0.4  # mean 0.5: inhibition holds its own
    assert build_findings([run("r", layers=layers)]) == []


def test_not_a_real_difference_and_the_recommendation():
    pairs = [
        {"run_a": "a", "run_b": "b", "n": 2000, "p_value": 0.41, "significant": False, "difference": -0.003,
         "error_a": 0.120, "error_b": 0.123, "interval": [-0.01, 0.004], "only_a_wrong": 20, "only_b_wrong": 26},
        {"run_a": "a", "run_b": "c", "n": 2000, "p_value": 0.001, "significant": True, "difference": -0.03,
         "error_a": 0.120, "error_b": 0.150, "interval": [-0.04, -0.02], "only_a_wrong": 10, "only_b_wrong": 70},
    ]  # fmt: skip
    recommendation = {"run": "b", "reason": "b is the smallest member as good as the best", "best": "a"}
    found = build_findings([run("a"), run("b"), run("c")], pairs, recommendation, front=["b", "a"])
    assert kinds(found) == [("recommendation", "b", None), ("within_noise", "b", None)]
    assert found[0]["view"] == "/models?runs=b,a" and found[0]["text"].startswith("Keep b: ")
    assert found[1]["text"] == (
        "a and b differ by 0.3 pp in test error (12.0 % vs 12.3 %): not a real difference "
        "(McNemar p = 0.41 on 2,000 images)."
    )
    assert found[1]["view"] == "/models?runs=a,b"


def test_findings_come_most_severe_first_with_every_field():
    anomalies = [{"severity": "error", "kind": "diverged", "epoch": 2, "layer": None, "message": "diverged"}]
    runs = [
        run("quiet", layers=[{"name": "fc2", "relative_depth": 1.0, "positive_edge_fraction": 0.9}]),
        run("loud", ablation=ablation(ablation_layer("conv7", 128, 42, 0.001)), anomalies=anomalies),
    ]
    found = build_findings(runs, recommendation={"run": "quiet", "reason": "why", "best": "quiet"})
    assert [f["severity"] for f in found] == ["high", "medium", "info", "info"]
    assert [f["kind"] for f in found] == ["training_health", "redundant_layer", "recommendation", "positive_edges"]
    for f in found:
        assert set(f) == {"kind", "run", "layer", "severity", "text", "evidence", "view"}
        assert f["severity"] in T.SEVERITIES and f["view"].startswith("/") and f["text"].endswith(".")


def test_view_writes_the_app_vocabulary():
    assert view("/similarity", runs=["a", "b c"]) == "/similarity?runs=a,b%20c"
    assert view("/models") == "/models"


def test_redundant_layers_lead_with_the_largest_saving():
    small, large = ablation_layer("conv3", 64, 20, 0.0), ablation_layer("conv9", 64, 20, 0.0)
    large["params_saved"] = 50_000
    found = build_findings([run("r", ablation=ablation(small, large))])
    assert [f["layer"] for f in found] == ["conv9", "conv3"]


def spread(model: str, mean: float, low: float, high: float, n: int = 3) -> dict:
    runs = [model] + [f"{model}-seed{i}" for i in range(1, n)]
    return {"model": model, "runs": runs, "n_seeds": n, "test_error_mean": mean, "test_error_min": low,
            "test_error_max": high}  # fmt: skip


def test_a_difference_between_models_within_the_seed_range_is_not_real():
    spreads = [
        spread("base", 0.119, 0.116, 0.122),  # the best; its seeds span 0.6 pp
        spread("deep", 0.123, 0.121, 0.124),  # 0.4 pp worse: within base's range
        spread("shallow", 0.150, 0.149, 0.151),  # 3.1 pp worse: a real difference
        spread("wide", 0.1245, 0.1245, 0.1245, n=1),  # one seed, 0.55 pp worse: base's range decides: within
    ]
    found = build_findings([run("base")], spreads=spreads)
    assert kinds(found) == [("within_seed_spread", "deep", None), ("within_seed_spread", "wide", None)]
    first = found[0]
    assert (
        first["severity"] == "info"
        and first["view"] == "/models?runs=base,base-seed1,base-seed2,deep,deep-seed1,deep-seed2"
    )
    assert first["text"] == (
        "deep and base differ by 0.4 pp in mean test error (12.3 % vs 11.9 %), no more than 3 seeds of base "
        "differ among themselves (0.6 pp): not a real difference."
    )
    assert first["evidence"]["seed_range"] == pytest.approx(0.006) and first["evidence"]["difference"] == pytest.approx(
        0.004
    )
    # Without a second seed anywhere there is no range to read a difference against.
    singles = [spread("base", 0.119, 0.119, 0.119, n=1), spread("deep", 0.120, 0.120, 0.120, n=1)]
    assert build_findings([run("base")], spreads=singles) == []
    assert build_findings([run("base")], spreads=spreads[:1]) == [], "one model: nothing to compare"
