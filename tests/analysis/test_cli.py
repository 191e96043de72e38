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
