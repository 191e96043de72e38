"""The Review page: its figures and parts on hand-built reviews, and the page in a browser on analysed runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from app.figures import review as figures
from app.review_view import diff_view, findings_list, one_dataset, recommendation_card, review_parts
from tests.app.helpers import text_of, wait_until

RUNS = [
    {
        "run": "shallow",
        "model": "shallow",
        "test_error": 0.12,
        "interval": [0.11, 0.13],
        "params": 20_000,
        "flops": 1e6,
        "on_front": True,
        "reviewed": True,
    },
    {
        "run": "base",
        "model": "base",
        "test_error": 0.09,
        "interval": [0.085, 0.096],
        "params": 80_000,
        "flops": 5e6,
        "on_front": True,
        "reviewed": True,
    },
    {
        "run": "wide",
        "model": "base-x4",
        "test_error": 0.091,
        "interval": [0.086, 0.097],
        "params": 1_200_000,
        "flops": 6e7,
        "on_front": False,
        "reviewed": False,
    },
]
FINDINGS = [
    {
        "kind": "not_a_real_difference",
        "run": "wide",
        "layer": None,
        "severity": "info",
        "text": "base and wide differ by 0.1 pp, within noise (McNemar p = 0.62).",
        "evidence": {"p_value": 0.62},
        "view": "/models?runs=base,wide",
    },
    {
        "kind": "redundant_layer",
        "run": "wide",
        "layer": "conv7",
        "severity": "high",
        "text": "42 of 128 conv7 neurons can be merged for +0.1 pp.",
        "evidence": {"n_flagged": 42, "merged_error_change": 0.001},
        "view": "/redundancy?runs=wide&layer=conv7",
    },
]
ABLATION = {
    "base_error": 0.091,
    "n_images": 10_000,
    "layers": [
        {
            "layer": "conv1",
            "depth": 0.0,
            "n_neurons": 32,
            "n_flagged": 0,
            "n_dead": 0,
            "params_saved": 0,
            "flops_saved": 0,
            "removed_error_change": None,
            "removed_interval": None,
            "merged_error_change": None,
            "merged_interval": None,
            "dead_error_change": None,
        },
        {
            "layer": "conv7",
            "depth": 0.6,
            "n_neurons": 128,
            "n_flagged": 42,
            "n_dead": 3,
            "params_saved": 48_000,
            "flops_saved": 2e6,
            "removed_error_change": 0.02,
            "removed_interval": [0.015, 0.025],
            "merged_error_change": 0.001,
            "merged_interval": [-0.001, 0.003],
            "dead_error_change": 0.0,
        },
    ],
    "whole_model": {
        "n_flagged": 60,
        "params_saved": 70_000,
        "flops_saved": 3e6,
        "removed_error_change": 0.05,
        "removed_interval": [0.04, 0.06],
        "merged_error_change": 0.004,
        "merged_interval": [0.001, 0.007],
    },
}
DIFF = {
    "rows": [
        {"quantity": "test error", "a": 0.09, "b": 0.091, "change": 0.001, "significant": False},
        {"quantity": "parameters", "a": 80_000, "b": 1_200_000, "change": 1_120_000, "significant": None},
    ],
    "per_class": [{"class": "shirt", "a": 0.3, "b": 0.27, "change": -0.03}],
    "by_depth": [],
    "sentences": ["wide has 15 times the parameters of base for no real change in test error."],
}


class HandBuiltSource:
    """Stands in for the cached-only analyzer: the review API's answers, written by hand."""

    def __init__(self) -> None:
        self.reviewed_names: list[list[str]] = []

    def review(self, runs: list[str]) -> dict[str, Any]:
        self.reviewed_names.append(list(runs))
        return {
            "dataset": "Fashion-MNIST",
            "runs": RUNS,
            "pareto": ["shallow", "base"],
            "recommendation": {"run": "base", "reason": "the smallest run within noise of the best"},
            "findings": FINDINGS,
            "not_reviewed": ["wide"],
        }

    def ablation(self, run: str) -> dict[str, Any]:
        return ABLATION

    def diff(self, run_a: str, run_b: str) -> dict[str, Any]:
        return DIFF


def rows(*names: str, dataset: str = "fashion-mnist") -> list[dict[str, Any]]:
    return [
        {
            "name": n,
            "status": "complete",
            "dataset": dataset,
            "profile": "demo",
            "dataset_description": "Fashion-MNIST, 10 classes",
        }
        for n in names
    ]


