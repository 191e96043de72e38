"""Sweeps (issue 14, item 2): the record written by ``train --sweep``, ``sweeps`` listing it, and the seed spread."""

from __future__ import annotations

import json
import math

import pytest

from analysis.cli import main
from analysis.runs.store import RunStore
from analysis.sweeps import (
    SweepConflictError,
    SweepNotFoundError,
    load_sweep,
    new_sweep,
    record_sweep,
    seed_spread,
    spread_of,
    spread_text,
    sweep_names,
    sweep_status,
)

TRAIN = ("train", "--model", "shallow", "--profile", "quick", "--dataset", "synthetic", "--epochs", "1")
RUNS = ("shallow-quick-synthetic", "shallow-quick-synthetic-seed1")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> str:
    """A runs folder where ``train --seeds 0 1 --sweep pair`` trained two seeds of ShallowCNN."""
    runs = tmp_path_factory.mktemp("sweep_runs")
    assert main([*TRAIN, "--runs", str(runs), "--seeds", "0", "1", "--sweep", "pair", "--no-progress"]) == 0
    return str(runs)


def test_train_with_sweep_records_the_runs(swept):
    store = RunStore(swept)
    assert sweep_names(store) == ["pair"] and store.names() == list(RUNS), "a sweep record is not a run"
    sweep = load_sweep(store, "pair")
    assert sweep.runs == RUNS and sweep.models == ("shallow",) and sweep.seeds == (0, 1)
    assert (sweep.profile, sweep.dataset, sweep.epochs, sweep.data_seed) == ("quick", "synthetic", 1, 0)
    record = json.loads((store.artifacts.local_path("_sweeps/pair.json")).read_text())
    assert record["runs"] == list(RUNS) and record["format"] == 1


def test_sweeps_lists_runs_finished_and_the_spread(capsys, swept):
    code, out, err = run_cli(capsys, "sweeps", "--runs", swept, "--json")
    assert code == 0, err
    (sweep,) = json.loads(out)
    assert sweep["name"] == "pair" and (sweep["finished"], sweep["total"]) == (2, 2)
    assert [(r["name"], r["seed"], r["status"]) for r in sweep["runs"]] == [
        (RUNS[0], 0, "complete"),
        (RUNS[1], 1, "complete"),
    ]
    (spread,) = sweep["seed_spread"]
    assert spread["n_seeds"] == 2 and spread["seeds"] == [0, 1]
    errors = [r["test_error"] for r in sweep["runs"]]
    assert spread["test_error_mean"] == pytest.approx(sum(errors) / 2)
    assert (spread["test_error_min"], spread["test_error_max"]) == (min(errors), max(errors))

    code, out, _ = run_cli(capsys, "sweeps", "--runs", swept)
    assert code == 0 and "pair: 2 of 2 run(s) finished" in out and "(2 seeds, " in out


def test_a_half_done_sweep_and_the_errors(capsys, swept, tmp_path):
    store = RunStore(tmp_path / "runs")
    planned = new_sweep(
        "later", [("base", 0, "base-quick-synthetic"), ("base", 1, "base-quick-synthetic-seed1")], "quick", "synthetic"
    )
    record_sweep(store, planned)
    assert record_sweep(store, planned._replace(created="another time")) == planned, "the same plan again resumes"
    with pytest.raises(SweepConflictError, match="already records other runs"):
        record_sweep(store, planned._replace(runs=("other",)))
    status = sweep_status(store, load_sweep(store, "later"))
    assert (status["finished"], status["total"]) == (0, 2) and {r["status"] for r in status["runs"]} == {"not started"}
    assert status["seed_spread"] == []

    with pytest.raises(SweepNotFoundError, match="no sweep named 'nope'.*its sweeps: later"):
        load_sweep(store, "nope")
    code, _, err = run_cli(capsys, "sweeps", "--runs", str(tmp_path / "runs"), "--sweep", "nope")
    assert code == 2 and err.startswith("error: no sweep named 'nope'")
    code, _, err = run_cli(capsys, *TRAIN, "--runs", swept, "--sweep", "../x", "--no-progress")
    assert code == 2 and "invalid sweep name" in err
    store.artifacts.write_bytes("_sweeps/bad.json", b"{not json")
    with pytest.raises(ValueError, match="unreadable sweep record"):
        load_sweep(store, "bad")


def row(run: str, model: str, seed: int, test: float, train: float | None = 0.01, **extra) -> dict:
    return {"run": run, "model": model, "profile": "demo", "dataset": "digits", "seed": seed, "test_error": test,
            "train_error": train, **extra}  # fmt: skip


