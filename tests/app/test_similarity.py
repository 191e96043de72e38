"""The similarity page: its query parsing and CKA heatmaps on the quick runs, then in headless Chromium."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from selenium.webdriver.support.ui import Select

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
import app.main  # noqa: F401 - imported for its side effect: the pages registered
from analysis.cache import AnalysisCache
from analysis.pipeline import RunAnalyzer
from analysis.runs.store import RunStore
from app import selection
from app.figures.similarity import cka_figure, cka_title
from app.pages import similarity
from tests.app.helpers import text_of, wait_until

QUICK_RUNS = ("base-quick-synthetic", "shallow-quick-synthetic")
BASE, SHALLOW = QUICK_RUNS

# selenium 4.2 calls a urllib3 method that urllib3 1.26 deprecates, once per WebDriver command.
pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


# -- the query string ------------------------------------------------------------------------------
def test_parse_choice_defaults_and_valid_values():
    runs = ["a", "b", "c"]
    assert similarity.parse_choice(None, None, runs) == similarity.Choice("a", "b", False)
    assert similarity.parse_choice("c", None, runs) == similarity.Choice("c", similarity.NO_RUN, False)
    assert similarity.parse_choice("b", "1", runs) == similarity.Choice("b", similarity.NO_RUN, True)
    assert similarity.parse_choice(["c", "b,a"], "false", runs) == similarity.Choice("c", "b", False)
    assert similarity.parse_choice(None, None, ["only"]) == similarity.Choice("only", similarity.NO_RUN, False)
    assert similarity.parse_choice(None, None, []).a == similarity.NO_RUN
    assert similarity.parse_choice("", None, runs).a == similarity.NO_RUN  # runs= : no run chosen


def test_parse_choice_refuses_bad_values_with_reasons():
    choice = similarity.parse_choice("../../etc/passwd,zzz", "maybe", ["a", "b"])
    assert (choice.a, choice.b, choice.debiased) == ("a", "b", False)
    assert len(choice.problems) == 3
    assert "not a run name" in choice.problems[0] and "no such run" in choice.problems[1]
    assert "debiased=maybe" in choice.problems[2]


def test_the_older_a_and_b_spelling_is_still_read():
    runs = ["a", "b", "c"]
    assert similarity.from_query({"a": "c", "b": "a"}, runs) == similarity.Choice("c", "a", False)
    assert similarity.from_query({"a": "c", "b": ""}, runs) == similarity.Choice("c", similarity.NO_RUN, False)
    assert similarity.from_query({"runs": "b", "a": "c"}, runs).a == "b"  # runs= wins


def test_similarity_search_round_trips():
    choice = similarity.Choice("base+aug-demo", similarity.NO_RUN, True)
    search = similarity.similarity_search(choice)
    query = parse_qs(urlparse(search).query, keep_blank_values=True)
    assert query == {"runs": ["base+aug-demo"], "debiased": ["1"]}
    assert similarity.parse_choice(query["runs"], query["debiased"], ["base+aug-demo"]) == choice


# -- the heatmaps ----------------------------------------------------------------------------------
def test_cka_figure_has_a_fixed_scale_and_layers_from_the_input():
    result = {
        "matrix": np.array([[1.0, 0.4], [0.4, 1.0], [0.2, -0.05]]),
        "rows": ["conv1", "conv2", "fc1"],
        "columns": ["conv1", "fc1"],
    }
    figure = cka_figure(result, "t", "a", "b")
    heatmap = figure.data[0]
    assert (heatmap.zmin, heatmap.zmax) == (0, 1)
    assert list(heatmap.y) == ["conv1", "conv2", "fc1"] and list(heatmap.x) == ["conv1", "fc1"]
    assert figure.layout.yaxis.autorange == "reversed" and figure.layout.yaxis.scaleanchor is None
    assert heatmap.texttemplate == "%{z:.2f}"  # small enough to print the values
    within = cka_figure({**result, "columns": result["rows"], "matrix": np.eye(3)}, "t", "a", "a")
    assert within.layout.yaxis.scaleanchor == "x"
    big = {"matrix": np.eye(22), "rows": [f"l{i}" for i in range(22)], "columns": [f"l{i}" for i in range(22)]}
    assert cka_figure(big, "t", "a", "a").data[0].texttemplate is None


def test_cka_title_names_the_data_and_the_images():
    title = cka_title("within a", "synthetic stripes", 256, debiased=True)
    assert (
        title.startswith("Debiased linear CKA within a") and "synthetic stripes" in title and "256 test images" in title
    )


def test_similarity_parts_on_the_quick_runs(quick_runs_dir, analysed_source):
    runs = selection.read_runs(quick_runs_dir)
    text = text_of(similarity.similarity_parts(runs, similarity.Choice(BASE, SHALLOW, False), analysed_source).figures)
    for graph_id in (similarity.WITHIN_A_ID, similarity.WITHIN_B_ID, similarity.ACROSS_ID):
        assert f'"id": "{graph_id}"' in text
    n_images = analysed_source.cka(BASE)["n_images"]
    assert f"{n_images} test images" in text and "synthetic" in text
    assert f"{BASE} × {SHALLOW}" in text
    alone = similarity.similarity_parts(runs, similarity.Choice(SHALLOW, similarity.NO_RUN, True), analysed_source)
    text = text_of(alone.figures)
    assert similarity.WITHIN_A_ID in text and similarity.ACROSS_ID not in text and "Debiased" in text
    assert "synthetic" in text_of(alone.banner)


class OtherData(RunAnalyzer):
    """The quick runs, with the shallow one pretending to have been evaluated on other images."""

    def statistics(self, run, epoch=None):
        stats = super().statistics(run, epoch)
        return {**stats, "dataset_hash": "elsewhere", "dataset": "cifar10"} if run == SHALLOW else stats


def test_runs_on_different_data_show_the_analysis_error(quick_runs_dir, analysed_runs):
    runs_dir, cache_dir = analysed_runs
    source = OtherData(RunStore(runs_dir), AnalysisCache(cache_dir), allow_compute=False)
    runs = selection.read_runs(quick_runs_dir)
    text = text_of(similarity.similarity_parts(runs, similarity.Choice(BASE, SHALLOW, False), source).figures)
    assert "evaluated on different data" in text and "CKA needs the same images" in text
    assert similarity.ACROSS_ID not in text and similarity.WITHIN_A_ID in text and similarity.WITHIN_B_ID in text
    assert "/jobs" not in text  # nothing to compute: the data differ


def test_a_run_that_is_not_analysed_links_to_the_jobs_page(tmp_path, quick_runs_dir):
    source = RunAnalyzer(RunStore(quick_runs_dir), AnalysisCache(tmp_path / "empty"), allow_compute=False)
    runs = selection.read_runs(quick_runs_dir)
    text = text_of(similarity.similarity_parts(runs, similarity.Choice(BASE, similarity.NO_RUN, False), source).figures)
    assert f"python -m analysis analyze --run {BASE}" in text and "/jobs" in text


def test_layout_with_a_bad_link_shows_a_message(analysed_app):
    with analysed_app.server.app_context():
        text = text_of(similarity.layout(runs="../../etc/passwd", debiased="perhaps", other="1"))
    assert "../../etc/passwd" in text and "debiased=perhaps" in text and "Showing the default" in text
    assert similarity.ACROSS_ID in text  # the default view: the first two runs


# -- in the browser --------------------------------------------------------------------------------
def figure_title(dash_duo, graph_id: str) -> str:
    return dash_duo.driver.execute_script(
        "const el = document.querySelector(arguments[0]); return el ? el.layout.title.text : null;",
        f"#{graph_id} .js-plotly-plot",
    )


def test_page_loads_and_the_controls_redraw_and_write_the_url(dash_duo, analysed_app):
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + "/similarity")
    dash_duo.wait_for_contains_text(f"#{similarity.BANNER_ID}", "synthetic")
    for graph_id in (similarity.ACROSS_ID, similarity.WITHIN_A_ID, similarity.WITHIN_B_ID):
        dash_duo.wait_for_element(f"#{graph_id} .js-plotly-plot")
    assert figure_title(dash_duo, similarity.ACROSS_ID).startswith(f"Linear CKA {BASE} × {SHALLOW}")
    dash_duo.find_element(f"#{similarity.DEBIASED_ID}").click()
    wait_until(
        lambda: (figure_title(dash_duo, similarity.ACROSS_ID) or "").startswith("Debiased"),
        message="the debiased switch did not redraw",
    )
    Select(dash_duo.find_element(f"#{similarity.RUN_B_ID}")).select_by_value(similarity.NONE_OPTION)
    wait_until(lambda: figure_title(dash_duo, similarity.ACROSS_ID) is None, message="the A × B heatmap stayed")
    query = parse_qs(urlparse(dash_duo.driver.current_url).query, keep_blank_values=True)
    assert query == {"runs": [BASE], "debiased": ["1"]}
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_a_link_restores_the_view_and_a_bad_one_says_why(dash_duo, analysed_app):
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + f"/similarity?runs={SHALLOW},{BASE}&debiased=1")
    dash_duo.wait_for_element(f"#{similarity.ACROSS_ID} .js-plotly-plot")
    assert figure_title(dash_duo, similarity.ACROSS_ID).startswith(f"Debiased linear CKA {SHALLOW} × {BASE}")
    assert (
        Select(dash_duo.find_element(f"#{similarity.RUN_A_ID}")).first_selected_option.get_attribute("value") == SHALLOW
    )
    assert dash_duo.find_element(f"#{similarity.DEBIASED_ID}").is_selected()
    dash_duo.driver.get(dash_duo.server_url + "/similarity?runs=../../etc/passwd&debiased=perhaps")
    dash_duo.wait_for_contains_text(f"#{similarity.PARAM_MESSAGE_ID}", "../../etc/passwd")
    dash_duo.wait_for_contains_text(f"#{similarity.PARAM_MESSAGE_ID}", "debiased=perhaps")
    dash_duo.wait_for_element(f"#{similarity.ACROSS_ID} .js-plotly-plot")
    assert dash_duo.get_logs() == []
