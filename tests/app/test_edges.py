"""The edges page: its element and figure builders on hand-made data and the quick runs, then in headless Chromium."""

from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dash
import numpy as np
import pytest

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
import app.main  # noqa: F401 - imported for its side effect: the pages registered
from analysis.pipeline import NotAnalyzedError
from app import edges_view as view
from app import selection
from app.figures import edges as figures
from app.figures.common import FIGURE_FONT, MIN_FONT_SIZE
from app.pages import edges
from app.query import runs_value
from tests.app.helpers import font_sizes, text_of, wait_until

QUICK_RUNS = ("base-quick-synthetic", "shallow-quick-synthetic")

# selenium 4.2 calls a urllib3 method that urllib3 1.26 deprecates, once per WebDriver command.
pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


def toy_run(dead: list[list[int]] | None = None) -> view.RunEdges:
    """Three layers: conv1 (2 clusters), conv2 (1 cluster), fc1 (2 clusters); masses written by hand."""
    return view.RunEdges(
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
        cluster_dead=dead,
    )


# -- the query string ------------------------------------------------------------------------------
def test_parse_depths_threshold_and_cluster():
    assert view.parse_range({}) == (view.DEFAULT_DEPTHS, None)
    assert view.parse_range({"depths": "0.25,0.75"}) == ((0.25, 0.75), None)
    assert view.parse_range({"depths": ["0,1", "0.5, 1"]}) == ((0.5, 1.0), None)  # a repeated parameter: the last wins
    for bad in ("abc", "0.5", "0.8,0.2", "-1,1", "0,nan", "0,1,2"):
        value, problem = view.parse_range({"depths": bad})
        assert value == view.DEFAULT_DEPTHS and problem and f"depths={bad}" in problem
    assert view.parse_threshold(None) == (view.DEFAULT_THRESHOLD, None)
    assert view.parse_threshold("0.35") == (0.35, None)
    for bad in ("lots", "-0.1", "0.95", "inf"):
        value, problem = view.parse_threshold(bad)
        assert value == view.DEFAULT_THRESHOLD and f"threshold={bad}" in problem
    assert view.parse_cluster(None) == (None, None)
    assert view.parse_cluster("base+aug-demo:fc1:c2") == (view.ClusterChoice("base+aug-demo", "fc1", 2), None)
    assert view.parse_cluster("deep-demo:conv7:3").value == view.ClusterChoice("deep-demo", "conv7", 3)
    for bad in ("deep-demo", "deep-demo:fc1", "../x:fc1:c1", "deep-demo:f c1:c1", "deep-demo:fc1:cx", "a:b:-1"):
        value, problem = view.parse_cluster(bad)
        assert value is None and f"cluster={bad}" in problem


def test_older_links_still_open_the_view_they_named():
    # depth= was the range on this page before it meant one depth everywhere; models= was runs=.
    assert view.parse_range({"depth": "0,0.5"}) == ((0.0, 0.5), None)
    assert view.parse_range({"depth": "0.25"}) == ((0.25, 1.0), None)  # one depth: from it to the output
    assert view.parse_range({"depths": "0,1", "depth": "0.25"}) == ((0.0, 1.0), None)  # depths wins
    value, problem = view.parse_range({"depth": "upside,down"})
    assert value == view.DEFAULT_DEPTHS and "depth=upside,down" in problem
    value, problem = view.parse_range({"depth": "deep"})
    assert value == view.DEFAULT_DEPTHS and "depth=deep" in problem
    assert runs_value({"models": "a,b"}) == "a,b"


def test_edges_search_round_trips():
    cluster = view.ClusterChoice("deep-demo", "fc1", 2)
    search = view.edges_search(["base+aug-demo", "deep-demo"], (0.5, 1.0), 0.15, cluster)
    query = parse_qs(urlparse(search).query)
    assert set(query) == {"runs", "depths", "threshold", "cluster"}
    assert selection.split_names(query["runs"]) == ["base+aug-demo", "deep-demo"]
    assert query["depths"] == ["0.5,1"] and query["cluster"] == ["deep-demo:fc1:c2"]
    asked = view.parse_query({key: values[-1] for key, values in query.items()})
    assert asked == view.EdgesQuery((0.5, 1.0), 0.15, cluster, ())
    # a cluster of a run no longer shown is not written
    assert "cluster" not in parse_qs(urlparse(view.edges_search(["base+aug-demo"], (0, 1), 0.2, cluster)).query)


