"""The redundancy page: URL values, layer choice, edits and figures on the quick runs, then the page in Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dash
import numpy as np
import plotly.graph_objects as go
import pytest
from selenium.webdriver.common.keys import Keys

from analysis.statistics.cluster_edits import EditError
from analysis.statistics.dead_units import DEAD_WORDS
from app import redundancy_panels as panels
from app import redundancy_state as state_model
from app import redundancy_view as view_model
from app.analysis_access import analyzer as make_analyzer
from app.config import Settings
from app.figures import redundancy as figures
from app.images import png_data_url

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
from app.main import create_app
from app.pages import redundancy as page
from app.selection import read_runs
from tests.app.helpers import text_of, wait_until

BASE, SHALLOW = "base-quick-synthetic", "shallow-quick-synthetic"

# selenium 4.2 calls a urllib3 method that urllib3 1.26 deprecates, once per WebDriver command.
pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


@pytest.fixture(scope="module")
def settings(analysed_runs) -> Settings:
    runs_dir, cache_dir = analysed_runs
    return Settings(runs_dir=runs_dir, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def context(settings):
    """(runs, analyzer) as the callbacks see them."""
    return read_runs(settings.runs_dir), make_analyzer(settings)


@pytest.fixture
def quick_app(settings) -> dash.Dash:
    return create_app(settings)


def editable_layer(analyzer, run: str) -> tuple[int, str]:
    """A layer of ``run`` with at least two clusters (to merge), as (index, name)."""
    clusters = analyzer.clusters(run)
    for index, name in enumerate(clusters["layer_names"]):
        if clusters["metrics"][index]["n_clusters"] >= 2:
            return index, name
    pytest.skip(f"{run} has no layer with two clusters")


@pytest.fixture
def not_analysed_runs_dir(analysed_runs, tmp_path) -> Path:
    """The quick runs plus ``fresh-quick-synthetic``: other weights, so nothing of it is in the cache."""
    runs_dir, _ = analysed_runs
    runs = shutil.copytree(runs_dir, tmp_path / "runs")
    shutil.copytree(runs / BASE, runs / "fresh-quick-synthetic")
    with open(runs / "fresh-quick-synthetic" / "model.pt", "ab") as weights:
        weights.write(b"\0")  # a different content hash: a checkpoint never analysed
    return runs


# -- the URL's values ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected", [("0.5", 0.5), ("0", 0.0), ("1", 1.0), (" 0.25 ", 0.25), (["0.1", "0.3"], 0.3)]
)
def test_depth_values(value, expected, context):
    runs, analyzer = context
    state, _, problems = state_model.initial_state({"depth": value}, runs, analyzer)
    assert state["depth"] == expected and not problems


@pytest.mark.parametrize("value", ["", "abc", "-0.1", "1.01", "nan", "inf", "1e-1"])
def test_bad_depth_values_are_refused(value, context):
    runs, analyzer = context
    state, _, problems = state_model.initial_state({"depth": value}, runs, analyzer)
    assert state["depth"] == view_model.DEFAULT_DEPTH
    assert len(problems) == 1 and problems[0].startswith("depth=") and "from 0 to 1" in problems[0]


def test_edits_value_round_trips():
    edits = {BASE: ("conv3", "m2.1-s0"), SHALLOW: ("fc1", "j1.0")}
    text = view_model.format_edits_value(edits)
    assert text == f"{BASE}:conv3:m2.1-s0~{SHALLOW}:fc1:j1.0"
    assert view_model.parse_edits_value(text) == edits
    assert view_model.parse_edits_value("") == {}


@pytest.mark.parametrize(
    "value",
    [
        "base:conv3",
        "base:conv3:m2.1:x",
        "../x:conv3:s0",
        "a:conv3:s0~a:conv4:s0",
        "a:conv3:",
        "a:conv3:q1",
        ["a:c:s0", "a:c:s1"],
        "a:c:" + "s0-" * 700 + "s0",
    ],
)
def test_bad_edits_values_are_refused(value):
    with pytest.raises(EditError):
        view_model.parse_edits_value(value)


def test_state_search_holds_the_whole_view():
    state = {
        "runs": [BASE, SHALLOW],
        "depth": 0.25,
        "layer": None,
        "view": "mosaic",
        "edits": {BASE: ["conv3", "j1.0"]},
    }
    query = parse_qs(urlparse(view_model.state_search(state)).query)
    assert query == {
        "runs": [f"{BASE},{SHALLOW}"],
        "depth": ["0.25"],
        "view": ["mosaic"],
        "edits": [f"{BASE}:conv3:j1.0"],
    }
    one = parse_qs(urlparse(view_model.state_search({**state, "layer": "fc1", "edits": {}})).query)
    assert one["layer"] == ["fc1"] and "depth" not in one and "edits" not in one


def test_nearest_layer_snaps_to_the_closest_depth_shallower_on_a_tie():
    depths = [0.0, 0.25, 0.5, 1.0]
    assert view_model.nearest_layer(depths, 0.3) == 1
    assert view_model.nearest_layer(depths, 0.375) == 1
    assert view_model.nearest_layer(depths, 0.9) == 3


# -- state from a link -----------------------------------------------------------------------------
def test_a_plain_link_shows_every_run_at_mid_depth(context):
    runs, analyzer = context
    state, selection, problems = state_model.initial_state({}, runs, analyzer)
    assert state == {
        "runs": [BASE, SHALLOW],
        "depth": view_model.DEFAULT_DEPTH,
        "layer": None,
        "edits": {},
        "view": "matrix",
    }
    assert not problems and not selection.refused
    shown = view_model.resolve(state, runs, analyzer)
    for item in shown:  # each run took its layer nearest depth 0.5
        assert item.layer == item.layers.names[view_model.nearest_layer(item.layers.depths, 0.5)]


def test_bad_values_of_a_link_are_named_and_replaced(context):
    runs, analyzer = context
    state, _, problems = state_model.initial_state(
        {"depth": "2", "view": "table", "layer": "conv1", "edits": "nonsense"}, runs, analyzer
    )
    assert state["depth"] == view_model.DEFAULT_DEPTH and state["view"] == "matrix" and state["layer"] is None
    assert state["edits"] == {}
    text = " ".join(problems)
    assert "depth=2 " in text and "view=table " in text and "with 2 runs" in text and "edits" in text


def test_a_layer_by_name_for_one_run(context):
    runs, analyzer = context
    index, name = editable_layer(analyzer, SHALLOW)
    state, _, problems = state_model.initial_state({"runs": SHALLOW, "layer": name}, runs, analyzer)
    assert not problems and state["layer"] == name
    (item,) = view_model.resolve(state, runs, analyzer)
    assert item.index == index
    _, _, problems = state_model.initial_state({"runs": SHALLOW, "layer": "conv99"}, runs, analyzer)
    assert "layer=conv99" in problems[0] and "no such layer" in problems[0]
    # the older spelling of the runs key still opens the same view
    old, _, _ = state_model.initial_state({"models": SHALLOW, "layer": name}, runs, analyzer)
    assert old == state


def test_edits_of_a_link_apply_or_are_ignored_whole(context):
    runs, analyzer = context
    _, name = editable_layer(analyzer, BASE)
    good = {"runs": BASE, "layer": name, "edits": f"{BASE}:{name}:j1.0"}
    state, _, problems = state_model.initial_state(good, runs, analyzer)
    assert not problems and state["edits"] == {BASE: [name, "j1.0"]}
    for bad, why in (
        (f"{BASE}:{name}:j99.0", "no cluster C99"),
        (f"{BASE}:other:j1.0", "shows its layer"),
        (f"{SHALLOW}:{name}:j1.0", "not shown"),
    ):
        state, _, problems = state_model.initial_state({**good, "edits": bad}, runs, analyzer)
        assert state["edits"] == {} and why in problems[0], problems


# -- the layer view and its edits ------------------------------------------------------------------
def test_edited_view_follows_the_edit_log(context):
    runs, analyzer = context
    index, _ = editable_layer(analyzer, BASE)
    plain = view_model.layer_view(analyzer, BASE, index)
    clusters = analyzer.clusters(BASE)
    assert np.array_equal(plain.labels, clusters[f"labels/{index}"]) and plain.metrics == clusters["metrics"][index]
    assert plain.cluster_ids == tuple(range(plain.n_clusters))  # the analysis numbers from the top
    merged = view_model.layer_view(analyzer, BASE, index, "j1.0")
    assert merged.n_clusters == plain.n_clusters - 1 == merged.metrics["n_clusters"]
    assert 1 not in merged.cluster_ids and set(merged.cluster_ids) == set(plain.cluster_ids) - {1}  # ids kept
    assert merged.steps == ("merged C1 into C0",)
    along = merged.labels[merged.row_order]
    assert np.count_nonzero(np.diff(along)) == merged.n_clusters - 1  # each cluster one block
    assert sorted(merged.row_order.tolist()) == list(range(len(along)))
    # only the cluster-dependent metrics change
    assert merged.metrics["near_duplicate_fraction"] == pytest.approx(plain.metrics["near_duplicate_fraction"])
    with pytest.raises(EditError):
        view_model.layer_view(analyzer, BASE, index, f"m{len(along)}.0")


def test_moving_a_neuron_to_a_new_cluster_keeps_every_other_label(context):
    _, analyzer = context
    index, _ = editable_layer(analyzer, BASE)
    plain = view_model.layer_view(analyzer, BASE, index)
    largest = max(plain.cluster_ids, key=lambda c: len(plain.members(c)))
    neuron = plain.members(largest)[0]
    moved = view_model.layer_view(analyzer, BASE, index, f"m{neuron}.{plain.next_id}")
    assert moved.labels[neuron] == plain.next_id and moved.next_id == plain.next_id + 1
    others = np.arange(len(plain.labels)) != neuron
    assert np.array_equal(moved.labels[others], plain.labels[others])
    assert moved.steps == (f"moved neuron {neuron} from C{largest} to new cluster C{plain.next_id}",)
    figure = figures.cluster_matrix_figure(moved, figures.ColourScale(0, 1, "Viridis"))
    labels = [a.text for a in figure.layout.annotations]
    assert f"C{plain.next_id}" in labels and len(labels) == moved.n_clusters  # the one-row cluster is labelled


def test_mosaics_of_edited_clusters_are_the_pipelines_for_unedited_ones(context):
    _, analyzer = context
    index, _ = editable_layer(analyzer, BASE)
    view = view_model.layer_view(analyzer, BASE, index)
    living = [c for c in (0, 1) if c not in view.dead_clusters and not view.dead[view.members(c)].any()]
    if not living:
        pytest.skip("C0 and C1 hold dead neurons")
    mosaics = view_model.cluster_mosaics(analyzer, view, living)
    assert np.array_equal(mosaics[living[0]], analyzer.cluster_mosaic(BASE, index, living[0]))
    merged = view_model.layer_view(analyzer, BASE, index, "j1.0")
    tiles = sum(len(view.members(c)) for c in (0, 1))
    assert (
        view_model.cluster_mosaics(analyzer, merged, [0])[0].shape[0]
        >= 16 * int(np.ceil(tiles / np.ceil(np.sqrt(tiles))))
        or merged.dead.any()
    )
    assert png_data_url(mosaics[living[0]]).startswith("data:image/png;base64,")


def test_dead_neurons_get_no_tile_and_a_dead_cluster_no_mosaic(context):
    _, analyzer = context
    index, _ = editable_layer(analyzer, BASE)
    view = view_model.layer_view(analyzer, BASE, index)
    dead = np.zeros_like(view.dead)
    first = view.cluster_ids[0]
    dead[view.members(first)] = True  # as if the whole first cluster never fired
    edited = view._replace(dead=dead)
    assert edited.dead_clusters == {first}
    assert first not in view_model.cluster_mosaics(analyzer, edited, [first])


# -- figures ---------------------------------------------------------------------------------------
def small_view(**changes) -> view_model.LayerView:
    """4 neurons × 3 classes in two clusters: C0 = neurons 2, 0; C1 = neurons 1, 3; neuron 3 a near-duplicate."""
    values = dict(
        run="r",
        layer="conv2",
        index=1,
        depth=0.5,
        class_names=("cat", "dog", "ship"),
        profiles=np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.2], [0.9, 0.1, 0.4], [0.0, 0.8, 0.3]]),
        labels=np.array([0, 1, 0, 1]),
        row_order=np.array([2, 0, 1, 3]),
        cluster_ids=(0, 1),
        next_id=2,
        steps=(),
        duplicates=np.array([False, False, False, True]),
        dead=np.zeros(4, dtype=bool),
        metrics={},
        edits="",
    )
    return view_model.LayerView(**{**values, **changes})


def font_sizes(figure: go.Figure) -> list[float]:
    """Every font size set in a figure's layout (tick, title, annotation, colour bar and legend fonts)."""
    sizes: list[float] = []

    def walk(value, key: str = "") -> None:
        if isinstance(value, dict):
            if key.endswith("font") and isinstance(value.get("size"), (int, float)):
                sizes.append(value["size"])
            for name, item in value.items():
                walk(item, name)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, key)

    walk(figure.to_plotly_json()["layout"])
    return sizes


