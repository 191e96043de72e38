"""The frames (analysis.frames): columns and dtypes, the same numbers as the report and the run store,
runs not analysed said so, CSV output that reads back equal, and docs/notebook.md listing the columns."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import frames
from analysis.cache import AnalysisCache
from analysis.cli import main
from analysis.pipeline import RunAnalyzer
from analysis.runs.store import RunNameError, RunNotFoundError, RunStore

BASE, SHALLOW = "base-quick-synthetic", "shallow-quick-synthetic"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "notebook.md"
# The analysis columns of layers_frame: missing when a run is not analysed.
ANALYSIS_COLUMNS = (
    "n_clusters",
    "mean_within_cluster_similarity",
    "near_duplicate_fraction",
    "effective_rank",
    "normalized_effective_rank",
    "positive_edge_fraction",
    "positive_mass_fraction",
)


def check_columns(frame: pd.DataFrame, columns: tuple[frames.Column, ...]) -> None:
    assert list(frame.columns) == [column.name for column in columns]
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {c.name: c.dtype for c in columns}


def same(a, b) -> bool:
    """Equal numbers, with None (the report's JSON) standing for a missing cell."""
    missing_a = a is None or a is pd.NA or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or b is pd.NA or (isinstance(b, float) and math.isnan(b))
    return missing_a == missing_b and (missing_a or a == b)


@pytest.fixture(scope="module")
def where(analysed_runs) -> dict[str, str]:
    runs_dir, cache_dir = analysed_runs
    return {"runs_dir": str(runs_dir), "cache": str(cache_dir)}


@pytest.fixture(scope="module")
def analyzer(analysed_runs):
    runs_dir, cache_dir = analysed_runs
    return RunAnalyzer(RunStore(runs_dir), AnalysisCache(cache_dir), allow_compute=False)


def test_each_frame_has_its_documented_columns_and_dtypes(where):
    runs = frames.runs_frame(**where)
    layers = frames.layers_frame(**where)
    history = frames.history_frame(runs_dir=where["runs_dir"])
    health = frames.health_frame(runs_dir=where["runs_dir"])
    within = frames.cka_frame(BASE, **where)
    across = frames.cka_frame(BASE, SHALLOW, **where)
    for frame, columns in (
        (runs, frames.RUNS_COLUMNS),
        (layers, frames.LAYERS_COLUMNS),
        (history, frames.HISTORY_COLUMNS),
        (health, frames.HEALTH_COLUMNS),
        (within, frames.CKA_COLUMNS),
        (across, frames.CKA_COLUMNS),
    ):
        check_columns(frame, columns)
    assert runs["run"].tolist() == [BASE, SHALLOW] and runs["analysed"].all() and runs.attrs["not_analysed"] == {}
    assert layers.groupby("run").size().to_dict() == {BASE: 12, SHALLOW: 9} and layers["analysed"].all()
    assert len(history) == 4 and history.groupby("run")["epoch"].apply(list).to_dict() == {
        BASE: [1, 2],
        SHALLOW: [1, 2],
    }
    assert len(health) == 2 * 12 + 2 * 9
    assert len(within) == 12 * 12 and len(across) == 12 * 9 and (across["run_b"] == SHALLOW).all()
    # Errors are fractions, sizes counts; every frame names the data it came from.
    assert runs["test_error"].between(0, 1).all() and runs["gap"].notna().all()
    assert runs["flops"].gt(runs["params"]).all() and (runs["depth"] == runs["conv_layers"] + runs["fc_layers"]).all()
    for frame in (runs, layers, history, health, within):
        assert (frame["dataset"] == "synthetic").all()
    assert runs["dataset_description"].str.contains("not CIFAR-10").all()


def test_runs_frame_holds_the_run_stores_numbers(where, analyzer):
    runs = frames.runs_frame(**where).set_index("run")
    store = RunStore(where["runs_dir"])
    for summary in store.list_runs():
        row = runs.loc[summary["name"]]
        meta = store.read_meta(summary["name"])
        for key in ("model", "profile", "dataset", "status", "params", "flops", "train_error", "test_error"):
            assert same(row[key], summary[key]), key
        assert row["epochs"] == summary["epochs"] and row["train_seconds"] == summary["train_seconds"]
        assert row["gap"] == summary["test_error"] - summary["train_error"]
        assert row["seed"] == meta["config"]["seed"] and row["n_train"] == meta["n_train"]
        assert row["title"] == meta["title"] and pd.isna(row["problem"])
        assert row["analysis_images"] == analyzer.report(summary["name"])["n_images"]


def test_layers_frame_holds_the_reports_numbers(where, analyzer):
    layers = frames.layers_frame(**where)
    for run in (BASE, SHALLOW):
        report = analyzer.report(run)
        rows = layers[layers["run"] == run].to_dict("records")
        assert [row["layer"] for row in rows] == [layer["name"] for layer in report["layers"]]
        assert [row["index"] for row in rows] == list(range(len(rows)))
        for row, layer in zip(rows, report["layers"]):
            for key in ("kind", "relative_depth", "n_neurons", *ANALYSIS_COLUMNS):
                assert same(row[key], layer[key]), (run, layer["name"], key)
        health = RunStore(where["runs_dir"]).read_history(run)[-1]["health"]
        assert [health[row["layer"]]["dead_fraction"] for row in rows[:-1]] == [
            row["dead_fraction"] for row in rows[:-1]
        ]
        assert pd.isna(rows[-1]["dead_fraction"])  # fc2 (the logits) has no ReLU: no dead units to count


def test_history_and_health_frames_hold_the_history(where):
    store = RunStore(where["runs_dir"])
    history = frames.history_frame(runs=[SHALLOW], runs_dir=where["runs_dir"])
    health = frames.health_frame(runs=SHALLOW, runs_dir=where["runs_dir"])
    layers = frames.layers_frame(SHALLOW, **where).set_index("layer")
    for epoch in store.read_history(SHALLOW):
        row = history[history["epoch"] == epoch["epoch"]].iloc[0]
        for column in frames.HISTORY_COLUMNS[2:]:
            assert same(row[column.name], epoch[column.name]), column.name
        for layer, figures in epoch["health"].items():
            cell = health[(health["epoch"] == epoch["epoch"]) & (health["layer"] == layer)].iloc[0]
            assert all(same(cell[key], value) for key, value in figures.items())
            assert cell["relative_depth"] == layers.loc[layer, "relative_depth"]


def test_cka_frame_holds_the_analyzers_matrix_and_squares_in_layer_order(where, analyzer):
    for run_b in (None, SHALLOW):
        frame = frames.cka_frame(BASE, run_b, **where)
        expected = analyzer.cka(BASE, run_b)
        square = frame.pivot(index="layer_a", columns="layer_b", values="cka")
        square = square.loc[frame["layer_a"].unique(), frame["layer_b"].unique()]
        assert list(square.index) == expected["rows"] and list(square.columns) == expected["columns"]
        np.testing.assert_array_equal(square.to_numpy(), np.asarray(expected["matrix"], dtype=np.float64))
        assert (frame["n_images"] == expected["n_images"]).all() and not frame["debiased"].any()
    debiased = frames.cka_frame(BASE, debiased=True, **where)
    np.testing.assert_allclose(debiased["cka"].to_numpy(), np.ravel(analyzer.cka(BASE, debiased=True)["matrix"]))
    assert debiased["debiased"].all()


def test_runs_not_analysed_are_there_with_missing_analysis_columns_and_the_reason(where, tmp_path):
    no_cache = tmp_path / "no-cache"
    runs = frames.runs_frame(runs_dir=where["runs_dir"], cache=no_cache)
    layers = frames.layers_frame(runs_dir=where["runs_dir"], cache=no_cache)
    cka = frames.cka_frame(SHALLOW, runs_dir=where["runs_dir"], cache=no_cache)
    analysed = frames.layers_frame(**where)
    assert not no_cache.exists(), "a read-only frame created the cache folder"
    assert not runs["analysed"].any() and runs["analysis_images"].isna().all()
    assert runs["test_error"].notna().all(), "training's own figures do not need the analyses"
    for frame, expected in ((runs, {BASE, SHALLOW}), (layers, {BASE, SHALLOW}), (cka, {SHALLOW})):
        assert set(frame.attrs["not_analysed"]) == expected
        assert all("no analysis cache" in reason for reason in frame.attrs["not_analysed"].values())
    # The layers are still listed (from run.json), with their dead fraction (from the history), nothing invented.
    check_columns(layers, frames.LAYERS_COLUMNS)
    for key in ("run", "layer", "kind", "relative_depth", "n_neurons", "dead_fraction"):
        pd.testing.assert_series_equal(layers[key], analysed[key])
    assert layers[list(ANALYSIS_COLUMNS)].isna().all().all() and not layers["analysed"].any()
    assert len(cka) == 9 * 9 and cka["cka"].isna().all() and cka["n_images"].isna().all()


def test_a_mix_of_analysed_stopped_and_broken_runs(analysed_runs, tmp_path):
    runs_dir, cache_dir = analysed_runs
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    shutil.copytree(copy / BASE, copy / "base-copy")  # the same weights: its analyses are the cached ones
    shutil.copytree(copy / SHALLOW, copy / "shallow-stopped")
    (copy / "shallow-stopped" / "model.pt").unlink()
    meta = json.loads((copy / "shallow-stopped" / "run.json").read_text())
    (copy / "shallow-stopped" / "run.json").write_text(json.dumps({**meta, "status": "stopped", "train_error": None}))
    (copy / "broken").mkdir()
    (copy / "broken" / "run.json").write_text("{not json")

    runs = frames.runs_frame(runs_dir=copy, cache=cache_dir).set_index("run")
    assert runs["analysed"].to_dict() == {
        BASE: True,
        "base-copy": True,
        "broken": False,
        SHALLOW: True,
        "shallow-stopped": False,
    }
    reasons = runs.attrs["not_analysed"]
    assert set(reasons) == {"broken", "shallow-stopped"}
    assert "no final weights" in reasons["shallow-stopped"] and "unreadable run file" in reasons["broken"]
    assert runs.loc["broken", "status"] == "broken" and "run.json" in runs.loc["broken", "problem"]
    assert runs.loc["shallow-stopped", "status"] == "stopped" and pd.isna(runs.loc["shallow-stopped", "gap"])
    assert pd.isna(runs.loc["broken", "params"]) and pd.isna(runs.loc["shallow-stopped", "analysis_images"])

    layers = frames.layers_frame(runs_dir=copy, cache=cache_dir)
    assert set(layers.attrs["not_analysed"]) == {"broken", "shallow-stopped"}
    assert "broken" not in set(layers["run"]), "a run without a readable run.json has no layers to list"
    stopped = layers[layers["run"] == "shallow-stopped"]
    assert len(stopped) == 9 and stopped[list(ANALYSIS_COLUMNS)].isna().all().all()
    pd.testing.assert_frame_equal(
        layers[layers["run"] == "base-copy"].drop(columns="run").reset_index(drop=True),
        layers[layers["run"] == BASE].drop(columns="run").reset_index(drop=True),
    )


def test_frames_never_compute_even_through_an_analyzer_that_may(quick_runs_dir, tmp_path):
    computing = RunAnalyzer(RunStore(quick_runs_dir), AnalysisCache(tmp_path / "empty"))
    layers = frames.layers_frame(analyzer=computing)
    runs = frames.runs_frame(analyzer=computing)
    assert not layers["analysed"].any() and not runs["analysed"].any()
    assert computing.cache.misses == 0, "a frame computed an analysis"
    assert "python -m analysis analyze --run" in runs.attrs["not_analysed"][BASE]


def test_run_names_are_checked(where):
    assert frames.runs_frame(f"{SHALLOW},{BASE}", **where)["run"].tolist() == [SHALLOW, BASE]
    assert frames.runs_frame([BASE, BASE], **where)["run"].tolist() == [BASE]
    with pytest.raises(RunNotFoundError, match="no run named 'bsae-quick-synthetic'"):
        frames.layers_frame(["bsae-quick-synthetic"], **where)
    with pytest.raises(RunNameError):
        frames.history_frame("../etc", runs_dir=where["runs_dir"])


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_csv_output_reads_back_as_the_same_frame(where, capsys):
    code, out, _ = run_cli(capsys, "runs", "--runs", where["runs_dir"], "--cache", where["cache"], "--csv")
    assert code == 0
    pd.testing.assert_frame_equal(frames.read_csv(io.StringIO(out), frames.RUNS_COLUMNS), frames.runs_frame(**where))
    code, out, _ = run_cli(
        capsys, "report", "--run", BASE, SHALLOW, "--runs", where["runs_dir"], "--cache", where["cache"], "--csv"
    )
    assert code == 0
    pd.testing.assert_frame_equal(
        frames.read_csv(io.StringIO(out), frames.LAYERS_COLUMNS), frames.layers_frame(**where)
    )
    with pytest.raises(SystemExit):
        main(["runs", "--runs", where["runs_dir"], "--csv", "--json"])
    assert "not allowed with" in capsys.readouterr().err


def test_csv_of_runs_not_analysed_names_them_on_stderr(where, tmp_path, capsys):
    code, out, err = run_cli(capsys, "runs", "--runs", where["runs_dir"], "--cache", str(tmp_path / "none"), "--csv")
    assert code == 0 and f"{BASE}: not analysed" in err
    assert not frames.read_csv(io.StringIO(out), frames.RUNS_COLUMNS)["analysed"].any()


def test_build_frame_keeps_missing_values_missing_and_round_trips_odd_names():
    rows = [
        {"run": "NA", "params": "12", "flops": 3.0, "train_error": True, "status": "", "analysed": True},
        {"run": "null", "params": 7, "flops": float("nan"), "test_error": 0.25},
    ]
    frame = frames.build_frame(rows, frames.RUNS_COLUMNS, not_analysed={})
    check_columns(frame, frames.RUNS_COLUMNS)
    assert frame["params"].isna().tolist() == [True, False] and frame["flops"].tolist()[0] == 3
    assert pd.isna(frame.loc[0, "train_error"]) and pd.isna(frame.loc[0, "status"]), "a bool is not an error rate"
    back = frames.read_csv(io.StringIO(frame.to_csv(index=False)), frames.RUNS_COLUMNS)
    pd.testing.assert_frame_equal(back, frame)
    with pytest.raises(ValueError, match="lacks the column"):
        frames.read_csv(io.StringIO("run\nx\n"), frames.RUNS_COLUMNS)


# -- docs/notebook.md ---------------------------------------------------------------------------------------
def documented_columns() -> dict[str, list[tuple[str, str, str, str]]]:
    """Each ``### `name` `` section's table rows: (column, dtype, unit, meaning)."""
    tables: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"^### `(\w+)`", line)
        if heading:
            current = tables.setdefault(heading.group(1), [])
        elif current is not None and line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            current.append((cells[0].strip("`"), cells[1], cells[2], cells[3]))
    return tables


