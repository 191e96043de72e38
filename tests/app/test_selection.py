"""The shared run choice helpers: stamps that change with a run's files, and the page memo."""

from __future__ import annotations

import os
import shutil

from app.selection import cache_stamp, runs_stamp, sort_names


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
    import numpy as np

    from app.config import Settings

    settings = Settings(runs_dir=str(tmp_path / "runs"), cache_dir=tmp_path / "cache")
    before = cache_stamp(settings)
    from app.analysis_access import analyzer

    analyzer(settings).cache.set("k", {"a": np.zeros(1)})
    assert cache_stamp(settings) != before, "a write to the analysis cache must change its stamp"


def test_sort_names():
    assert sort_names("a,../x,zz", ["a"]) == (("a",), ("../x",), ("zz",))


def test_picked_names_take_only_strings_of_a_list():
    from app.selection import picked_names

    assert picked_names(["a", 3, None, "b"]) == ["a", "b"]
    assert picked_names({"a": 1}) == picked_names(7) == picked_names("a,b") == picked_names(None) == []