def test_matrix_figure_has_one_block_per_cluster_in_row_order():
    scale = figures.ColourScale(0.0, 2.0, "Viridis")
    figure = figures.cluster_matrix_figure(small_view(), scale)
    matrices = [t for t in figure.data if isinstance(t, go.Heatmap) and t.coloraxis]
    markers = [t for t in figure.data if isinstance(t, go.Heatmap) and not t.coloraxis]
    assert len(matrices) == len(markers) == 2
    assert list(matrices[0].x) == ["cat", "dog", "ship"]  # one class order in every block
    assert list(matrices[0].y) == ["2", "0"] and list(markers[0].y) == ["2", "0"]  # rows named by neuron
    assert list(matrices[1].y) == ["1", "3"] and [row[0][0] for row in matrices[1].customdata] == [1, 1]
    assert np.allclose(matrices[0].z, [[0.9, 0.1, 0.4], [1.0, 0.0, 0.5]])
    assert [m[0] for m in markers[1].z] == [None, 1.0]  # neuron 3 is marked as a near-duplicate
    assert "neuron %{y}" in matrices[0].hovertemplate and "class %{x}" in matrices[0].hovertemplate
    assert figure.layout.coloraxis.cmin == 0.0 and figure.layout.coloraxis.cmax == 2.0
    assert {a.text for a in figure.layout.annotations} >= {"C0", "C1"}
    assert figure.layout.title.text == "r" and figure.layout.title.subtitle.text == "conv2"