def test_the_docs_list_every_frames_columns():
    assert documented_columns() == {
        name: [(c.name, c.dtype, c.unit, c.meaning) for c in columns] for name, columns in frames.FRAMES.items()
    }


def test_the_docs_five_lines_load_the_family_and_plot(where, monkeypatch):
    monkeypatch.setenv("CNNCMP_RUNS_DIR", where["runs_dir"])
    monkeypatch.setenv("CNNCMP_CACHE_DIR", where["cache"])
    monkeypatch.delenv("REDIS_URL", raising=False)
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    namespace: dict = {}
    exec(compile(code, "notebook.md", "exec"), namespace)
    figure = namespace["figure"]
    assert {trace.name for trace in figure.data} == {BASE, SHALLOW}
    assert "not CIFAR-10" in figure.layout.title.text


def test_ablation_and_findings_frames_match_the_analyzer(where, analyzer):
    ablation = frames.ablation_frame(**where)
    check_columns(ablation, frames.ABLATION_COLUMNS)
    assert ablation.groupby("run").size().to_dict() == {BASE: 13, SHALLOW: 10}  # each layer, then 'all'
    assert ablation["analysed"].all() and ablation.attrs["not_analysed"] == {}
    expected = analyzer.ablation(BASE)
    whole = ablation[(ablation["run"] == BASE) & (ablation["layer"] == "all")].iloc[0]
    assert whole["n_flagged"] == expected["whole_model"]["n_flagged"] and pd.isna(whole["index"])
    assert same(whole["merged_error_change"], expected["whole_model"]["merged_error_change"])
    for layer, (_, row) in zip(expected["layers"], ablation[ablation["run"] == BASE].iterrows()):
        assert row["layer"] == layer["layer"] and same(row["params_saved"], layer["params_saved"])
        assert same(row["merged_low"], (layer["merged_interval"] or [None])[0])

    findings = frames.findings_frame(**where)
    check_columns(findings, frames.FINDINGS_COLUMNS)
    review = analyzer.review([BASE, SHALLOW])
    assert findings["text"].tolist() == [f["text"] for f in review["findings"]]
    assert [json.loads(e) for e in findings["evidence"]] == [f["evidence"] for f in review["findings"]]
    # The Review page exports the review it shows: the same frame, without reviewing twice.
    shown = frames.review_findings_frame(review, review["dataset_name"])
    pd.testing.assert_frame_equal(shown, findings)


def test_ablation_and_findings_frames_without_a_cached_ablation(quick_runs_dir, tmp_path):
    computing = RunAnalyzer(RunStore(quick_runs_dir), AnalysisCache(tmp_path / "empty"))
    ablation = frames.ablation_frame(analyzer=computing)
    assert len(ablation) == 2 and not ablation["analysed"].any()
    findings = frames.findings_frame(analyzer=computing)
    assert set(findings.attrs["not_analysed"]) == {BASE, SHALLOW} and computing.cache.misses == 0