def test_seed_spread_groups_runs_that_differ_only_by_seed():
    rows = [
        row("base", "base", 0, 0.116),
        row("deep", "deep", 0, 0.20),
        row("base-seed1", "base", 1, 0.122, 0.03),
        row("base-seed2", "base", 2, 0.119, 0.02),
        row("base-paper", "base", 0, 0.05, profile="paper"),  # another profile: another group
        row("base-broken", "base", 3, 0.5, status="broken"),  # not finished: left out
        row("base-nan", "base", 4, math.nan),  # no test error: left out
    ]
    spreads = seed_spread(rows)
    assert [s["runs"] for s in spreads] == [["base", "base-seed1", "base-seed2"], ["deep"], ["base-paper"]]
    base = spreads[0]
    assert base["n_seeds"] == 3 and base["seeds"] == [0, 1, 2]
    assert base["test_error_mean"] == pytest.approx(0.119)
    assert base["test_error_std"] == pytest.approx(0.003)  # sample standard deviation of 11.6, 12.2, 11.9 %
    assert (base["test_error_min"], base["test_error_max"]) == (0.116, 0.122)
    assert base["train_error_mean"] == pytest.approx(0.02) and base["train_error_max"] == 0.03
    assert spreads[1]["test_error_std"] is None, "one seed has no standard deviation"
    assert spread_text(base) == "test error 11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)"
    assert spread_text(base, "train") == "train error 2.0 % ± 1.0 (3 seeds, 1.0–3.0 %)"
    assert spread_text(base, label=False) == "11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)"
    assert spread_text(spreads[1]) == "" and spread_text(None) == ""
    assert spread_of(spreads, "base-seed2") is base and spread_of(spreads, "nope") is None


def test_seed_spread_frame_is_the_runs_frames_errors_per_model(swept, tmp_path):
    from analysis import frames

    runs = frames.runs_frame(runs_dir=swept, cache=tmp_path / "no-cache")
    spread = frames.seed_spread_frame(runs_dir=swept, cache=tmp_path / "no-cache")
    assert list(spread.columns) == [c.name for c in frames.SEED_SPREAD_COLUMNS]
    assert len(spread) == 1
    only = spread.iloc[0]
    assert only["model"] == "shallow" and only["runs"] == ",".join(RUNS) and only["seeds"] == "0,1"
    assert only["n_seeds"] == 2 and only["epochs_planned"] == 1 and only["profile"] == "quick"
    assert only["test_error_mean"] == pytest.approx(runs["test_error"].mean())
    assert only["test_error_std"] == pytest.approx(runs["test_error"].std())  # pandas' std is the sample one too
    assert (only["test_error_min"], only["test_error_max"]) == (runs["test_error"].min(), runs["test_error"].max())


def test_the_review_of_a_sweep_has_its_seed_spread(swept, tmp_path):
    from analysis.cache import AnalysisCache
    from analysis.pipeline import RunAnalyzer

    analyzer = RunAnalyzer(RunStore(swept), AnalysisCache(tmp_path / "cache"), allow_compute=False)
    review = analyzer.review(list(RUNS))
    assert [(r["run"], r["seed"]) for r in review["runs"]] == [(RUNS[0], 0), (RUNS[1], 1)]
    (spread,) = review["seed_spread"]
    assert spread["model"] == "shallow" and spread["runs"] == list(RUNS) and spread["n_seeds"] == 2
    assert spread["test_error_min"] <= spread["test_error_mean"] <= spread["test_error_max"]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_sweep_record_in_a_folder_and_in_a_bucket(request, tmp_path, where):
    """The record goes through the artifact store: the same calls on a folder and on a bucket (moto)."""
    url = (
        str(tmp_path / "runs")
        if where == "local"
        else request.getfixturevalue("s3_server").url(f"sweeps-{tmp_path.name}")
    )
    store = RunStore(url)
    assert sweep_names(store) == []
    planned = new_sweep("family", [("base", 0, "base-demo-digits"), ("deep", 0, "deep-demo-digits")], "demo", "digits")
    record_sweep(store, planned)
    record_sweep(store, new_sweep("again", [("base", 1, "base-demo-digits-seed1")], "demo", "digits"))
    assert sweep_names(store) == ["again", "family"] and store.names() == []
    assert load_sweep(store, "family") == planned
    assert store.artifacts.list("_sweeps") == ["again.json", "family.json"], "no temporary file left beside them"