def test_labels_follow_their_clusters_not_their_places():
    """Stable ids: C5 drawn above C0 keeps its name, and each block's label names its own neurons."""
    view = small_view(labels=np.array([0, 5, 0, 5]), row_order=np.array([1, 3, 2, 0]), cluster_ids=(5, 0))
    figure = figures.cluster_matrix_figure(view, figures.ColourScale(0, 1, "Viridis"))
    matrices = [t for t in figure.data if isinstance(t, go.Heatmap) and t.coloraxis]
    assert [t.name for t in matrices] == ["C5", "C0"] and list(matrices[0].y) == ["1", "3"]
    labels = [a.text for a in figure.layout.annotations]
    assert labels == ["C5", "C0"]
    # a one-row cluster still gets its label (its block is at least MIN_BLOCK_PX tall)
    single = small_view(labels=np.array([0, 1, 0, 2]), cluster_ids=(0, 1, 2), next_id=3)
    drawn = figures.cluster_matrix_figure(single, figures.ColourScale(0, 1, "Viridis"))
    assert [a.text for a in drawn.layout.annotations] == ["C0", "C1", "C2"]
    assert min(figures.block_heights(single, (), 200)) >= figures.MIN_BLOCK_PX


def test_no_text_in_the_matrix_or_the_chart_is_under_12_px():
    matrix = figures.cluster_matrix_figure(small_view(), figures.ColourScale(0, 1, "Viridis"))
    series = [view_model.RunMetrics("a", ("c1", "c2"), (0.0, 1.0), ({}, {}), 1)]
    chart = figures.metrics_figure(series, {"a": "#111111"}, 0.5, "synthetic")
    for figure in (matrix, chart):
        sizes = font_sizes(figure)
        assert sizes and min(sizes) >= 12, sizes
    layout = matrix.layout
    assert layout.xaxis.tickfont.size >= 12 and layout.xaxis2.tickfont.size >= 12  # class names and the ≈ column
    assert layout.title.font.size >= 12 and layout.title.subtitle.font.size >= 12
    assert layout.coloraxis.colorbar.tickfont.size >= 12


