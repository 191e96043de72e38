"""The command line contract: models, runs, train, import, and its errors."""

from __future__ import annotations

import json

import torch

from analysis.cli import main
from model_zoo import build_model
from tests.analysis.runs.test_checkpoints import RunsCode


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_models_json(capsys):
    code, out, _ = run_cli(capsys, "models", "--json", "--width-scale", "0.25")
    rows = json.loads(out)
    assert code == 0 and [row["name"] for row in rows][:3] == ["base", "shallow", "deep"]
    for row in rows:
        assert {"name", "conv_layers", "pool_layers", "fc_layers", "params", "flops"} <= set(row)
    assert rows[0]["aliases"] == ["base_x1"]


def test_runs_json(capsys, quick_runs_dir):
    code, out, _ = run_cli(capsys, "runs", "--runs", str(quick_runs_dir), "--json")
    rows = json.loads(out)
    assert code == 0 and {row["name"] for row in rows} == {"base-quick-synthetic", "shallow-quick-synthetic"}
    for row in rows:
        assert {"name", "model", "dataset", "epochs", "train_error", "test_error"} <= set(row)
        assert row["dataset"] == "synthetic" and row["epochs"] == 2


def test_train_and_import_via_cli(capsys, tmp_path):
    runs = str(tmp_path / "runs")
    code, out, err = run_cli(
        capsys,
        "train",
        "--model",
        "shallow",
        "--profile",
        "quick",
        "--dataset",
        "synthetic",
        "--runs",
        runs,
        "--epochs",
        "1",
        "--no-progress",
    )
    assert code == 0 and "shallow-quick-synthetic" in out and "not CIFAR-10" in err
    weights = tmp_path / "w.pt"
    torch.save(build_model("shallow", width_scale=1 / 16).state_dict(), weights)
    code, out, _ = run_cli(
        capsys,
        "import",
        "--model",
        "shallow",
        "--checkpoint",
        str(weights),
        "--name",
        "mine",
        "--runs",
        runs,
        "--dataset",
        "synthetic",
    )
    imported = json.loads(out)
    assert code == 0 and imported["name"] == "mine" and imported["dataset"] == "synthetic"
    assert 0 <= imported["test_error"] <= 1


def test_user_errors_are_one_clear_line(capsys, tmp_path):
    runs = str(tmp_path)
    code, _, err = run_cli(capsys, "train", "--model", "resnet", "--profile", "quick", "--runs", runs)
    assert code == 2 and "unknown model 'resnet'" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "train", "--model", "base", "--profile", "quick", "--name", "../x", "--runs", runs)
    assert code == 2 and "invalid run name '../x'" in err
    code, _, err = run_cli(
        capsys,
        "import",
        "--model",
        "base",
        "--checkpoint",
        str(tmp_path / "no.pt"),
        "--name",
        "../../etc",
        "--runs",
        runs,
        "--dataset",
        "none",
    )
    assert code == 2 and "invalid run name" in err
    code, _, err = run_cli(
        capsys,
        "import",
        "--model",
        "base",
        "--checkpoint",
        str(tmp_path / "no.pt"),
        "--name",
        "ok",
        "--runs",
        runs,
        "--dataset",
        "none",
    )
    assert code == 2 and "no such checkpoint" in err
    assert not (tmp_path.parent / "x").exists()


def test_import_of_a_pickle_that_runs_code_is_refused_and_leaves_nothing(capsys, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": {"features.conv1.conv.weight": torch.zeros(1)}, "hook": RunsCode(str(marker))}, evil)
    code, _, err = run_cli(
        capsys,
        "import",
        "--model",
        "base",
        "--checkpoint",
        str(evil),
        "--name",
        "evil",
        "--runs",
        str(tmp_path / "runs"),
    )
    assert code == 2 and "refused" in err and "weights_only" in err and str(evil) in err
    assert not marker.exists(), "the pickle ran code"
    assert not (tmp_path / "runs" / "evil").exists(), "a refused import must not leave a run behind"


BASE, SHALLOW = "base-quick-synthetic", "shallow-quick-synthetic"


def _analysed(analysed_runs) -> list[str]:
    runs_dir, cache_dir = analysed_runs
    return ["--runs", str(runs_dir), "--cache", str(cache_dir)]


def test_review_json_has_findings_front_and_recommendation(capsys, analysed_runs):
    code, out, _ = run_cli(capsys, "review", "--run", "all", "--json", *_analysed(analysed_runs))
    review = json.loads(out)
    assert code == 0 and {row["run"] for row in review["runs"]} == {BASE, SHALLOW}
    assert review["pareto"] and set(review["pareto"]) <= {BASE, SHALLOW}
    assert set(review["recommendation"]) >= {"run", "reason"} and review["recommendation"]["run"] in review["pareto"]
    for finding in review["findings"]:
        assert set(finding) == {"kind", "run", "layer", "severity", "text", "evidence", "view"}
    code, out, _ = run_cli(capsys, "review", "--run", "all", *_analysed(analysed_runs))
    assert code == 0 and "Recommendation: " in out and "Findings, most severe first:" in out


def test_report_json_gains_the_interval_findings_and_ablation(capsys, analysed_runs):
    code, out, _ = run_cli(capsys, "report", "--run", BASE, "--json", *_analysed(analysed_runs))
    report = json.loads(out)
    low, high = report["test_error_interval"]
    assert code == 0 and low <= report["test_error"] <= high
    assert isinstance(report["findings"], list)
    for layer in report["layers"]:
        ablation = layer["ablation"]
        assert {"n_flagged", "removed_error_change", "merged_error_change", "params_saved"} <= set(ablation)
        if ablation["n_flagged"] == 0:
            assert ablation["merged_error_change"] is None and ablation["params_saved"] is None
        else:
            assert ablation["params_saved"] > 0 and -1 <= ablation["merged_error_change"] <= 1
    assert report["layers"][-1]["ablation"]["n_flagged"] == 0  # the output layer's units are the classes


def test_diff_json_and_its_errors(capsys, analysed_runs):
    code, out, _ = run_cli(capsys, "diff", "--run", BASE, "--run", SHALLOW, "--json", *_analysed(analysed_runs))
    diff = json.loads(out)
    assert code == 0 and (diff["run_a"], diff["run_b"]) == (BASE, SHALLOW)
    assert {row["quantity"] for row in diff["rows"]} >= {"params", "flops", "test_error"}
    assert diff["per_class"] and diff["by_depth"] and diff["sentences"]
    code, out, _ = run_cli(capsys, "diff", "--run", BASE, SHALLOW, *_analysed(analysed_runs))
    assert code == 0 and "CKA" in out
    code, _, err = run_cli(capsys, "diff", "--run", BASE, *_analysed(analysed_runs))
    assert code == 2 and "diff compares two runs" in err and "Traceback" not in err
