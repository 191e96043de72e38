"""Training: files of a run, resuming, determinism, conflicts, the schedule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from analysis.data.datasets import make_synthetic
from analysis.runs.checkpoints import read_checkpoint
from analysis.runs.store import RunStore
from analysis.training.profiles import default_snapshot_epochs, get_profile
from analysis.training.trainer import RunConflictError, Trainer, learning_rate_at

ROOT = Path(__file__).resolve().parents[2]


def quick_dataset():
    profile = get_profile("quick")
    return make_synthetic().subset(profile.max_train_images, profile.max_test_images)


def test_quick_run_writes_history_checkpoint_and_snapshots(quick_runs_dir):
    store = RunStore(quick_runs_dir)
    meta = store.read_meta("base-quick-synthetic")
    assert meta["status"] == "complete" and meta["epochs_done"] == 2
    assert meta["dataset"] == "synthetic" and "not CIFAR-10" in meta["dataset_description"]
    assert 0.0 <= meta["train_error"] <= 1.0 and 0.0 <= meta["test_error"] <= 1.0
    assert meta["params"] > 0 and meta["flops"] > 0 and meta["conv_layers"] == 10
    history = store.read_history("base-quick-synthetic")
    assert [row["epoch"] for row in history] == [1, 2]
    for key in ("train_loss", "train_error", "test_loss", "test_error", "images_per_s", "seconds", "lr"):
        assert isinstance(history[0][key], float), key
    health = history[-1]["health"]
    assert list(health) == [f"conv{i}" for i in range(1, 11)] + ["fc1", "fc2"]
    assert health["conv1"]["grad_norm"] > 0 and health["conv1"]["weight_norm"] > 0
    assert 0.0 <= health["conv1"]["dead_fraction"] <= 1.0 and health["fc2"]["dead_fraction"] is None
    folder = store.path("base-quick-synthetic")
    assert store.snapshot_epochs("base-quick-synthetic") == [1, 2]
    assert set(read_checkpoint(folder / "model.pt")) == set(read_checkpoint(folder / "snapshots" / "epoch_002.pt"))
    assert read_checkpoint(folder / "last.pt")["epoch"] == 2


def test_a_complete_run_is_loaded_not_retrained(tmp_path):
    dataset = quick_dataset()
    trainer = Trainer(RunStore(tmp_path), get_profile("quick").with_epochs(1), device="cpu", progress=False)
    first = trainer.fit("shallow", dataset)
    weights = tmp_path / first["name"] / "model.pt"
    stamp = weights.stat().st_mtime_ns
    again = trainer.fit("shallow", dataset)
    assert again == first and weights.stat().st_mtime_ns == stamp


def test_other_configuration_under_the_same_name_is_refused(tmp_path):
    dataset = quick_dataset()
    store = RunStore(tmp_path)
    Trainer(store, get_profile("quick").with_epochs(1), device="cpu", progress=False).fit("shallow", dataset, "r")
    with pytest.raises(RunConflictError, match="another configuration"):
        Trainer(store, get_profile("quick").with_epochs(3), device="cpu", progress=False).fit("shallow", dataset, "r")


def test_stop_request_leaves_a_resumable_run(tmp_path):
    dataset = quick_dataset()
    store = RunStore(tmp_path)
    profile = get_profile("quick").with_epochs(3)
    calls = iter([False, True])
    stopped = Trainer(store, profile, device="cpu", progress=False, should_stop=lambda: next(calls, True))
    meta = stopped.fit("shallow", dataset, "r")
    assert meta["status"] == "stopped" and meta["epochs_done"] == 1
    resumed = Trainer(store, profile, device="cpu", progress=False).fit("shallow", dataset, "r")
    assert resumed["status"] == "complete" and [r["epoch"] for r in store.read_history("r")] == [1, 2, 3]


def _train_command(runs: Path, epochs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "analysis",
        "train",
        "--model",
        "base",
        "--profile",
        "quick",
        "--dataset",
        "synthetic",
        "--runs",
        str(runs),
        "--epochs",
        str(epochs),
        "--no-progress",
        "--device",
        "cpu",
    ]


def test_sigkill_mid_training_then_resume_loses_nothing(tmp_path):
    epochs = 8
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # An uninterrupted reference run: resumed training must reproduce it.
    subprocess.run(_train_command(tmp_path / "reference", epochs), check=True, env=env, capture_output=True)
    reference = RunStore(tmp_path / "reference").read_history("base-quick-synthetic")

    runs = tmp_path / "killed"
    history_file = runs / "base-quick-synthetic" / "history.jsonl"
    process = subprocess.Popen(
        _train_command(runs, epochs), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if history_file.is_file() and len(history_file.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    time.sleep(0.05)  # land somewhere inside the next epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    store = RunStore(runs)
    before = store.read_history("base-quick-synthetic")
    assert 3 <= len(before) < epochs, "the kill should land mid-training"
    assert store.read_meta("base-quick-synthetic")["status"] == "training"
    summary = store.summary("base-quick-synthetic")
    assert summary["status"] == "interrupted" and f"resume after epoch {len(before)}" in summary["problem"]

    subprocess.run(_train_command(runs, epochs), check=True, env=env, capture_output=True)
    after = store.read_history("base-quick-synthetic")
    assert [row["epoch"] for row in after] == list(range(1, epochs + 1))
    assert after[: len(before)] == before  # nothing earlier lost or rewritten
    for resumed, uninterrupted in zip(after, reference):
        assert resumed["test_loss"] == pytest.approx(uninterrupted["test_loss"], rel=1e-4)
        assert resumed["fit_loss"] == pytest.approx(uninterrupted["fit_loss"], rel=1e-4)
    assert store.read_meta("base-quick-synthetic")["status"] == "complete"


def test_killed_between_checkpoint_and_history_the_checkpoint_wins(tmp_path):
    dataset = quick_dataset()
    store = RunStore(tmp_path)
    profile = get_profile("quick").with_epochs(2)
    Trainer(store, profile, device="cpu", progress=False, should_stop=iter([False, True]).__next__).fit(
        "shallow", dataset, "r"
    )
    # Simulate a history line written for an epoch whose checkpoint never landed.
    with open(tmp_path / "r" / "history.jsonl", "a") as handle:
        handle.write(json.dumps({"epoch": 2, "test_error": 0.5}) + "\n")
    Trainer(store, profile, device="cpu", progress=False).fit("shallow", dataset, "r")
    history = store.read_history("r")
    assert [row["epoch"] for row in history] == [1, 2] and "health" in history[1]


def test_learning_rate_schedule_warms_up_then_decays_to_zero():
    rates = [learning_rate_at(step, 100, 10, 0.1) for step in range(100)]
    assert rates[0] == pytest.approx(0.01) and rates[9] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert rates[-1] < 0.001


def test_snapshot_epochs():
    assert default_snapshot_epochs(15) == (1, 3, 7, 11, 15)
    assert default_snapshot_epochs(1) == (1,)


def test_training_is_deterministic(tmp_path):
    dataset = quick_dataset()
    profile = get_profile("quick").with_epochs(1)
    a = Trainer(RunStore(tmp_path / "a"), profile, device="cpu", progress=False).fit("shallow", dataset)
    b = Trainer(RunStore(tmp_path / "b"), profile, device="cpu", progress=False).fit("shallow", dataset)
    assert a["test_error"] == b["test_error"]
    wa = torch.load(tmp_path / "a" / a["name"] / "model.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / b["name"] / "model.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_stop_inside_an_epoch_drops_only_that_epoch(tmp_path):
    dataset = quick_dataset()
    store = RunStore(tmp_path)
    profile = replace(get_profile("quick").with_epochs(2), batch_size=16)  # 32 steps per epoch
    checks = iter([False, False, False, True])  # epoch 1 start, then mid-epoch checks
    meta = Trainer(store, profile, device="cpu", progress=False, should_stop=lambda: next(checks, True)).fit(
        "shallow", dataset, "r"
    )
    assert meta["status"] == "stopped" and meta["epochs_done"] == 0
    assert store.read_history("r") == [] and not (tmp_path / "r" / "last.pt").exists()
    done = Trainer(store, profile, device="cpu", progress=False).fit("shallow", dataset, "r")
    assert done["status"] == "complete" and [r["epoch"] for r in store.read_history("r")] == [1, 2]


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("flags\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n", False),  # AVX512 alone: bf16 is emulated, slower
        ("flags\t: fpu avx512f avx512_bf16\n", True),
        ("flags\t: fpu avx512f amx_bf16 amx_tile\n", True),
    ],
)
def test_bf16_autocast_only_where_the_cpu_multiplies_bf16_natively(monkeypatch, flags, native):
    from analysis.training import evaluation

    monkeypatch.setattr(evaluation.Path, "read_text", lambda self, **_kwargs: flags)
    assert evaluation.cpu_has_native_bf16.__wrapped__() is native
    evaluation.cpu_has_native_bf16.cache_clear()
    assert evaluation.resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    evaluation.cpu_has_native_bf16.cache_clear()
    assert evaluation.resolve_precision("fp32", torch.device("cpu")) == "fp32"