# -- the graph -------------------------------------------------------------------------------------
def nodes_of(parts: figures.GraphElements) -> dict[str, dict]:
    return {e["data"]["id"]: e for e in parts.elements if "source" not in e["data"]}


def edges_of(parts: figures.GraphElements) -> dict[str, dict]:
    return {e["data"]["id"]: e["data"] for e in parts.elements if "source" in e["data"]}


def test_graph_has_one_row_per_layer_and_labelled_cluster_nodes():
    parts = figures.graph_elements(toy_run(), (0, 1), threshold=0)
    nodes = nodes_of(parts)
    assert parts.layers == [0, 1, 2]
    assert nodes["L0c1"]["data"]["label"] == "conv1 · c1 (12)"
    assert {"run": "toy", "layer": 2, "cluster": 0, "neurons": 1}.items() <= nodes["L2c0"]["data"].items()
    # rows top → bottom from the input side; clusters left → right in id order
    assert nodes["L0c0"]["position"]["y"] < nodes["L1c0"]["position"]["y"] < nodes["L2c0"]["position"]["y"]
    assert nodes["L0c0"]["position"]["x"] < nodes["L0c1"]["position"]["x"]
    # size by neuron count: the largest cluster shown gets the tallest box
    heights = {k: n["data"]["height"] for k, n in nodes.items() if k.startswith("L")}
    assert heights["L0c1"] == figures.NODE_MAX_HEIGHT and heights["L2c0"] < heights["L0c0"] < heights["L0c1"]
    assert "80 % positive" in nodes["row1"]["data"]["label"] and nodes["row1"]["classes"] == "layer-label"
    assert figures.graph_elements(toy_run(), (0, 1), 0) == parts  # deterministic


def test_edges_are_green_and_red_with_width_normalised_per_layer_pair():
    found = edges_of(figures.graph_elements(toy_run(), (0, 1), threshold=0))
    # conv1 → conv2: heaviest is the positive 4.0; conv2 → fc1: heaviest is the negative 40
    assert found["e1-0-0-positive"]["width"] == figures.EDGE_MAX_WIDTH
    assert found["e2-0-1-negative"]["width"] == figures.EDGE_MAX_WIDTH
    assert found["e1-0-0-negative"]["width"] == pytest.approx(figures.edge_widths(np.array(2.0), 4.0))
    assert found["e1-0-0-positive"]["source"] == "L0c0" and found["e1-0-0-positive"]["target"] == "L1c0"
    assert {d["sign"] for d in found.values()} == {"positive", "negative"}
    assert "e2-0-1-positive" not in found  # no mass, no edge
    assert len(found) == 7


def test_threshold_and_depth_range_hide_edges_and_layers():
    parts = figures.graph_elements(toy_run(), (0, 1), threshold=0.2)
    kept = edges_of(parts)
    # 0.1 < 0.2·4 and 0.5 < 0.2·40 are hidden; 1.0, 2.0, 4.0, 10 and 40 stay
    assert set(kept) == {"e1-0-0-positive", "e1-1-0-positive", "e1-0-0-negative", "e2-0-0-positive", "e2-0-1-negative"}
    assert (parts.shown_edges, parts.hidden_edges) == (5, 2)
    upper = figures.graph_elements(toy_run(), (0.5, 1), threshold=0)
    assert upper.layers == [1, 2] and not any(e["target"].startswith("L1") for e in edges_of(upper).values())
    empty = figures.graph_elements(toy_run(), (0.6, 0.9), threshold=0)
    assert empty.layers == [] and empty.elements == [] and figures.graph_height(empty.width, empty.height) == 200


def test_graph_height_follows_the_drawing():
    assert figures.graph_height(1000, 500) > figures.graph_height(1000, 250)
    assert figures.graph_height(3000, 500) < figures.graph_height(1000, 500)  # a wide drawing is zoomed out


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
    figure = figures.fractions_figure([toy_run(), other], {"toy": "#111111", "other": "#222222"}, (0.5, 1), "toy data")
    assert len(figure.data) == 4
    toy = [t for t in figure.data if t.legendgroup == "toy"]
    assert {t.line.color for t in toy} == {"#111111"} and sum(t.showlegend for t in toy) == 1
    assert list(toy[0].x) == [0.0, 0.5, 1.0] and list(toy[0].y) == [0.5, 0.75, 0.25]
    assert list(toy[1].y) == [0.5, 0.8, 0.2]
    assert "fc1 ← conv2" in toy[0].customdata and "conv1 ← input" in toy[0].customdata
    halves = [s for s in figure.layout.shapes if s.type == "line" and s.y0 == 0.5 == s.y1]
    assert len(halves) == 2
    assert figure.layout.title.text == "Edge signs per layer" and figure.layout.yaxis.tickformat == ".0%"
    assert figure.layout.title.subtitle.text == "toy data"  # the dataset, on its own line clear of the modebar
    empty = figures.fractions_figure([], {}, (0.5, 1), "no data")
    assert "No analysed run" in empty.layout.annotations[-1].text
    assert min(font_sizes(figure)) >= MIN_FONT_SIZE and min(font_sizes(empty)) >= MIN_FONT_SIZE


