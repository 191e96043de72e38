"""The one query vocabulary: each parser's value and refusal, and search() writing a link back."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from app import query


def test_last_value_of_a_repeated_key_and_the_older_runs_spelling():
    assert query.last(["1", "2"]) == "2" and query.last([]) is None and query.last("x") == "x"
    assert query.runs_value({"runs": "a", "models": "b"}) == "a" and query.runs_value({"models": "b"}) == "b"
    assert query.split_names(["a,b", " c ", None, "a"]) == ["a", "b", "c"]


def test_depth_and_depths():
    assert query.parse_depth(None, 0.5) == (0.5, None)
    assert query.parse_depth(["0.1", "0.25"], 0.5) == (0.25, None)
    for bad in ("1.5", "-0.1", "abc", "1e-1", "nan", "inf", ""):
        value, problem = query.parse_depth(bad, 0.5)
        assert value == 0.5 and problem.startswith(f"depth={bad} ") and "0 to 1" in problem
    assert query.parse_depths("0.5,1", (0.0, 1.0)) == ((0.5, 1.0), None)
    for bad in ("1,0.5", "0.5", "a,b", "0,1,2"):
        value, problem = query.parse_depths(bad, (0.5, 1.0))
        assert value == (0.5, 1.0) and f"depths={bad}" in problem


def test_layer_count_choice_flag_and_number():
    assert query.parse_layer("conv7") == ("conv7", None) and query.parse_layer(None) == (None, None)
    assert query.parse_layer("../x")[1].startswith("layer=../x")
    assert query.parse_count("12", "image", 0) == (12, None)
    assert query.parse_count("-1", "image", 0) == (0, "image=-1 is not a whole number from 0, 1, …; using 0.")
    assert (
        query.parse_count("7", "epoch", None, minimum=1, maximum=5)[1] == "epoch=7 is not a whole number from 1 to 5."
    )
    assert query.parse_count(True, "image", 0)[1] is not None
    assert query.parse_choice("8", "size", (4, 8), 4) == (8, None)
    assert query.parse_choice("5", "size", (4, 8), 4) == (4, "size=5 is not one of 4, 8; using 4.")
    assert query.parse_flag("Yes", "debiased") == (True, None) and query.parse_flag("0", "debiased") == (False, None)
    assert query.parse_flag("perhaps", "debiased")[1].startswith("debiased=perhaps")
    assert query.parse_number("0.3", "threshold", 0, 0.9, 0.2) == (0.3, None)
    assert query.parse_number("x" * 100, "threshold", 0, 0.9, 0.2)[1].count("x") < 45  # long values are cut


def test_search_writes_what_the_parsers_read():
    link = query.search({"runs": ["a+b", "c"], "depth": 0.25, "depths": (0.5, 1.0), "debiased": True, "x": None})
    assert link == "?runs=a%2Bb,c&depth=0.25&depths=0.5,1&debiased=1"
    parsed = parse_qs(urlparse(link).query)
    assert query.split_names(parsed["runs"]) == ["a+b", "c"]
    assert query.parse_depths(parsed["depths"], (0.0, 0.0)).value == (0.5, 1.0)
    assert query.search({"runs": []}) == "?runs="  # "no run", which is not "every run"
    assert query.problems_of(query.Parsed(1), query.Parsed(2, "bad")) == ["bad"]


def test_sweep_names_a_recorded_sweep():
    assert query.parse_sweep("family-seeds") == ("family-seeds", None)
    assert query.parse_sweep(["a", "b"]) == ("b", None) and query.parse_sweep(None) == (None, None)
    assert query.parse_sweep(" ") == (None, None)
    for bad in ("../x", "_sweeps", "a/b", "a..b"):
        value, problem = query.parse_sweep(bad)
        assert value is None and problem.startswith(f"sweep={bad} is not a sweep name")
    assert "``sweep``" in query.__doc__, "the vocabulary's table lists the key"
