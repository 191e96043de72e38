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


def test_default_runs_are_the_largest_finished_set_of_one_profile_and_dataset():
    from app.selection import default_runs, parse_runs

    def run(name, profile, status="complete", dataset="digits", updated="2026-01-01"):
        return {"name": name, "profile": profile, "dataset": dataset, "status": status, "updated": updated}

    family = [run(f"{m}-demo-digits", "demo") for m in ("base", "deep", "shallow")]
    smoke = run("base-quick-synthetic", "quick", dataset="synthetic", updated="2026-12-01")  # the newest
    stopped = run("wide-demo-digits", "demo", status="stopped")
    garbled = {"name": "garbled", "status": "broken", "problem": "run.json: not JSON"}
    runs = [*family, smoke, stopped, garbled]
    assert default_runs(runs) == (*(r["name"] for r in family), "wide-demo-digits", "garbled")
    assert parse_runs(None, [r["name"] for r in runs], default_runs(runs)).names == default_runs(runs)
    older, newer = run("a", "demo"), run("b", "quick", updated="2026-02-01")
    assert default_runs([older, newer]) == ("b",)  # a tie of set sizes: the most recent set
    assert default_runs([stopped, garbled]) == ("wide-demo-digits", "garbled")  # nothing finished: every run


def test_sweep_in_the_query_selects_its_runs(tmp_path):
    from analysis.runs.store import RunStore
    from analysis.sweeps import new_sweep, record_sweep
    from app.selection import query_selection
    from tests.app.helpers import text_of

    runs_dir = tmp_path / "runs"
    store = RunStore(runs_dir)
    pair = [("base", 0, "base-demo-digits"), ("base", 1, "base-demo-digits-seed1")]
    record_sweep(store, new_sweep("pair", pair, "demo", "digits"))
    record_sweep(store, new_sweep("later", [("deep", 0, "deep-demo-digits")], "demo", "digits"))

    def row(name, profile="demo"):
        return {"name": name, "profile": profile, "dataset": "digits", "status": "complete", "updated": "2026"}

    runs = [row("base-demo-digits"), row("base-demo-digits-seed1"), row("wide-demo-digits"), row("x", "quick")]
    default = ("base-demo-digits", "base-demo-digits-seed1", "wide-demo-digits")

    chosen = query_selection({"sweep": "pair"}, runs, runs_dir)
    assert chosen.names == ("base-demo-digits", "base-demo-digits-seed1") and chosen.sweep == "pair"
    assert link_message_of(chosen, runs_dir) is None, "a sweep all trained needs no message"
    assert query_selection({"sweep": "pair", "runs": "x"}, runs, runs_dir).names == ("x",), "runs= wins"
    assert query_selection({}, runs, runs_dir).names == default

    missing = query_selection({"sweep": "nope"}, runs, runs_dir)
    assert missing.names == default and missing.fell_back
    assert (
        "sweep=nope: no sweep named 'nope'" in missing.sweep_problem
        and "its sweeps: later, pair" in missing.sweep_problem
    )
    text = text_of(link_message_of(missing, runs_dir))
    assert "The sweep in this link was not found" in text and "Showing the default runs instead." in text
    assert query_selection({"sweep": "../x"}, runs, runs_dir).sweep_problem.startswith("sweep=../x is not a sweep name")
    # runs= fine, sweep= unknown: the runs shown, the sweep named, no "default runs" said
    both = query_selection({"sweep": "nope", "runs": "x"}, runs, runs_dir)
    assert (
        both.names == ("x",)
        and not both.fell_back
        and "Showing the others." in text_of(link_message_of(both, runs_dir))
    )

    waiting = query_selection({"sweep": "later"}, runs, runs_dir)
    assert waiting.names == default and waiting.pending == ("deep-demo-digits",) and waiting.fell_back
    text = text_of(link_message_of(waiting, runs_dir))
    assert (
        "This sweep is not finished" in text and "Not trained yet (sweep later)" in text and "deep-demo-digits" in text
    )
    record_sweep(store, new_sweep("half", [*pair, ("deep", 0, "deep-demo-digits")], "demo", "digits"))
    half = query_selection({"sweep": "half"}, runs, runs_dir)
    assert half.names == ("base-demo-digits", "base-demo-digits-seed1") and not half.fell_back
    assert "Showing the ones trained so far." in text_of(link_message_of(half, runs_dir))


def link_message_of(selection, runs_dir):
    from app.selection import link_message

    return link_message(selection, str(runs_dir), "link-message")