def test_cluster_matrix_rows_follow_the_row_order():
    labels = np.array([1, 0, 1, 0, 1])
    order = np.array([1, 3, 4, 0, 2])
    assert view.cluster_rows(labels, order, 1) == [4, 0, 2]
    profiles = np.arange(15, dtype=float).reshape(5, 3) / 14
    figure = figures.cluster_matrix_figure(
        profiles,
        [4, 0, 2],
        ["cat", "dog", "ship"],
        "t",
        "toy data",
        duplicates=np.array([True, False, False, False, False]),
        dead=np.array([False, False, True, False, False]),
    )
    heatmap = figure.data[0]
    assert list(heatmap.y) == ["n4", "n0 ≈", "n2 dead"] and list(heatmap.x) == ["cat", "dog", "ship"]
    assert np.allclose(heatmap.z, profiles[[4, 0, 2]]) and heatmap.zmin == 0 and heatmap.zmax == 1
    assert heatmap.colorscale == figures.go.Heatmap(colorscale="Viridis").colorscale  # as on the Redundancy page
    subtitle = figure.layout.title.subtitle.text
    assert "≈ has a near-duplicate" in subtitle and "dead:" in subtitle
    centred = figures.cluster_matrix_figure(profiles - 0.5, [0, 1], ["a", "b", "c"], "t", "toy data")
    assert centred.data[0].zmin == -centred.data[0].zmax  # z-scores get a diverging scale around 0


@pytest.mark.parametrize("neurons", [1, 3, 40, 128, 400])
def test_cluster_matrix_is_readable_and_its_axis_title_clear_of_the_subtitle(neurons):
    profiles = np.random.default_rng(0).random((neurons, 10))
    figure = figures.cluster_matrix_figure(profiles, list(range(neurons)), [f"class {i}" for i in range(10)], "t", "d")
    assert min(font_sizes(figure)) >= MIN_FONT_SIZE
    layout = figure.layout
    plot_height = layout.height - layout.margin.t - layout.margin.b
    # The y-axis title is centred on the plot: it stays beside it (never up in the subtitle) when the plot is
    # taller than the title is long at the axis font.
    assert len(layout.yaxis.title.text) * FIGURE_FONT["size"] < plot_height
    assert layout.title.subtitle.text and layout.margin.t >= 90  # two title lines above the plot, under no modebar
    labelled = math.ceil(neurons / (layout.yaxis.dtick or 1))
    assert labelled * MIN_FONT_SIZE <= plot_height  # the labels shown fit at ≥ 12 px
    if layout.yaxis.dtick > 1:
        assert f"every {layout.yaxis.dtick}th neuron labelled" in layout.title.subtitle.text


def test_dead_clusters_are_drawn_and_named_dead():
    data = toy_run(dead=[[0, 12], [2], [0, 0]])
    parts = figures.graph_elements(data, (0, 1), threshold=0)
    nodes = nodes_of(parts)
    assert nodes["L0c1"]["data"]["label"] == "conv1 · c1 (12)\ndead" and nodes["L0c1"]["classes"] == "cluster dead"
    assert nodes["L1c0"]["data"]["label"] == "conv2 · c0 (8)\n2 dead" and nodes["L1c0"]["classes"] == "cluster"
    assert nodes["L0c0"]["data"]["label"] == "conv1 · c0 (4)" and nodes["L0c0"]["data"]["dead"] == 0
    assert nodes["L1c0"]["data"]["height"] >= figures.TWO_LINE_HEIGHT  # room for the second line
    assert parts.dead_clusters == 1
    styles = {rule["selector"]: rule["style"] for rule in figures.stylesheet()}
    assert styles["node.cluster.dead"]["border-style"] == "dashed"
    card = text_of(edges.run_graph_card(data, (0, 1), 0.2, "#1f77b4", "toy data"))
    assert "never fire on the test images" in card and "1 dead cluster shown" in card
    assert "dead cluster" not in text_of(edges.run_graph_card(toy_run(), (0, 1), 0.2, "#1f77b4", "toy data"))