def fonts(figure) -> list[float]:
    """Every font size the figure sets (the layout's, titles', texts' and annotations')."""
    layout = figure.layout
    sizes = [layout.font.size, layout.title.font.size]
    sizes += [trace.textfont.size for trace in figure.data if getattr(trace, "textfont", None) and trace.textfont.size]
    sizes += [a.font.size for a in layout.annotations if a.font.size]
    return [s for s in sizes if s is not None]


def test_pareto_figure_draws_the_front_on_a_log_axis_and_rings_the_recommendation():
    figure = figures.pareto_figure(RUNS, "base", {"base": "#111111"}, "Fashion-MNIST — not CIFAR-10")
    assert figure.layout.xaxis.type == "log"
    front = next(t for t in figure.data if t.name == "Pareto front")
    assert list(front.x) == [1e6, 5e6]  # cheapest first, the dominated wide run left out
    base = next(t for t in figure.data if t.name == "base")
    assert base.marker.line.width == 4 and base.text == ("<b>base</b>",)
    assert base.error_y.array == pytest.approx((0.006,)) and base.error_y.arrayminus == pytest.approx((0.005,))
    assert "Fashion-MNIST" in figure.layout.title.text
    assert min(fonts(figure)) >= 12
    by_params = figures.pareto_figure(RUNS, "base", {}, "x", cost="params")
    assert "parameters" in by_params.layout.xaxis.title.text


def test_pareto_figure_without_errors_says_why():
    figure = figures.pareto_figure([{"run": "a", "test_error": None, "flops": 3}], None, {}, "x")
    assert "Jobs page" in figure.layout.annotations[0].text


def test_ablation_figure_plots_each_method_per_layer_and_the_whole_model():
    figure = figures.ablation_figure(ABLATION, "wide", "Fashion-MNIST")
    merged = next(t for t in figure.data if t.name.startswith("merged"))
    assert list(merged.x) == [42] and merged.y == pytest.approx((0.001,)) and merged.text == ("conv7",)
    whole = next(t for t in figure.data if t.name.startswith("whole"))
    assert list(whole.x) == [60]
    assert "10,000 test images" in figure.layout.title.text and min(fonts(figure)) >= 12
    assert "no ablation" in figures.ablation_figure(None, "x", "d").layout.annotations[0].text


def test_findings_most_severe_first_with_their_evidence_and_link():
    items = findings_list(FINDINGS).children
    first = str(items[0])
    assert "42 of 128 conv7" in first and "Show in Redundancy" in first and "+0.10 pp" in first
    assert "/redundancy?runs=wide&layer=conv7" in first
    assert "Show in Models" in str(items[1])
    assert "No findings" in str(findings_list([]))


def test_recommendation_card_names_the_run_its_interval_and_cost():
    card = str(recommendation_card(HandBuiltSource().review([])))
    assert "Keep " in card and "'base'" in card and "9.00 %" in card and "8.50 %" in card and "80 k" in card


SPREADS = [
    {"model": "base", "runs": ["base", "base-seed1", "base-seed2"], "n_seeds": 3, "test_error_mean": 0.119,
     "test_error_std": 0.003, "test_error_min": 0.116, "test_error_max": 0.122},
    {"model": "base-x4", "runs": ["wide"], "n_seeds": 1, "test_error_mean": 0.091, "test_error_std": None,
     "test_error_min": 0.091, "test_error_max": 0.091},
]  # fmt: skip


def test_recommendation_and_diff_quote_the_seed_spread_of_a_model_with_several_seeds():
    review = {**HandBuiltSource().review([]), "seed_spread": SPREADS}
    card = text_of(recommendation_card(review))
    assert "base over its seeds: " in card and "test error 11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)" in card
    assert "over its seeds" not in text_of(recommendation_card(HandBuiltSource().review([])))
    view = text_of(diff_view(HandBuiltSource(), "base", "wide", SPREADS))
    assert "review-diff-spread-a" in view and "test error 11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)" in view
    assert "review-diff-spread-b" not in view, "one seed of wide: no spread to quote"


