"""The runs folder's name checks, broken runs, and atomic writes under failure."""

from __future__ import annotations

import errno
import json

import pytest

from analysis import atomic
from analysis.atomic import atomic_torch_save, atomic_write_text
from analysis.checkpoints import read_checkpoint
from analysis.runs import BrokenRunError, RunNameError, RunNotFoundError, RunStore, check_run_name


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "/etc/passwd", "", ".hidden", "a\\b", "x" * 101, "a..b",
                                  "name with space", "é", "~root"])
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


def test_disk_full_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    atomic_torch_save({"w": 1}, path)

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_torch_save({"w": 2}, path)
    assert read_checkpoint(path) == {"w": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_atomic_text_replaces_whole_file(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
