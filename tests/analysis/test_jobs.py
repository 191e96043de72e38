"""Training and analysis jobs: progress reports, cooperative cancel (a resumable run), refused inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.cache import AnalysisCache
from analysis.data.datasets import DatasetError
from analysis.jobs import JobInputError, analyze_job, check_epochs, check_models, train_job
from analysis.pipeline import AnalysisParams, RunAnalyzer
from analysis.runs.store import RunNameError, RunNotFoundError, RunStore
from model_zoo import UnknownModelError

MODEL = "base_x0.25"
RUN = "base_x0.25-quick-synthetic"


class Recorder:
    """A ``report`` that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, text: str) -> None:
        self.calls.append((fraction, text))

    @property
    def fractions(self) -> list[float]:
        return [fraction for fraction, _ in self.calls]

    def said(self, words: str) -> bool:
        return any(words in text for _, text in self.calls)


def train_tiny(runs_dir: Path, epochs: int = 1, **kwargs) -> dict:
    return train_job(
        runs_dir, [MODEL], "quick", "synthetic", runs_dir.parent / "no-data", epochs, device="cpu", **kwargs
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding one quick run of one epoch (read-only: copy to modify)."""
    runs_dir = tmp_path_factory.mktemp("job_runs") / "runs"
    train_tiny(runs_dir)
    return runs_dir


# -- training --------------------------------------------------------------------------------------
def test_train_job_reports_progress_up_to_done(tmp_path):
    report = Recorder()
    result = train_tiny(tmp_path / "runs", epochs=2, report=report)
    assert result["status"] == "complete" and result["runs"] == [RUN] and result["kind"] == "train"
    assert result["results"][0]["epochs_done"] == 2 and result["dataset"] == "synthetic"
    assert report.fractions == sorted(report.fractions), "progress went backwards"
    assert report.fractions[-1] == 1.0 and 0.4 < max(f for f in report.fractions if f < 1.0) <= 0.5 + 1e-9
    assert report.said("epoch 1/2") and report.said("epoch 2/2") and report.said("test error")
    assert (tmp_path / "runs" / RUN / "model.pt").is_file()


def test_train_job_again_keeps_the_complete_run(tiny_run, tmp_path):
    import shutil

    runs = shutil.copytree(tiny_run, tmp_path / "runs")
    before = (runs / RUN / "model.pt").stat().st_mtime_ns
    report = Recorder()
    result = train_tiny(runs, report=report)
    assert result["status"] == "complete" and report.said("already trained")
    assert (runs / RUN / "model.pt").stat().st_mtime_ns == before


def test_cancel_stops_after_an_epoch_and_the_same_job_resumes(tmp_path):
    runs = tmp_path / "runs"
    report = Recorder()
    result = train_tiny(runs, epochs=2, report=report, cancelled=lambda: report.said("epoch 1/2 ·"))
    assert result["status"] == "stopped" and "resume" in result["message"]
    meta = json.loads((runs / RUN / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["epochs_done"] == 1
    assert (runs / RUN / "last.pt").is_file() and not (runs / RUN / "model.pt").exists()

    again = Recorder()
    result = train_tiny(runs, epochs=2, report=again)
    assert result["status"] == "complete" and again.said("resuming at epoch 1/2")
    assert not again.said("epoch 1/2 ·"), "the finished epoch was trained again"
    history = RunStore(runs).read_history(RUN)
    assert [row["epoch"] for row in history] == [1, 2]


def test_cancel_before_the_start_trains_nothing(tmp_path):
    result = train_tiny(tmp_path / "runs", cancelled=lambda: True)
    assert result["status"] == "stopped" and result["runs"] == []
    assert not (tmp_path / "runs" / RUN).exists()


@pytest.mark.parametrize(
    "models, profile, dataset, epochs, error",
    [
        (["nope"], "quick", "synthetic", 1, UnknownModelError),
        ([], "quick", "synthetic", 1, JobInputError),
        ([MODEL], "fast", "synthetic", 1, ValueError),
        ([MODEL], "quick", "imagenet", 1, DatasetError),
        ([MODEL], "quick", "synthetic", 0, JobInputError),
        ([MODEL], "quick", "synthetic", 1.5, JobInputError),
        ([MODEL], "quick", "synthetic", "many", JobInputError),
        ([MODEL], "quick", "synthetic", True, JobInputError),
    ],
)
def test_bad_inputs_are_refused_before_any_work(tmp_path, models, profile, dataset, epochs, error):
    report = Recorder()
    with pytest.raises(error):
        train_job(tmp_path / "runs", models, profile, dataset, tmp_path, epochs, report=report)
    assert not (tmp_path / "runs").exists() and report.calls == []


def test_missing_cifar10_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetError, match="cifar"):
        train_job(tmp_path / "runs", [MODEL], "quick", "cifar10", tmp_path / "data", 1)
    assert not (tmp_path / "runs").exists()


def test_names_are_canonical_and_epochs_accept_form_values():
    assert check_models(["base_x1", "base", "shallow"]) == ["base", "shallow"]
    assert check_epochs(None) is None and check_epochs("") is None
    assert check_epochs(3) == 3 and check_epochs(3.0) == 3 and check_epochs("4") == 4


def test_an_existing_run_with_other_settings_is_a_clear_conflict(tiny_run, tmp_path):
    import shutil

    from analysis.training.trainer import RunConflictError

    runs = shutil.copytree(tiny_run, tmp_path / "runs")
    with pytest.raises(RunConflictError, match="already exists with other settings"):
        train_tiny(runs, epochs=3)


# -- analysis --------------------------------------------------------------------------------------
def cached_only(runs_dir: Path, cache_dir: Path) -> RunAnalyzer:
    return RunAnalyzer(RunStore(runs_dir), AnalysisCache(cache_dir), AnalysisParams(), allow_compute=False)


def test_analyze_job_reports_each_step_and_caches_what_pages_read(tiny_run, tmp_path):
    report = Recorder()
    result = analyze_job(tiny_run, tmp_path / "cache", [RUN], None, report=report)
    assert result == {
        "kind": "analyze",
        "status": "complete",
        "runs": [RUN],
        "failed": {},
        "message": f"Analysed 1 run(s): {RUN}",
    }
    assert report.fractions == sorted(report.fractions) and report.fractions[-1] == 1.0
    for step in ("statistics (final weights)", "neuron clusters (epoch 1)", "edges", "CKA"):
        assert report.said(step), step
    assert cached_only(tiny_run, tmp_path / "cache").is_analyzed(RUN)


def test_analyze_job_cancel_stops_between_steps_and_goes_on_later(tiny_run, tmp_path):
    report = Recorder()
    result = analyze_job(
        tiny_run, tmp_path / "cache", [RUN], None, report=report, cancelled=lambda: report.said("train errors")
    )
    assert result["status"] == "stopped" and result["runs"] == []
    assert not report.said("neuron clusters") and not cached_only(tiny_run, tmp_path / "cache").is_analyzed(RUN)
    assert analyze_job(tiny_run, tmp_path / "cache", [RUN], None)["status"] == "complete"
    assert cached_only(tiny_run, tmp_path / "cache").is_analyzed(RUN)


@pytest.mark.parametrize(
    "runs, error",
    [
        (["../etc"], RunNameError),
        (["no-such-run"], RunNotFoundError),
        ([], JobInputError),
    ],
)
def test_analyze_job_refuses_bad_names(tiny_run, tmp_path, runs, error):
    with pytest.raises(error):
        analyze_job(tiny_run, tmp_path / "cache", runs, None)


def test_a_run_that_cannot_be_analysed_is_reported_and_the_others_go_on(tiny_run, tmp_path):
    import shutil

    runs = shutil.copytree(tiny_run, tmp_path / "runs")
    shutil.copytree(runs / RUN, runs / "no-weights")
    (runs / "no-weights" / "model.pt").unlink()
    result = analyze_job(runs, tmp_path / "cache", ["no-weights", RUN], None)
    assert result["status"] == "complete" and result["runs"] == [RUN]
    assert "model.pt" in result["failed"]["no-weights"] and "no-weights" in result["message"]
    only_bad = analyze_job(runs, tmp_path / "cache", ["no-weights"], None)
    assert only_bad["status"] == "failed" and only_bad["runs"] == []