def test_review_parts_cover_one_dataset_and_list_the_unreviewed(monkeypatch):
    import pandas as pd

    monkeypatch.setattr(
        "app.review_view.review_findings_frame",
        lambda review, dataset: pd.DataFrame({"run": [r["run"] for r in review["runs"]]}),
    )
    source = HandBuiltSource()
    runs = rows("shallow", "base", "wide") + rows("digits-run", dataset="digits")
    parts = review_parts(runs, ["shallow", "base", "wide", "digits-run"], source, "flops")
    assert source.reviewed_names == [["shallow", "base", "wide"]]  # the digits run is left out, and said so
    assert "leaves out digits-run" in str(parts.banner)
    assert parts.reviewed == ("shallow", "base")
    assert parts.compared == ("base", "wide", "shallow")  # the recommendation first, then by test error
    assert "Not reviewed yet" in str(parts.not_reviewed) and "wide" in str(parts.not_reviewed)
    assert parts.findings_csv.splitlines() == ["run", "shallow", "base", "wide"]
    nothing = review_parts(runs, [], source, "flops")
    assert "No finished run chosen" in str(nothing.recommendation)


def test_one_dataset_skips_runs_without_weights():
    members, why = one_dataset(rows("a") + [{"name": "b", "status": "broken", "dataset": "digits"}])
    assert [m["name"] for m in members] == ["a"] and why is None


def test_diff_view_reads_aloud_and_tabulates():
    view = str(diff_view(HandBuiltSource(), "base", "wide"))
    assert "15 times the parameters" in view and "within noise" in view and "shirt -3.0 pp" in view
    assert "Pick two different runs" in str(diff_view(HandBuiltSource(), "base", "base"))


# -- in the browser, on analysed runs ----------------------------------------------------------------------
def test_review_page_loads_links_into_its_findings_and_follows_the_pair(dash_duo, analysed_app):
    from app.pages import review

    dash_duo.start_server(analysed_app)
    dash_duo.wait_for_contains_text("#review-recommendation-card", "Keep")
    dash_duo.wait_for_element(f"#{review.PARETO_ID} .js-plotly-plot")
    assert dash_duo.find_element(".navbar .nav-link").text == "Review"
    # The diff follows the chosen pair, and the link keeps it.
    first = dash_duo.find_element(f"#{review.DIFF_A_ID}").get_attribute("value")
    second = dash_duo.find_element(f"#{review.DIFF_B_ID}").get_attribute("value")
    from selenium.webdriver.support.ui import Select  # dbc.Select is a plain <select>

    Select(dash_duo.find_element(f"#{review.DIFF_A_ID}")).select_by_value(second)
    Select(dash_duo.find_element(f"#{review.DIFF_B_ID}")).select_by_value(first)
    dash_duo.wait_for_contains_text(f"#{review.DIFF_ID} thead", f"{second}")
    wait_until(lambda: parse_qs(urlparse(dash_duo.driver.current_url).query).get("diff") == [f"{second},{first}"])
    header = dash_duo.find_element(f"#{review.DIFF_ID} thead").text.split()
    assert header.index(second) < header.index(first)
    # The findings download as the frame's CSV; the ablation shows as a table too.
    csv_button = dash_duo.find_element("button[id*='review-findings-table']")
    dash_duo.driver.execute_script("arguments[0].click();", csv_button)
    target = Path(dash_duo.download_path) / "findings.csv"
    wait_until(lambda: target.is_file() and target.stat().st_size > 0)
    assert target.read_text().splitlines()[0].startswith("run,dataset,kind")
    dash_duo.wait_for_contains_text(f"#{review.ABLATION_TABLE_BOX_ID}", "Near-duplicates")
    # A finding's link opens the view that shows it.
    links = dash_duo.find_elements("#review-findings-list a")
    assert links, "the review of the analysed runs has no finding with a link (the recommendation is one)"
    href = links[0].get_attribute("href")
    dash_duo.driver.execute_script("arguments[0].click();", links[0])  # inside the scrolling list
    wait_until(lambda: dash_duo.driver.current_url == href)
    dash_duo.wait_for_element(".cnncmp-graph, .alert")
    assert dash_duo.get_logs() == []


def test_short_names_drop_the_words_every_run_shares():
    from app.figures.common import short_names

    names = ["base-demo-fashion-mnist", "base-demo-fashion-mnist-seed1", "deep-demo-fashion-mnist"]
    assert short_names(names) == dict(zip(names, ["base", "base-seed1", "deep"]))
    assert short_names(["a-x", "a-x"]) == {"a-x": "a-x"}  # the same after shortening: kept whole
    assert short_names(["solo-run"]) == {"solo-run": "solo-run"}