def test_dead_clusters_say_so_in_words_in_the_matrix_and_the_mosaic():
    dead = np.array([False, True, False, True])  # C1 (neurons 1, 3) never fires
    view = small_view(dead=dead)
    scale = figures.ColourScale(0, 1, "Viridis")
    matrix = figures.cluster_matrix_figure(view, scale)
    assert [a.text for a in matrix.layout.annotations] == ["C0", "C1 dead"]
    c1 = [t for t in matrix.data if isinstance(t, go.Heatmap) and t.coloraxis][1]
    assert DEAD_WORDS in c1.customdata[0][0][1]  # and on hover, per neuron
    uri = png_data_url(np.zeros((16, 32, 3), dtype=np.uint8))
    mosaic = figures.cluster_matrix_figure(view, scale, features=[0, 1], mosaics={0: uri})
    assert len([t for t in mosaic.data if isinstance(t, go.Image)]) == 1  # C0's tiles only
    notes = " ".join(a.text for a in mosaic.layout.annotations).replace("<br>", " ")
    assert "2 neurons dead: never active on the test images" in notes


def test_a_cluster_switched_to_features_shows_its_mosaic():
    uri = png_data_url(np.zeros((16, 32, 3), dtype=np.uint8))
    scale = figures.ColourScale(0, 1, "Viridis")
    figure = figures.cluster_matrix_figure(small_view(), scale, features=[1], mosaics={1: uri})
    images = [t for t in figure.data if isinstance(t, go.Image)]
    assert len(images) == 1 and images[0].source == uri
    assert len([t for t in figure.data if isinstance(t, go.Heatmap)]) == 2  # C0's matrix and marker column
    # a switch without a mosaic (features unavailable) keeps the matrix
    fallback = figures.cluster_matrix_figure(small_view(), scale, features=[1], mosaics={})
    assert not [t for t in fallback.data if isinstance(t, go.Image)]


def test_one_colour_scale_for_every_run():
    a, b = small_view(), small_view(profiles=small_view().profiles * 3)
    assert figures.colour_scale([a, b]) == figures.ColourScale(0.0, 3.0, "Viridis")
    signed = figures.colour_scale([a, small_view(profiles=-small_view().profiles * 2)])
    assert signed == figures.ColourScale(-2.0, 2.0, "RdBu_r")


def test_metrics_figure_one_line_per_run_and_metric_in_run_colours():
    series = [
        view_model.RunMetrics(
            "a", ("c1", "c2"), (0.0, 1.0), ({"near_duplicate_fraction": 0.5}, {"near_duplicate_fraction": 0.1}), 1
        ),
        view_model.RunMetrics(
            "b", ("c1", "c2", "c3"), (0.0, 0.5, 1.0), ({}, {}, {"normalized_effective_rank": 0.3}), 0, 2
        ),
    ]
    figure = figures.metrics_figure(series, {"a": "#111111", "b": "#222222"}, 0.5, "synthetic", most_redundant="a")
    lines = [t for t in figure.data if t.mode == "lines+markers"]
    assert len(lines) == 2 * len(figures.METRICS)
    assert {t.line.color for t in lines if t.legendgroup == "a"} == {"#111111"}
    assert list(lines[0].x) == [0.0, 1.0] and list(lines[0].y) == [0.5, 0.1]
    assert lines[0].name == "a · most redundant" and lines[0].line.width > lines[-1].line.width
    edited = [t for t in figure.data if t.marker.symbol == "diamond-open"]
    assert len(edited) == len(figures.METRICS) and all(list(t.x) == [1.0] for t in edited)
    assert "synthetic" in figure.layout.title.text
    empty = figures.metrics_figure([], {}, None, "no data")
    assert "No analysed run" in empty.layout.annotations[-1].text