def test_the_chosen_cluster_is_drawn_selected_and_the_labels_stay_readable():
    chosen = view.ClusterChoice("toy", "fc1", 1)
    nodes = nodes_of(figures.graph_elements(toy_run(), (0, 1), 0, chosen))
    assert [k for k, n in nodes.items() if n.get("selected")] == ["L2c1"]
    other_run = nodes_of(figures.graph_elements(toy_run(), (0, 1), 0, chosen._replace(run="other")))
    assert not any(n.get("selected") for n in other_run.values())
    # The widest row the analysis makes (max_clusters = 8) still draws its labels at ≥ 12 px on the screen.
    widest = 8 * (figures.NODE_WIDTH + figures.NODE_GAP) - figures.NODE_GAP + figures.LABEL_GAP + figures.LABEL_WIDTH
    assert figures.rendered_font_size(widest) >= MIN_FONT_SIZE


# -- on the quick runs -----------------------------------------------------------------------------
def test_load_run_edges_of_a_quick_run(analysed_source):
    data = view.load_run_edges(analysed_source, "base-quick-synthetic")
    n = len(data.layer_names)
    assert len(data.relative_depth) == len(data.fractions) == len(data.cluster_sizes) == n
    assert data.relative_depth[0] == 0 and data.relative_depth[-1] == 1
    assert set(data.positive) == set(range(1, n))
    for i in range(1, n):
        assert data.positive[i].shape == (len(data.cluster_sizes[i]), len(data.cluster_sizes[i - 1]))
    parts = figures.graph_elements(data, (0, 1), 0)
    assert parts.shown_edges > 0 and len(parts.layers) == n


def test_cluster_detail_of_a_quick_run(analysed_source):
    data = view.load_run_edges(analysed_source, "base-quick-synthetic")
    text = text_of(edges.cluster_detail(analysed_source, "base-quick-synthetic", 1, 0, "synthetic data"))
    assert "class-activation matrix" in text and f"{data.cluster_sizes[1][0]} neurons" in text
    by_name = text_of(edges.cluster_detail(analysed_source, "base-quick-synthetic", data.layer_names[1], 0, "s"))
    assert f"{data.cluster_sizes[1][0]} neurons" in by_name
    for layer, cluster in ((99, 0), ("conv99", 0), (1, 99)):
        with pytest.raises(ValueError):
            edges.cluster_detail(analysed_source, "base-quick-synthetic", layer, cluster, "x")


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


def detail_title(dash_duo, run: str) -> str:
    """The title of the cluster matrix drawn in ``run``'s detail area ('' while there is none)."""
    detail = json.dumps({"run": run, "type": edges.DETAIL_TYPE}, separators=(",", ":"), sort_keys=True)
    return dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]); const plot = el && el.querySelector('.js-plotly-plot');"
        "return plot && plot.layout && plot.layout.title ? plot.layout.title.text : '';",
        detail,
    )


def url_query(dash_duo) -> dict[str, list[str]]:
    return parse_qs(urlparse(dash_duo.driver.current_url).query)


def selected_nodes(dash_duo, run: str) -> list[str]:
    return dash_duo.driver.execute_script(
        _CY + "return cy ? cy.nodes(':selected').map(n => n.id()) : null;", cyto_dom_id(run)
    )


