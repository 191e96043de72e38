"""The edges page: its element and figure builders on hand-made data and the quick runs, then in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dash
import numpy as np
import pytest

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
import app.main  # noqa: F401 - imported for its side effect: the pages registered
from analysis.pipeline import NotAnalyzedError
from app import selection
from app.pages import edges
from tests.app.helpers import text_of, wait_until

QUICK_RUNS = ("base-quick-synthetic", "shallow-quick-synthetic")

# selenium 4.2 calls a urllib3 method that urllib3 1.26 deprecates, once per WebDriver command.
pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


def toy_run() -> edges.RunEdges:
    """Three layers: conv1 (2 clusters), conv2 (1 cluster), fc1 (2 clusters); masses written by hand."""
    return edges.RunEdges(
        name="toy",
        layer_names=["conv1", "conv2", "fc1"],
        relative_depth=[0.0, 0.5, 1.0],
        fractions=[
            {"layer": "conv1", "source": None, "positive_edge_fraction": 0.5, "positive_mass_fraction": 0.5},
            {"layer": "conv2", "source": "conv1", "positive_edge_fraction": 0.75, "positive_mass_fraction": 0.8},
            {"layer": "fc1", "source": "conv2", "positive_edge_fraction": 0.25, "positive_mass_fraction": 0.2},
        ],
        cluster_sizes=[[4, 12], [8], [1, 3]],
        positive={1: np.array([[4.0, 1.0]]), 2: np.array([[10.0], [0.0]])},
        negative={1: np.array([[2.0, 0.1]]), 2: np.array([[0.5], [40.0]])},
    )


# -- the query string ------------------------------------------------------------------------------
def test_parse_depth_and_threshold():
    assert edges.parse_depth(None) == (edges.DEFAULT_DEPTH, None)
    assert edges.parse_depth("0.25,0.75") == ((0.25, 0.75), None)
    assert edges.parse_depth(["0,1", "0.5, 1"]) == ((0.5, 1.0), None)  # a repeated parameter: the last wins
    for bad in ("abc", "0.5", "0.8,0.2", "-1,1", "0,nan", "0,1,2"):
        value, problem = edges.parse_depth(bad)
        assert value == edges.DEFAULT_DEPTH and problem and bad in problem
    assert edges.parse_threshold(None) == (edges.DEFAULT_THRESHOLD, None)
    assert edges.parse_threshold("0.35") == (0.35, None)
    for bad in ("lots", "-0.1", "0.95", "inf"):
        value, problem = edges.parse_threshold(bad)
        assert value == edges.DEFAULT_THRESHOLD and "threshold" in problem


def test_edges_search_round_trips():
    search = edges.edges_search(["base+aug-demo", "deep-demo"], (0.5, 1.0), 0.15)
    query = parse_qs(urlparse(search).query)
    assert selection.split_names(query["models"]) == ["base+aug-demo", "deep-demo"]
    assert edges.parse_depth(query["depth"][0]) == ((0.5, 1.0), None)
    assert edges.parse_threshold(query["threshold"][0]) == (0.15, None)


# -- the graph -------------------------------------------------------------------------------------
def nodes_of(parts: edges.GraphElements) -> dict[str, dict]:
    return {e["data"]["id"]: e for e in parts.elements if "source" not in e["data"]}


def edges_of(parts: edges.GraphElements) -> dict[str, dict]:
    return {e["data"]["id"]: e["data"] for e in parts.elements if "source" in e["data"]}


def test_graph_has_one_row_per_layer_and_labelled_cluster_nodes():
    parts = edges.graph_elements(toy_run(), (0, 1), threshold=0)
    nodes = nodes_of(parts)
    assert parts.layers == [0, 1, 2]
    assert nodes["L0c1"]["data"]["label"] == "conv1 · c1 (12)"
    assert {"run": "toy", "layer": 2, "cluster": 0, "neurons": 1}.items() <= nodes["L2c0"]["data"].items()
    # rows top → bottom from the input side; clusters left → right in id order
    assert nodes["L0c0"]["position"]["y"] < nodes["L1c0"]["position"]["y"] < nodes["L2c0"]["position"]["y"]
    assert nodes["L0c0"]["position"]["x"] < nodes["L0c1"]["position"]["x"]
    # size by neuron count: the largest cluster shown gets the tallest box
    heights = {k: n["data"]["height"] for k, n in nodes.items() if k.startswith("L")}
    assert heights["L0c1"] == edges.NODE_MAX_HEIGHT and heights["L2c0"] < heights["L0c0"] < heights["L0c1"]
    assert "80 % positive" in nodes["row1"]["data"]["label"] and nodes["row1"]["classes"] == "layer-label"
    assert edges.graph_elements(toy_run(), (0, 1), 0) == parts  # deterministic


def test_edges_are_green_and_red_with_width_normalised_per_layer_pair():
    found = edges_of(edges.graph_elements(toy_run(), (0, 1), threshold=0))
    # conv1 → conv2: heaviest is the positive 4.0; conv2 → fc1: heaviest is the negative 40
    assert found["e1-0-0-positive"]["width"] == edges.EDGE_MAX_WIDTH
    assert found["e2-0-1-negative"]["width"] == edges.EDGE_MAX_WIDTH
    assert found["e1-0-0-negative"]["width"] == pytest.approx(edges.edge_widths(np.array(2.0), 4.0))
    assert found["e1-0-0-positive"]["source"] == "L0c0" and found["e1-0-0-positive"]["target"] == "L1c0"
    assert {d["sign"] for d in found.values()} == {"positive", "negative"}
    assert "e2-0-1-positive" not in found  # no mass, no edge
    assert len(found) == 7


def test_threshold_and_depth_range_hide_edges_and_layers():
    parts = edges.graph_elements(toy_run(), (0, 1), threshold=0.2)
    kept = edges_of(parts)
    # 0.1 < 0.2·4 and 0.5 < 0.2·40 are hidden; 1.0, 2.0, 4.0, 10 and 40 stay
    assert set(kept) == {"e1-0-0-positive", "e1-1-0-positive", "e1-0-0-negative", "e2-0-0-positive", "e2-0-1-negative"}
    assert (parts.shown_edges, parts.hidden_edges) == (5, 2)
    upper = edges.graph_elements(toy_run(), (0.5, 1), threshold=0)
    assert upper.layers == [1, 2] and not any(e["target"].startswith("L1") for e in edges_of(upper).values())
    empty = edges.graph_elements(toy_run(), (0.6, 0.9), threshold=0)
    assert empty.layers == [] and empty.elements == [] and edges.graph_height(empty.width, empty.height) == 200


def test_graph_height_follows_the_drawing():
    assert edges.graph_height(1000, 500) > edges.graph_height(1000, 250)
    assert edges.graph_height(3000, 500) < edges.graph_height(1000, 500)  # a wide drawing is zoomed out


def test_run_graph_card_offers_exports_and_a_detail_area():
    card = text_of(edges.run_graph_card(toy_run(), (0, 1), 0.2, "#1f77b4", "toy data"))
    assert json.dumps({"type": edges.DETAIL_TYPE, "run": "toy"}) in card
    for fmt in ("png", "svg"):
        assert json.dumps({"type": edges.EXPORT_TYPE, "run": "toy", "format": fmt}) in card
    assert '"name": "preset"' in card and "toy data" in card and "RGB input" in card
    outside = text_of(edges.run_graph_card(toy_run(), (0.6, 0.9), 0.2, "#1f77b4", "toy data"))
    assert "no layer between relative depths 0.6 and 0.9" in outside


# -- the chart and the cluster matrix --------------------------------------------------------------
def test_fractions_figure_has_a_line_per_run_per_panel_and_the_half_line():
    other = toy_run()._replace(name="other")
    figure = edges.fractions_figure([toy_run(), other], {"toy": "#111111", "other": "#222222"}, (0.5, 1), "toy data")
    assert len(figure.data) == 4
    toy = [t for t in figure.data if t.legendgroup == "toy"]
    assert {t.line.color for t in toy} == {"#111111"} and sum(t.showlegend for t in toy) == 1
    assert list(toy[0].x) == [0.0, 0.5, 1.0] and list(toy[0].y) == [0.5, 0.75, 0.25]
    assert list(toy[1].y) == [0.5, 0.8, 0.2]
    assert "fc1 ← conv2" in toy[0].customdata and "conv1 ← input" in toy[0].customdata
    halves = [s for s in figure.layout.shapes if s.type == "line" and s.y0 == 0.5 == s.y1]
    assert len(halves) == 2
    assert "toy data" in figure.layout.title.text and figure.layout.yaxis.tickformat == ".0%"
    empty = edges.fractions_figure([], {}, (0.5, 1), "no data")
    assert "No analysed run" in empty.layout.annotations[-1].text


def test_cluster_matrix_rows_follow_the_row_order():
    labels = np.array([1, 0, 1, 0, 1])
    order = np.array([1, 3, 4, 0, 2])
    assert edges.cluster_rows(labels, order, 1) == [4, 0, 2]
    profiles = np.arange(15, dtype=float).reshape(5, 3) / 14
    figure = edges.cluster_matrix_figure(
        profiles, [4, 0, 2], ["cat", "dog", "ship"], "t", duplicates=np.array([True, False, False, False, False])
    )
    heatmap = figure.data[0]
    assert list(heatmap.y) == ["n4", "n0 ≈", "n2"] and list(heatmap.x) == ["cat", "dog", "ship"]
    assert np.allclose(heatmap.z, profiles[[4, 0, 2]]) and heatmap.zmin == 0 and heatmap.zmax == 1
    centred = edges.cluster_matrix_figure(profiles - 0.5, [0, 1], ["a", "b", "c"], "t")
    assert centred.data[0].zmin == -centred.data[0].zmax  # z-scores get a diverging scale around 0


# -- on the quick runs -----------------------------------------------------------------------------
def test_load_run_edges_of_a_quick_run(analysed_source):
    data = edges.load_run_edges(analysed_source, "base-quick-synthetic")
    n = len(data.layer_names)
    assert len(data.relative_depth) == len(data.fractions) == len(data.cluster_sizes) == n
    assert data.relative_depth[0] == 0 and data.relative_depth[-1] == 1
    assert set(data.positive) == set(range(1, n))
    for i in range(1, n):
        assert data.positive[i].shape == (len(data.cluster_sizes[i]), len(data.cluster_sizes[i - 1]))
    parts = edges.graph_elements(data, (0, 1), 0)
    assert parts.shown_edges > 0 and len(parts.layers) == n


def test_cluster_detail_of_a_quick_run(analysed_source):
    data = edges.load_run_edges(analysed_source, "base-quick-synthetic")
    text = text_of(edges.cluster_detail(analysed_source, "base-quick-synthetic", 1, 0, "synthetic data"))
    assert "class-activation matrix" in text and f"({data.cluster_sizes[1][0]} neurons)" in text
    with pytest.raises(ValueError):
        edges.cluster_detail(analysed_source, "base-quick-synthetic", 99, 0, "x")


class NotAnalysed:
    """A source whose every result is missing from the cache, as for a freshly trained run."""

    def __getattr__(self, analysis):
        def missing(run, *args, **kwargs):
            raise NotAnalyzedError(run, analysis)

        return missing


def test_a_run_that_is_not_analysed_gets_the_command_and_the_jobs_link(quick_runs_dir):
    runs = selection.read_runs(quick_runs_dir)
    parts = edges.edges_parts(runs, ["base-quick-synthetic"], (0.5, 1), 0.2, NotAnalysed())
    text = text_of(parts.graphs)
    assert "python -m analysis analyze --run base-quick-synthetic" in text and "/jobs" in text
    assert not parts.figure.data


def render(app: dash.Dash, **query) -> str:
    with app.server.app_context():
        return text_of(edges.layout(**query))


def test_layout_with_bad_values_shows_messages_and_defaults(analysed_app):
    text = render(analysed_app, models="../../etc/passwd", depth="deep", threshold="-3", other="1")
    assert edges.LINK_MESSAGE_ID in text and "../../etc/passwd" in text
    assert "depth=deep" in text and "threshold=-3" in text and "Showing the default" in text
    assert all(json.dumps({"type": edges.CYTO_TYPE, "run": name}) in text for name in QUICK_RUNS)


# -- in the browser --------------------------------------------------------------------------------
PLOT = f"#{edges.FRACTIONS_ID} .js-plotly-plot"


def plotted_runs(dash_duo) -> list[str]:
    dash_duo.wait_for_element(PLOT)
    groups = dash_duo.driver.execute_script(
        "return document.querySelector(arguments[0]).data.map(t => t.legendgroup);", PLOT
    )
    return sorted(set(groups))


def cyto_dom_id(run: str) -> str:
    """The DOM id Dash gives a pattern-matching id: its JSON with sorted keys and no spaces."""
    return json.dumps({"run": run, "type": edges.CYTO_TYPE}, separators=(",", ":"), sort_keys=True)


_CY = (
    "const el = document.getElementById(arguments[0]); const reg = el && (el._cyreg || "
    "(el.querySelector('div') || {})._cyreg); const cy = reg && reg.cy;"
)


def drawn_nodes(dash_duo, run: str) -> int:
    return dash_duo.driver.execute_script(_CY + "return cy ? cy.nodes('.cluster').length : -1;", cyto_dom_id(run))


def test_page_loads_draws_the_graphs_and_a_click_shows_the_cluster(dash_duo, analysed_app):
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + "/edges?depth=0,1")
    dash_duo.wait_for_contains_text(f"#{edges.BANNER_ID}", "synthetic")
    assert plotted_runs(dash_duo) == sorted(QUICK_RUNS)
    for run in QUICK_RUNS:
        wait_until(lambda run=run: drawn_nodes(dash_duo, run) > 0, message=f"no graph drawn for {run}")
    dash_duo.driver.execute_script(_CY + "cy.getElementById('L1c0').emit('tap');", cyto_dom_id(QUICK_RUNS[0]))
    detail = json.dumps({"run": QUICK_RUNS[0], "type": edges.DETAIL_TYPE}, separators=(",", ":"), sort_keys=True)
    wait_until(
        lambda: (
            "class-activation matrix"
            in dash_duo.driver.execute_script(
                "const el = document.getElementById(arguments[0]); return el.querySelector('.js-plotly-plot') ? "
                "el.querySelector('.js-plotly-plot').layout.title.text : '';",
                detail,
            )
        ),
        message="no cluster matrix shown",
    )
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_choosing_runs_redraws_and_writes_the_url(dash_duo, analysed_app):
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + "/edges")
    wait_until(lambda: plotted_runs(dash_duo) == sorted(QUICK_RUNS))
    labels = dash_duo.find_elements(f"#{edges.PICKER_ID} label")
    next(label for label in labels if label.text.strip() == "shallow-quick-synthetic").click()
    wait_until(lambda: plotted_runs(dash_duo) == ["base-quick-synthetic"], message="the chart did not change")
    wait_until(lambda: drawn_nodes(dash_duo, "shallow-quick-synthetic") == -1, message="the graph stayed")
    query = parse_qs(urlparse(dash_duo.driver.current_url).query)
    assert query == {
        "models": ["base-quick-synthetic"],
        "depth": ["0.5,1"],
        "threshold": [f"{edges.DEFAULT_THRESHOLD:g}"],
    }


def test_a_link_restores_the_view_and_a_bad_one_says_why(dash_duo, analysed_app):
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + "/edges?models=shallow-quick-synthetic&depth=0,0.5&threshold=0.4")
    wait_until(lambda: plotted_runs(dash_duo) == ["shallow-quick-synthetic"])
    wait_until(lambda: drawn_nodes(dash_duo, "shallow-quick-synthetic") > 0)
    assert drawn_nodes(dash_duo, "base-quick-synthetic") == -1
    inputs = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(i => i.value);", f"#{edges.DEPTH_ID} input"
    )
    assert [float(v) for v in inputs if v] == [0, 0.5]
    dash_duo.driver.get(dash_duo.server_url + "/edges?models=nope&depth=upside,down&threshold=2")
    dash_duo.wait_for_contains_text(f"#{edges.PARAM_MESSAGE_ID}", "depth=upside,down")
    dash_duo.wait_for_contains_text(f"#{edges.PARAM_MESSAGE_ID}", "threshold=2")
    dash_duo.wait_for_contains_text(f"#{edges.LINK_MESSAGE_ID}", "nope")
    wait_until(lambda: plotted_runs(dash_duo) == sorted(QUICK_RUNS))
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_graph_exports_png_and_svg(dash_duo, analysed_app, fmt, magic):
    # One download per test: Chrome blocks a page's second automatic download.
    run = QUICK_RUNS[0]
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + f"/edges?models={run}")
    wait_until(lambda: drawn_nodes(dash_duo, run) > 0)
    button = json.dumps({"format": fmt, "run": run, "type": edges.EXPORT_TYPE}, separators=(",", ":"), sort_keys=True)
    dash_duo.driver.execute_script("document.getElementById(arguments[0]).click();", button)
    target = Path(dash_duo.download_path) / f"edges-{run}.{fmt}"
    wait_until(lambda: target.is_file() and target.stat().st_size > 0, timeout=15, message="nothing downloaded")
    assert magic in target.read_bytes()[:200]
    assert dash_duo.get_logs() == []