def test_the_most_redundant_run_has_the_most_near_duplicates():
    a = small_view(run="a", metrics={"near_duplicate_fraction": 0.2, "effective_rank": 2.0})
    b = small_view(run="b", metrics={"near_duplicate_fraction": 0.6, "effective_rank": 2.5})
    c = small_view(run="c", metrics={"near_duplicate_fraction": 0.6, "effective_rank": 1.5})
    assert view_model.most_redundant([a, b, c]) == "c"  # a tie goes to the lower effective rank
    assert view_model.most_redundant([a]) is None
    numbers = view_model.card_numbers(b)
    assert (numbers.near_duplicate_fraction, numbers.effective_rank, numbers.n_clusters) == (0.6, 2.5, 2)
    text = text_of(panels.numbers_block("b", numbers))
    assert "60%" in text and "near-duplicates" in text and "2.5" in text and "effective rank (of 3)" in text


def test_parts_of_the_quick_runs_share_colour_scale_and_list_edit_runs(context):
    runs, analyzer = context
    state, _, _ = state_model.initial_state({"view": "mosaic"}, runs, analyzer)
    parts = page.redundancy_parts(state, runs, analyzer)
    text = text_of(parts.panels)
    assert BASE in text and SHALLOW in text and '"type": "image"' in text  # every cluster as its mosaic
    assert [o["value"] for o in parts.edit_runs] == [BASE, SHALLOW]
    assert len([t for t in parts.metrics.data if t.mode == "lines+markers"]) == 2 * len(figures.METRICS)
    assert text.count(panels.NUMBERS_TYPE) == 2 and "near-duplicates" in text and "most redundant" in text


# -- changing the state ----------------------------------------------------------------------------
def test_controls_change_the_state(context):
    runs, analyzer = context
    index, name = editable_layer(analyzer, BASE)
    state = {"runs": [BASE], "depth": 0.5, "layer": None, "edits": {}, "view": "matrix"}
    form = state_model.EditForm
    state, _, _ = state_model.next_state(state, "layer", name, form(), runs, analyzer)
    assert state["layer"] == name and view_model.resolve(state, runs, analyzer)[0].index == index

    merged, text, kind = state_model.next_state(
        state, "merge", None, form(BASE, merge_from=1, merge_into=0), runs, analyzer
    )
    assert kind == "success" and "merged C1 into C0" in text and merged["edits"] == {BASE: [name, "j1.0"]}
    same, text, kind = state_model.next_state(
        merged, "split", None, form(BASE, split_cluster=99, split_parts=2), runs, analyzer
    )
    assert kind == "danger" and "no cluster C99" in text and same == merged
    _, text, kind = state_model.next_state(merged, "move", None, form(BASE, neuron=None, move_to=0), runs, analyzer)
    assert kind == "danger" and "choose a neuron" in text

    both, _, _ = state_model.next_state(merged, "runs", [SHALLOW, BASE, "ghost"], form(), runs, analyzer)
    assert both["runs"] == [BASE, SHALLOW] and both["layer"] is None  # an explicit layer belongs to one run
    moved, text, kind = state_model.next_state(both, "depth", 1.0, form(), runs, analyzer)
    if view_model.resolve(moved, runs, analyzer)[0].layer != name:
        assert moved["edits"] == {} and kind == "warning" and BASE in text
    reset, text, _ = state_model.next_state(merged, "reset", None, form(), runs, analyzer)
    assert reset["edits"] == {} and "cleared" in text
    # the layer dropdown cleared when its options changed: nothing to change
    assert state_model.next_state(both, "layer", None, form(), runs, analyzer)[0] is None


def test_a_new_cluster_then_undo_names_what_happened(context):
    runs, analyzer = context
    index, name = editable_layer(analyzer, BASE)
    state = {"runs": [BASE], "depth": 0.5, "layer": name, "edits": {}, "view": "matrix"}
    plain = view_model.layer_view(analyzer, BASE, index)
    source = max(plain.cluster_ids, key=lambda c: len(plain.members(c)))
    neuron = plain.members(source)[-1]
    form = state_model.EditForm(BASE, neuron=neuron, move_to=plain.next_id)
    moved, text, kind = state_model.next_state(state, "move", None, form, runs, analyzer)
    assert kind == "success" and f"moved neuron {neuron} from C{source} to new cluster C{plain.next_id}" in text
    merged, _, _ = state_model.next_state(
        moved, "merge", None, state_model.EditForm(BASE, merge_from=plain.next_id, merge_into=0), runs, analyzer
    )
    assert merged["edits"][BASE][1] == f"m{neuron}.{plain.next_id}-j{plain.next_id}.0"
    undone, text, kind = state_model.next_state(merged, "undo", None, state_model.EditForm(BASE), runs, analyzer)
    assert kind == "success" and f"undid “merged C{plain.next_id} into C0”" in text
    assert undone["edits"] == moved["edits"]
    empty, _, _ = state_model.next_state(undone, "undo", None, state_model.EditForm(BASE), runs, analyzer)
    assert empty["edits"] == {}
    _, text, kind = state_model.next_state(empty, "undo", None, state_model.EditForm(BASE), runs, analyzer)
    assert kind == "danger" and "no edit to undo" in text


