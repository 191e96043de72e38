"""The shared run choice helpers: stamps that change with a run's files, and the page memo."""

from __future__ import annotations

import os
import shutil

from app.selection import Memo, cache_stamp, runs_stamp, sort_names


def test_runs_stamp_changes_when_a_run_changes(quick_runs_dir, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(quick_runs_dir, runs)
    before = runs_stamp(runs)
    assert [entry[0] for entry in before] == ["base-quick-synthetic", "shallow-quick-synthetic"]
    assert runs_stamp(runs, ["shallow-quick-synthetic"]) == before[1:]
    history = runs / "base-quick-synthetic" / "history.jsonl"
    os.utime(history, ns=(history.stat().st_atime_ns, history.stat().st_mtime_ns + 1_000_000))
    assert runs_stamp(runs) != before
    assert runs_stamp(tmp_path / "missing") == ()


def test_cache_stamp_and_memo(tmp_path):
    assert cache_stamp(tmp_path) == 0
    (tmp_path / "cache.db").write_bytes(b"x")
    assert cache_stamp(tmp_path) > 0
    memo, calls = Memo(size=2), []
    for key in ("a", "a", "b", "c", "a"):
        memo.get(key, lambda key=key: calls.append(key) or key.upper())
    assert calls == ["a", "b", "c", "a"]  # "a" was evicted by "b" and "c", then computed again


def test_sort_names():
    assert sort_names("a,../x,zz", ["a"]) == (("a",), ("../x",), ("zz",))
