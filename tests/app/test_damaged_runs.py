"""One damaged run among good ones: it shows as broken with the reason, and every other run still serves."""

from __future__ import annotations

import shutil

import pytest

import app.main  # noqa: F401 - builds the module-level app, which registers the pages imported next
from analysis.jobs import analyze_job
from analysis.runs.store import RunStore
from app.analysis_access import analyzer
from app.config import Settings
from app.main import create_app
from app.pages import evolution, overview
from app.selection import read_runs
from tests.app.helpers import text_of

GOOD = "base-quick-synthetic"


@pytest.fixture(scope="module")
def damaged(analysed_runs, tmp_path_factory):
    """The analysed quick runs plus copies of the good one with one fault each; ``(settings, runs_dir)``."""
    source, cache = analysed_runs
    root = tmp_path_factory.mktemp("damaged")
    runs = root / "runs"
    shutil.copytree(source, runs)
    shutil.copytree(cache, root / "cache")
    for name in ("corrupt-weights", "truncated-history", "missing-snapshot"):
        shutil.copytree(runs / GOOD, runs / name)
    weights = runs / "corrupt-weights" / "model.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    history = runs / "truncated-history" / "history.jsonl"
    history.write_bytes(history.read_bytes()[:-25])
    snapshots = RunStore(runs).snapshot_epochs("missing-snapshot")
    (runs / "missing-snapshot" / "snapshots" / f"epoch_{snapshots[0]:03d}.pt").unlink()
    settings = Settings(runs_dir=str(runs), cache_dir=root / "cache", data_dir=root / "data")
    return settings, runs, snapshots[0]


def test_listing_names_each_fault(damaged):
    settings, _runs, _epoch = damaged
    rows = {row["name"]: row for row in read_runs(settings.runs_dir)}
    assert rows["corrupt-weights"]["status"] == "broken"
    assert "model.pt is truncated or not a PyTorch checkpoint" in rows["corrupt-weights"]["problem"]
    assert rows[GOOD]["status"] == "complete" and rows["shallow-quick-synthetic"]["status"] == "complete"


def test_pages_show_the_faults_and_serve_the_others(damaged):
    settings, _runs, epoch = damaged
    dashboard = create_app(settings)
    with dashboard.server.test_request_context("/"):
        text = text_of(overview.layout())
        assert "model.pt is truncated" in text and "truncated-history" in text and "line" in text
        parts = evolution.evolution_parts([GOOD, "missing-snapshot"], None, None)
    messages = text_of(parts.messages)
    assert f"snapshot of epoch {epoch} is missing" in messages and "final weights still can" in messages
    assert GOOD not in messages, "the good run must not be reported"
    with dashboard.server.test_request_context("/"):
        assert analyzer(settings).clusters(GOOD)["layer_names"]  # the good run's results still serve


def test_analysing_names_the_corrupt_checkpoint_and_does_the_others(damaged, tmp_path):
    settings, runs, _epoch = damaged
    result = analyze_job(runs, tmp_path / "cache", ["corrupt-weights", GOOD], tmp_path / "data", snapshots=False)
    assert result["runs"] == [GOOD]
    assert "truncated or corrupt checkpoint" in result["failed"]["corrupt-weights"]