def test_edit_form_offers_the_clusters_of_the_edited_layer(context):
    runs, analyzer = context
    _, name = editable_layer(analyzer, BASE)
    state = {"runs": [BASE], "depth": 0.5, "layer": name, "edits": {}, "view": "matrix"}
    options = state_model.edit_options(state, BASE, runs, analyzer)
    view = view_model.layer_view(analyzer, BASE, view_model.resolve(state, runs, analyzer)[0].index)
    assert [o["value"] for o in options.clusters] == sorted(view.cluster_ids)
    assert options.move_to[-1] == {"label": f"new cluster C{view.next_id}", "value": view.next_id}
    assert options.neuron_max == len(view.row_order) - 1
    merged = {**state, "edits": {BASE: [name, "j1.0"]}}
    after = state_model.edit_options(merged, BASE, runs, analyzer)
    assert 1 not in [o["value"] for o in after.clusters] and after.move_to[-1]["value"] == view.next_id
    assert state_model.edit_options(state, None, runs, analyzer).clusters == []


# -- the page function, inside an app ----------------------------------------------------------------
def render(app: dash.Dash, **query) -> str:
    with app.server.app_context():
        return text_of(page.layout(**query))


def test_layout_with_bad_values_shows_the_message_not_an_exception(quick_app):
    text = render(quick_app, runs="../../etc/passwd", depth="deep", view="3d", edits="x", unknown="1")
    assert page.QUERY_MESSAGE_ID in text and page.LINK_MESSAGE_ID in text and "depth=deep " in text
    assert BASE in text and SHALLOW in text


def test_a_run_not_analysed_says_how_and_links_to_jobs_while_others_render(not_analysed_runs_dir, analysed_runs):
    app = create_app(Settings(runs_dir=not_analysed_runs_dir, cache_dir=analysed_runs[1]))
    text = render(app)
    assert "Not analysed yet" in text and "python -m analysis analyze --run fresh-quick-synthetic" in text
    assert '"/jobs?runs=fresh-quick-synthetic"' in text  # the Jobs page opens with that run ticked
    assert text.count(panels.MATRIX_TYPE) >= 2  # the analysed runs still have their matrices


def test_layout_survives_a_failure(quick_app, monkeypatch):
    import app.page

    monkeypatch.setattr(app.page, "read_runs", lambda _d: (_ for _ in ()).throw(RuntimeError("disk on fire")))
    assert "redundancy-error" in render(quick_app)


def test_empty_runs_folder(tmp_path):
    app = create_app(Settings(runs_dir=tmp_path / "none", cache_dir=tmp_path / "c"))
    assert "No runs to compare yet" in render(app)


# -- in the browser --------------------------------------------------------------------------------
def panel_header(dash_duo, run: str) -> str:
    selector = f"#{page.PANELS_ID} .card-header"
    for header in dash_duo.find_elements(selector):
        if run in header.text:
            return header.text
    return ""


def click(dash_duo, element) -> None:
    """Scroll ``element`` to the middle at once and click it (Bootstrap scrolls smoothly: clicks land mid-scroll)."""
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def choose(dash_duo, selector: str, index: int) -> None:
    """Pick the option ``index`` of a dcc.Dropdown (clicked by script: the open menu's search box may cover it)."""
    click(dash_duo, dash_duo.find_element(selector))
    dash_duo.wait_for_element(".dash-dropdown-options .dash-dropdown-option")
    option = dash_duo.find_elements(".dash-dropdown-options .dash-dropdown-option")[index]
    dash_duo.driver.execute_script("arguments[0].click()", option)
    if dash_duo.find_elements(".dash-dropdown-options"):  # an open menu would cover the next control
        dash_duo.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_until(lambda: not dash_duo.find_elements(".dash-dropdown-options"), timeout=5, message="the menu to close")


def query_of(dash_duo) -> dict[str, list[str]]:
    return parse_qs(urlparse(dash_duo.driver.current_url).query)


def test_page_loads_with_the_quick_runs(dash_duo, quick_app):
    dash_duo.start_server(quick_app)
    dash_duo.driver.get(dash_duo.server_url + "/redundancy")
    dash_duo.wait_for_contains_text(f"#{page.BANNER_ID}", "synthetic")
    dash_duo.wait_for_element(f"#{page.METRICS_ID} .js-plotly-plot")
    wait_until(lambda: len(dash_duo.find_elements(f"#{page.PANELS_ID} .js-plotly-plot")) == 2, message="2 matrices")
    assert "depth" in panel_header(dash_duo, BASE) and "clusters" in panel_header(dash_duo, SHALLOW)
    # the export buttons find the matrix by the DOM id Dash gives its pattern-matching id
    dom_id = panels.pattern_dom_id({"type": panels.MATRIX_TYPE, "run": BASE})
    assert dash_duo.driver.execute_script("return !!document.getElementById(arguments[0])", dom_id)
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_depth_and_runs_change_the_matrices_and_the_url(dash_duo, quick_app, context):
    runs, analyzer = context
    layers = view_model.run_layers(analyzer, BASE)
    dash_duo.start_server(quick_app)
    dash_duo.driver.get(dash_duo.server_url + f"/redundancy?runs={BASE}&depth=0")
    wait_until(lambda: f"{layers.names[0]} ·" in panel_header(dash_duo, BASE), message="the first layer")
    dash_duo.find_element(f"#{page.DEPTH_ID} [role=slider]").send_keys(Keys.END)  # the slider to depth 1
    wait_until(lambda: f"{layers.names[-1]} ·" in panel_header(dash_duo, BASE), message="the last layer")
    wait_until(lambda: query_of(dash_duo).get("depth") == ["1"], message="depth in the URL")
    # one run: the layer can be chosen by name
    choose(dash_duo, f"#{page.LAYER_ID}", 1)
    wait_until(lambda: f"{layers.names[1]} ·" in panel_header(dash_duo, BASE), message="layer by name")
    wait_until(lambda: query_of(dash_duo).get("layer") == [layers.names[1]], message="layer in the URL")
    # adding a run adds its panel
    for label in dash_duo.find_elements(f"#{page.PICKER_ID} label"):
        if label.text == SHALLOW:
            click(dash_duo, label)
    wait_until(lambda: len(dash_duo.find_elements(f"#{page.PANELS_ID} .js-plotly-plot")) == 2, message="2 panels")
    assert query_of(dash_duo)["runs"] == [f"{BASE},{SHALLOW}"]
    assert dash_duo.get_logs() == []