def test_page_loads_draws_the_graphs_and_a_click_shows_the_cluster(dash_duo, analysed_app, analysed_source):
    first, second = QUICK_RUNS
    layers = {run: view.load_run_edges(analysed_source, run).layer_names for run in QUICK_RUNS}
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + "/edges?depths=0,1")
    dash_duo.wait_for_contains_text(f"#{edges.BANNER_ID}", "synthetic")
    assert plotted_runs(dash_duo) == sorted(QUICK_RUNS)
    for run in QUICK_RUNS:
        wait_until(lambda run=run: drawn_nodes(dash_duo, run) > 0, message=f"no graph drawn for {run}")
    dash_duo.driver.execute_script(_CY + "cy.getElementById('L1c0').emit('tap');", cyto_dom_id(first))
    wait_until(lambda: "class-activation matrix" in detail_title(dash_duo, first), message="no cluster matrix shown")
    wait_until(lambda: url_query(dash_duo).get("cluster") == [f"{first}:{layers[first][1]}:c0"], message="no cluster=")
    # A click in another run's graph moves the matrix (and the link) there: one clicked cluster at a time.
    dash_duo.driver.execute_script(_CY + "cy.getElementById('L2c0').emit('tap');", cyto_dom_id(second))
    wait_until(lambda: "class-activation matrix" in detail_title(dash_duo, second), message="the matrix did not move")
    wait_until(lambda: url_query(dash_duo).get("cluster") == [f"{second}:{layers[second][2]}:c0"])
    assert detail_title(dash_duo, first) == ""
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_choosing_runs_redraws_and_writes_the_url(dash_duo, analysed_app):
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + "/edges")
    wait_until(lambda: plotted_runs(dash_duo) == sorted(QUICK_RUNS))
    labels = dash_duo.find_elements(f"#{edges.PICKER_ID} label")
    next(label for label in labels if label.text.strip() == "shallow-quick-synthetic").click()
    wait_until(lambda: plotted_runs(dash_duo) == ["base-quick-synthetic"], message="the chart did not change")
    wait_until(lambda: drawn_nodes(dash_duo, "shallow-quick-synthetic") == -1, message="the graph stayed")
    wait_until(lambda: "runs" in url_query(dash_duo), message="the URL was not written")
    assert url_query(dash_duo) == {
        "runs": ["base-quick-synthetic"],
        "depths": ["0.5,1"],
        "threshold": [f"{view.DEFAULT_THRESHOLD:g}"],
    }


def depth_inputs(dash_duo) -> list[float]:
    values = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(i => i.value);", f"#{edges.DEPTH_ID} input"
    )
    return [float(v) for v in values if v]


def test_a_link_restores_the_view_and_the_cluster_and_a_bad_one_says_why(dash_duo, analysed_app, analysed_source):
    run = "shallow-quick-synthetic"
    data = view.load_run_edges(analysed_source, run)
    layer = view.layers_in_range(data, (0, 0.5))[-1]
    cluster = f"{run}:{data.layer_names[layer]}:c0"
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + f"/edges?runs={run}&depths=0,0.5&threshold=0.4&cluster={cluster}")
    wait_until(lambda: plotted_runs(dash_duo) == [run])
    wait_until(lambda: drawn_nodes(dash_duo, run) > 0)
    assert drawn_nodes(dash_duo, "base-quick-synthetic") == -1
    assert depth_inputs(dash_duo) == [0, 0.5]
    wait_until(lambda: f"c0 of {data.layer_names[layer]}" in detail_title(dash_duo, run), message="no matrix")
    assert selected_nodes(dash_duo, run) == [f"L{layer}c0"]
    # A link made before runs= and depths= (models=, depth= as the range) opens the same view.
    dash_duo.driver.get(dash_duo.server_url + f"/edges?models={run}&depth=0,0.5&threshold=0.4")
    wait_until(lambda: plotted_runs(dash_duo) == [run])
    wait_until(lambda: drawn_nodes(dash_duo, run) > 0)
    assert depth_inputs(dash_duo) == [0, 0.5] and drawn_nodes(dash_duo, "base-quick-synthetic") == -1
    dash_duo.driver.get(dash_duo.server_url + "/edges?models=nope&depths=upside,down&threshold=2&cluster=x")
    dash_duo.wait_for_contains_text(f"#{edges.PARAM_MESSAGE_ID}", "depths=upside,down")
    dash_duo.wait_for_contains_text(f"#{edges.PARAM_MESSAGE_ID}", "threshold=2")
    dash_duo.wait_for_contains_text(f"#{edges.PARAM_MESSAGE_ID}", "cluster=x")
    dash_duo.wait_for_contains_text(f"#{edges.LINK_MESSAGE_ID}", "nope")
    wait_until(lambda: plotted_runs(dash_duo) == sorted(QUICK_RUNS))
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_graph_exports_png_and_svg(dash_duo, analysed_app, fmt, magic):
    # One download per test: Chrome blocks a page's second automatic download.
    run = QUICK_RUNS[0]
    dash_duo.start_server(analysed_app)
    dash_duo.driver.get(dash_duo.server_url + f"/edges?runs={run}")
    wait_until(lambda: drawn_nodes(dash_duo, run) > 0)
    button = json.dumps({"format": fmt, "run": run, "type": edges.EXPORT_TYPE}, separators=(",", ":"), sort_keys=True)
    dash_duo.driver.execute_script("document.getElementById(arguments[0]).click();", button)
    target = Path(dash_duo.download_path) / f"edges-{run}.{fmt}"
    wait_until(lambda: target.is_file() and target.stat().st_size > 0, timeout=15, message="nothing downloaded")
    assert magic in target.read_bytes()[:200]
    assert dash_duo.get_logs() == []
