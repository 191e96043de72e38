"""The runs folder's name checks, broken runs, and atomic writes under failure."""

from __future__ import annotations

import errno
import json
from datetime import UTC

import pytest
import torch

from analysis.runs import atomic
from analysis.runs.atomic import atomic_write_bytes
from analysis.runs.store import BrokenRunError, RunNameError, RunNotFoundError, RunStore, check_run_name


@pytest.mark.parametrize(
    "name",
    ["../x", "..", "a/b", "/etc/passwd", "", ".hidden", "a\\b", "x" * 101, "a..b", "name with space", "é", "~root"],
)
def test_bad_run_names_are_refused(tmp_path, name):
    with pytest.raises(RunNameError):
        RunStore(tmp_path).path(name)


def test_good_run_names(tmp_path):
    for name in ("base-demo-digits", "base_x0.25-demo-digits", "my.run+2"):
        assert check_run_name(name) == name
        assert RunStore(tmp_path).path(name).parent == tmp_path.resolve()


def test_missing_and_broken_runs(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(RunNotFoundError):
        store.read_meta("nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{ not json")
    with pytest.raises(BrokenRunError, match="run.json"):
        store.read_meta("bad")
    assert store.summary("bad")["status"] == "broken"
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "run.json").write_text(json.dumps({"model": "base", "status": "complete"}))
    assert store.summary("gone")["problem"] == "model.pt is missing"
    (tmp_path / "gone" / "history.jsonl").write_text('{"epoch": 1}\n{"epoch": 2, "trunc')
    with pytest.raises(BrokenRunError, match="line 2"):
        store.read_history("gone")
    assert [row["name"] for row in store.list_runs()] == ["bad", "gone"]


class _FullDisk:
    """A file whose write stores half the bytes, then fails as a full disk does."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, where):
    store = RunStore(tmp_path)
    store.save_checkpoint("run", "model.pt", {"w": torch.ones(1000)})

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "write":
        real_fdopen = atomic.os.fdopen
        monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        store.save_checkpoint("run", "model.pt", {"w": torch.zeros(1000)})
    monkeypatch.undo()
    assert torch.equal(store.load_checkpoint("run", "model.pt")["w"], torch.ones(1000))
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["model.pt"]  # no temporary file left behind


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_text() == "new"


def test_a_silent_training_run_from_another_machine_counts_as_interrupted():
    from datetime import datetime, timedelta

    from analysis.runs.store import STALE_SECONDS, interrupted_reason

    now = datetime(2026, 1, 1, tzinfo=UTC)
    meta = {"status": "training", "epochs_done": 3, "trainer": {"host": "elsewhere", "pid": 1}}
    fresh = {**meta, "heartbeat": (now - timedelta(seconds=STALE_SECONDS / 2)).isoformat()}
    stale = {**meta, "heartbeat": (now - timedelta(seconds=STALE_SECONDS + 60)).isoformat()}
    assert interrupted_reason(fresh, now) == ""
    assert "resume after epoch 3" in interrupted_reason(stale, now)
    assert interrupted_reason({**stale, "status": "complete"}, now) == ""