def test_a_link_restores_layer_view_and_edits(dash_duo, quick_app, context):
    _, analyzer = context
    _, name = editable_layer(analyzer, BASE)
    dash_duo.start_server(quick_app)
    dash_duo.driver.get(
        dash_duo.server_url + f"/redundancy?runs={BASE}&layer={name}&view=mosaic&edits={BASE}:{name}:j1.0"
    )
    wait_until(lambda: "edited (1)" in panel_header(dash_duo, BASE), message="the edited badge")
    assert f"{name} ·" in panel_header(dash_duo, BASE)
    assert "merged C1 into C0" in dash_duo.find_element(f"#{panels.EDITS_LIST_ID}").text
    checked = dash_duo.driver.execute_script(f"return document.querySelector('#{page.VIEW_ID} input:checked').value")
    assert checked == "mosaic"
    wait_until(
        lambda: (
            dash_duo.driver.execute_script(
                f"return document.querySelectorAll('#{page.PANELS_ID} .js-plotly-plot .imagelayer image').length"
            )
            > 0
        ),
        message="a learned-features mosaic",
    )
    # switching one cluster back to its matrix redraws that run's figure
    click(dash_duo, dash_duo.find_elements(f"#{page.PANELS_ID} input[type=checkbox]")[0])
    wait_until(
        lambda: (
            dash_duo.driver.execute_script(
                f"return document.querySelectorAll('#{page.PANELS_ID} .js-plotly-plot .heatmaplayer image').length"
            )
            > 0
        ),
        message="the matrix of C0",
    )
    assert dash_duo.get_logs() == []


def test_edit_buttons_merge_then_reset(dash_duo, quick_app, context):
    _, analyzer = context
    _, name = editable_layer(analyzer, BASE)
    dash_duo.start_server(quick_app)
    dash_duo.driver.get(dash_duo.server_url + f"/redundancy?runs={BASE}&layer={name}")
    dash_duo.wait_for_contains_text(f"#{panels.EDIT_HINT_ID}", name)
    # clicking a cell of the matrix picks its neuron for the move form
    cell = dash_duo.find_elements(f"#{page.PANELS_ID} .js-plotly-plot .nsewdrag")[0]
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", cell)
    dash_duo.click_at_coord_fractions(cell, 0.3, 0.5)
    wait_until(lambda: dash_duo.find_element(f"#{panels.NEURON_ID}").get_attribute("value") != "", message="a neuron")
    choose(dash_duo, f"#{panels.MERGE_FROM_ID}", 1)
    choose(dash_duo, f"#{panels.MERGE_INTO_ID}", 0)
    click(dash_duo, dash_duo.find_element(f"#{panels.MERGE_ID}"))
    dash_duo.wait_for_contains_text(f"#{panels.FEEDBACK_ID}", "merged C1 into C0")
    wait_until(lambda: "edited (1)" in panel_header(dash_duo, BASE), message="the edited badge")
    wait_until(lambda: query_of(dash_duo).get("edits") == [f"{BASE}:{name}:j1.0"], message="edits in the URL")
    click(dash_duo, dash_duo.find_element(f"#{panels.RESET_ID}"))
    wait_until(lambda: "edited" not in panel_header(dash_duo, BASE), message="edits reset")
    wait_until(lambda: "edits" not in query_of(dash_duo), message="edits gone from the URL")
    assert dash_duo.get_logs() == []


def test_a_bad_link_shows_the_message(dash_duo, quick_app):
    dash_duo.start_server(quick_app)
    dash_duo.driver.get(dash_duo.server_url + "/redundancy?depth=7&edits=oops")
    dash_duo.wait_for_contains_text(f"#{page.QUERY_MESSAGE_ID}", "depth=7 is not a number")
    assert "edits in this link were ignored" in dash_duo.find_element(f"#{page.QUERY_MESSAGE_ID}").text
    wait_until(lambda: len(dash_duo.find_elements(f"#{page.PANELS_ID} .js-plotly-plot")) == 2, message="matrices")


