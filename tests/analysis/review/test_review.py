"""RunAnalyzer.review, diff and paired_test on the analysed quick runs, and the diff's tables by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.cache import AnalysisCache
from analysis.pipeline import RunAnalyzer
from analysis.review.assemble import check_one_dataset
from analysis.review.diff import diff_tables, matched_layers
from analysis.runs.store import RunStore

BASE, SHALLOW = "base-quick-synthetic", "shallow-quick-synthetic"


@pytest.fixture()
def cached(analysed_runs) -> RunAnalyzer:
    runs_dir, cache_dir = analysed_runs
    return RunAnalyzer(RunStore(runs_dir), AnalysisCache(cache_dir), allow_compute=False)


def test_review_of_the_analysed_runs_from_the_cache(cached):
    review = cached.review([BASE, SHALLOW])
    assert cached.cache.misses == 0
    assert "not CIFAR-10" in review["dataset"] or "synthetic" in review["dataset"].lower()
    assert [row["run"] for row in review["runs"]] == [BASE, SHALLOW]
    for row in review["runs"]:
        low, high = row["interval"]
        assert low <= row["test_error"] <= high and row["reviewed"] and row["params"] > 0 and row["flops"] > 0
        assert row["on_front"] == (row["run"] in review["pareto"])
    assert review["pareto"] and set(review["pareto"]) <= {BASE, SHALLOW}
    assert review["recommendation"]["run"] in review["pareto"] and review["recommendation"]["reason"]
    assert review["not_reviewed"] == []
    severities = [f["severity"] for f in review["findings"]]
    assert severities == sorted(severities, key=["high", "medium", "info"].index)
    assert any(f["kind"] == "recommendation" for f in review["findings"])


def test_review_without_analyses_reads_run_json_and_says_not_reviewed(analysed_runs, tmp_path):
    runs_dir, _ = analysed_runs
    empty = RunAnalyzer(RunStore(runs_dir), AnalysisCache(tmp_path / "empty"), allow_compute=False)
    review = empty.review([BASE, SHALLOW])
    assert review["not_reviewed"] == [BASE, SHALLOW] and not any(row["reviewed"] for row in review["runs"])
    assert all(row["interval"] is not None for row in review["runs"])
    assert empty.cache.misses == 0


def test_paired_test_and_the_interval(cached):
    paired = cached.paired_test(BASE, SHALLOW)
    stats_a, stats_b = cached.statistics(BASE), cached.statistics(SHALLOW)
    assert paired["n"] == stats_a["n_images"]
    assert paired["difference"] == pytest.approx(stats_a["test_error"] - stats_b["test_error"])
    assert paired["significant"] == (paired["p_value"] < 0.05)
    assert cached.paired_test(BASE, BASE)["p_value"] == 1.0
    low, high = cached.test_error_interval(BASE)
    assert 0 <= low < stats_a["test_error"] < high <= 1


def test_paired_test_refuses_runs_evaluated_on_other_images(cached, monkeypatch):
    real = cached.test_outcomes

    def other_images(run):
        outcomes = real(run)
        return {**outcomes, "labels_hash": "other"} if run == SHALLOW else outcomes

    monkeypatch.setattr(cached, "test_outcomes", other_images)
    with pytest.raises(ValueError, match="not evaluated on the same images"):
        cached.paired_test(BASE, SHALLOW)


def test_runs_of_different_datasets_are_named():
    facts = [{"run": "a", "dataset": "cifar10"}, {"run": "b", "dataset": "digits"}, {"run": "c", "dataset": "cifar10"}]
    with pytest.raises(ValueError, match=r"a, c \(cifar10\); b \(digits\)"):
        check_one_dataset(facts)


def test_diff_of_the_two_runs(cached):
    diff = cached.diff(BASE, SHALLOW)
    rows = {row["quantity"]: row for row in diff["rows"]}
    assert rows["params"]["change"] == rows["params"]["b"] - rows["params"]["a"] < 0
    assert isinstance(rows["test_error"]["significant"], bool) and rows["params"]["significant"] is None
    changes = [abs(row["change"]) for row in diff["per_class"]]
    assert changes == sorted(changes, reverse=True) and len(changes) == 10
    assert len(diff["by_depth"]) == len(cached.statistics(SHALLOW)["layer_names"])  # the shallower run's layers
    assert all(0 <= row["cka"] <= 1.0001 for row in diff["by_depth"])
    assert diff["sentences"] and all(sentence.endswith(".") for sentence in diff["sentences"])


def test_diff_tables_by_hand():
    a = {"run": "a", "params": 100, "flops": 1000, "test_error": 0.2, "train_error": 0.1,
         "class_names": ["x", "y"], "per_class_error": [0.1, 0.3],
         "layers": [{"name": "conv1", "relative_depth": 0.0, "near_duplicate_fraction": 0.1,
                     "positive_edge_fraction": 0.5},
                    {"name": "fc2", "relative_depth": 1.0, "near_duplicate_fraction": 0.2,
                     "positive_edge_fraction": 0.4}]}  # fmt: skip
    b = {**a, "run": "b", "params": 400, "test_error": 0.15, "per_class_error": [0.12, 0.18]}
    paired = {"significant": True, "p_value": 0.001, "n": 1000}
    diff = diff_tables(a, b, paired, cka=np.array([[0.9, 0.1], [0.2, 0.8]]))
    rows = {row["quantity"]: row for row in diff["rows"]}
    assert rows["params"]["change"] == 300 and rows["test_error"]["change"] == pytest.approx(-0.05)
    assert rows["test_error"]["significant"] is True and rows["gap"]["change"] == pytest.approx(-0.05)
    assert [row["class"] for row in diff["per_class"]] == ["y", "x"]
    assert [row["cka"] for row in diff["by_depth"]] == [0.9, 0.8]
    assert diff["sentences"][0] == "Against a, b has 4× the parameters and the same FLOPs."
    assert "5.0 pp lower" in diff["sentences"][1] and "a real difference" in diff["sentences"][1]


def test_matched_layers_pair_the_shallower_run_by_depth():
    assert matched_layers([0.0, 0.5, 1.0], [0.0, 0.25, 0.5, 0.75, 1.0]) == [(0, 0), (1, 2), (2, 4)]
    assert matched_layers([0.0, 0.3, 0.6, 1.0], [0.0, 1.0]) == [(0, 0), (3, 1)]


def test_a_broken_run_is_named_and_the_others_reviewed(analysed_runs, tmp_path):
    import shutil

    runs_dir, cache_dir = analysed_runs
    shutil.copytree(runs_dir, tmp_path / "runs")
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "run.json").write_text("{not json")
    analyzer = RunAnalyzer(RunStore(tmp_path / "runs"), AnalysisCache(cache_dir), allow_compute=False)
    review = analyzer.review([BASE, "broken", SHALLOW])
    assert [row["run"] for row in review["runs"]] == [BASE, SHALLOW] and review["not_reviewed"] == []
    assert "unreadable run file" in review["broken"]["broken"]