def matrix_labels(dash_duo, run: str) -> list[str]:
    """The cluster labels the browser drew in the left margin of ``run``'s matrix."""
    dom_id = panels.pattern_dom_id({"type": panels.MATRIX_TYPE, "run": run})
    return dash_duo.driver.execute_script(
        "const holder = document.getElementById(arguments[0]);"
        "const plot = holder && (holder.classList.contains('js-plotly-plot') ? holder"
        " : holder.querySelector('.js-plotly-plot'));"
        "return plot && plot.layout ? (plot.layout.annotations || []).map(a => a.text) : [];",
        dom_id,
    )


def test_an_edit_keeps_the_labels_and_says_what_it_did(dash_duo, quick_app, context):
    _, analyzer = context
    index, name = editable_layer(analyzer, BASE)
    plain = view_model.layer_view(analyzer, BASE, index)
    source = max(plain.cluster_ids, key=lambda c: len(plain.members(c)))
    neuron = plain.members(source)[0]
    before = {f"C{c}" for c in plain.cluster_ids}
    dash_duo.start_server(quick_app)
    dash_duo.driver.get(dash_duo.server_url + f"/redundancy?runs={BASE}&layer={name}")
    dash_duo.wait_for_contains_text(f"#{panels.EDIT_HINT_ID}", name)
    wait_until(lambda: {t.split()[0] for t in matrix_labels(dash_duo, BASE)} == before, message="the first labels")
    box = dash_duo.find_element(f"#{panels.NEURON_ID}")
    box.clear()
    box.send_keys(str(neuron))
    choose(dash_duo, f"#{panels.MOVE_TO_ID}", -1)  # the last option: the new cluster
    click(dash_duo, dash_duo.find_element(f"#{panels.MOVE_ID}"))
    said = f"moved neuron {neuron} from C{source} to new cluster C{plain.next_id}"
    dash_duo.wait_for_contains_text(f"#{panels.FEEDBACK_ID}", said)
    # every old label is still drawn, and the new one-row cluster has its own
    after = before | {f"C{plain.next_id}"}
    wait_until(lambda: {t.split()[0] for t in matrix_labels(dash_duo, BASE)} == after, message="the labels kept")
    assert said in dash_duo.find_element(f"#{panels.EDITS_LIST_ID}").text
    wait_until(
        lambda: query_of(dash_duo).get("edits") == [f"{BASE}:{name}:m{neuron}.{plain.next_id}"],
        message="the edit in the URL",
    )
    click(dash_duo, dash_duo.find_element(f"#{panels.UNDO_ID}"))
    dash_duo.wait_for_contains_text(f"#{panels.FEEDBACK_ID}", f"undid “{said}”")
    wait_until(lambda: {t.split()[0] for t in matrix_labels(dash_duo, BASE)} == before, message="the labels back")
    assert dash_duo.get_logs() == []


def test_cards_carry_their_numbers_and_the_chart_is_on_the_first_screen(dash_duo, quick_app):
    dash_duo.start_server(quick_app)
    dash_duo.driver.set_window_size(1600, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/redundancy")
    wait_until(lambda: len(dash_duo.find_elements(f"#{page.PANELS_ID} .js-plotly-plot")) == 2, message="2 matrices")
    for run in (BASE, SHALLOW):
        numbers = panel_header(dash_duo, run)
        assert "near-duplicates" in numbers and "effective rank" in numbers and "clusters" in numbers, numbers
        assert "%" in numbers
    assert "most redundant" in dash_duo.find_element(f"#{page.PANELS_ID}").text
    assert "near-duplicate" in dash_duo.find_element("#redundancy-caption").text
    screen = dash_duo.driver.execute_script("return window.innerHeight")
    chart = dash_duo.driver.execute_script(
        "return document.querySelector(arguments[0]).getBoundingClientRect().bottom", f"#{page.METRICS_ID}"
    )
    numbers_top = dash_duo.driver.execute_script(
        "return Math.max(...Array.from(document.querySelectorAll(arguments[0])).map("
        "e => e.getBoundingClientRect().bottom))",
        f"#{page.PANELS_ID} .card-header",
    )
    assert chart <= screen and numbers_top <= screen, (chart, numbers_top, screen)
    assert dash_duo.get_logs() == []


def test_a_dead_cluster_is_named_in_the_matrix_and_said_in_words_in_the_mosaic(dash_duo, quick_app, context):
    _, analyzer = context
    found = None
    for index, name in enumerate(analyzer.statistics(BASE)["layer_names"]):
        view = view_model.layer_view(analyzer, BASE, index)
        if view.dead_clusters:
            found = name, min(view.dead_clusters)
            break
    if found is None:
        pytest.skip(f"{BASE} has no dead cluster")
    name, cluster = found
    dash_duo.start_server(quick_app)
    dash_duo.driver.get(dash_duo.server_url + f"/redundancy?runs={BASE}&layer={name}")
    wait_until(lambda: f"C{cluster} dead" in matrix_labels(dash_duo, BASE), message="the dead cluster's label")
    assert "dead" in panel_header(dash_duo, BASE)  # the card counts its dead neurons
    dash_duo.driver.get(dash_duo.server_url + f"/redundancy?runs={BASE}&layer={name}&view=mosaic")
    wait_until(
        lambda: "never active" in dash_duo.find_element(f"#{page.PANELS_ID} .js-plotly-plot").text,
        message="the dead cluster in words",
    )
    assert dash_duo.get_logs() == []
