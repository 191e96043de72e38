"""The evolution page: epochs in the URL, its figures on hand-made rows and on the quick runs, then in Chromium."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlparse

import dash
import numpy as np
import pytest
from selenium.webdriver.common.keys import Keys

from app import evolution_view as view
from app.components import TRAIN_DEMO_COMMAND
from app.config import Settings
from app.figures import evolution as figures
from app.figures.common import MIN_FONT_SIZE

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
from app.main import create_app
from app.pages import evolution
from tests.app.helpers import font_sizes, plot_title, text_of, wait_for_title, wait_until

QUICK_RUNS = ("base-quick-synthetic", "shallow-quick-synthetic")
COLOURS = {"a": "#111111", "b": "#222222"}

pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


@pytest.fixture
def evolution_app(own_cache_app) -> dash.Dash:
    """An app on the analysed quick runs, with its own copy of the cache (what the page computes is written to it)."""
    return own_cache_app


def history(epochs: int, dead: float = 0.0) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_error": 0.5 / e,
            "test_error": 0.6 / e,
            "health": {
                "conv1": {"dead_fraction": 0.0, "grad_norm": 10.0**-e, "weight_norm": 2.0},
                "fc1": {"dead_fraction": dead, "grad_norm": 1.0, "weight_norm": 3.0},
            },
        }
        for e in range(1, epochs + 1)
    ]


def snapshot(epoch: int, duplicates: list[float], positive: list[float]) -> dict:
    return {
        "epoch": epoch,
        "layers": ["conv1", "fc1"],
        "near_duplicate_fraction": duplicates,
        "positive_edge_fraction": positive,
        "train_error": None,
        "test_error": None,
    }


# -- the URL ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"), [(None, (None, None)), ("", (None, None)), ("3", (3, None)), (["1", "7"], (7, None))]
)
def test_parse_epoch_accepts_whole_numbers(value, expected):
    assert view.parse_epoch(value) == expected  # blank is absent, as for every key of the vocabulary


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "../3", "14.9"])
def test_parse_epoch_refuses_the_rest(value):
    epoch, problem = view.parse_epoch(value)
    assert epoch is None and f"epoch={value}" in problem


def test_parse_metric():
    assert view.parse_metric(None) == (figures.DEFAULT_METRIC, None)
    assert view.parse_metric("grad_norm") == ("grad_norm", None)
    metric, problem = view.parse_metric("loss")
    assert metric == figures.DEFAULT_METRIC and "metric=loss" in problem and "weight_norm" in problem


def test_choose_epoch_snaps_to_a_snapshot_and_says_so():
    assert view.choose_epoch([1, 3, 7], None) == (7, None)
    assert view.choose_epoch([1, 3, 7], 3) == (3, None)
    chosen, problem = view.choose_epoch([1, 3, 7], 5)
    assert chosen == 3 and "epoch=5 has no analysed snapshot" in problem and "showing epoch 3" in problem
    assert view.choose_epoch([], 4) == (None, None)
    assert view.nearest_snapshot([1, 11], 100) == 11


def test_search_round_trips():
    search = view.evolution_search(["base+aug", "deep"], 7, "grad_norm")
    query = parse_qs(urlparse(search).query)
    assert query == {"runs": ["base+aug,deep"], "epoch": ["7"], "metric": ["grad_norm"]}
    assert view.evolution_search(["a"], None) == "?runs=a&metric=dead_fraction"
    assert view.parse_epoch(query["epoch"]).value == 7 and view.parse_metric(query["metric"]).value == "grad_norm"


def test_the_slider_stops_at_analysed_snapshots_only():
    epochs = [1, 2, 5, 10, 15]
    assert view.slider_marks(epochs) == {0: "1", 1: "2", 2: "5", 3: "10", 4: "15"}
    assert view.slider_position(10, epochs) == 3 and view.slider_position(12, epochs) == 3
    assert view.slider_position(None, epochs) is None and view.slider_position(3, []) is None
    # Every value a request can send back is an analysed epoch: one step right of 10 is 15, never 14.9.
    assert [view.epoch_at(p, epochs) for p in (0, 1, 3, 4)] == [1, 2, 10, 15]
    assert view.epoch_at(3.6, epochs) == 15 and view.epoch_at(14.9, epochs) == 15 and view.epoch_at(-2, epochs) == 1
    for bad in (None, "2", True, float("nan"), [1]):
        assert view.epoch_at(bad, epochs) is None
    assert view.epoch_at(0, []) is None


# -- the figures -----------------------------------------------------------------------------------
def test_over_training_figure_has_errors_and_snapshot_means_per_run():
    histories = {"a": history(3), "b": history(2)}
    evolutions = {"a": [snapshot(1, [0.2, 0.4], [0.5, 0.7]), snapshot(3, [0.0, 0.2], [0.4, 0.6])]}
    figure = figures.over_training_figure(histories, evolutions, COLOURS, 3, "synthetic")
    errors = [t for t in figure.data if t.xaxis == "x"]
    assert len(errors) == 4 and {t.line.dash for t in errors} == {"solid", "dash"}
    duplicates = next(t for t in figure.data if t.xaxis == "x2")
    assert list(duplicates.x) == [1, 3] and list(duplicates.y) == pytest.approx([0.3, 0.1])
    positive = next(t for t in figure.data if t.xaxis == "x3")
    assert list(positive.y) == pytest.approx([0.6, 0.5]) and positive.line.color == COLOURS["a"]
    assert sum(1 for t in figure.data if t.showlegend) == 2  # one legend entry per run
    assert len(figure.layout.shapes) == 3 and all(s.x0 == 3 for s in figure.layout.shapes)
    assert figure.layout.title.text == "Over training" and figure.layout.title.subtitle.text == "synthetic"
    assert figure.layout.xaxis.dtick == 1 and figure.layout.xaxis.tick0 == 1  # whole epochs, each once
    assert min(font_sizes(figure)) >= MIN_FONT_SIZE
    empty = figures.over_training_figure({}, {}, COLOURS, None, "t")
    assert "Pick at least one run" in empty.layout.annotations[0].text


def test_per_layer_figure_places_layers_by_relative_depth():
    figure = figures.per_layer_figure(
        {"a": snapshot(3, [0.1, None], [0.5, 0.25])}, {"a": [0.0, 1.0]}, COLOURS, "Per layer at epoch 3", "data"
    )
    duplicates, positive = figure.data
    assert list(duplicates.x) == [0.0, 1.0] and list(duplicates.y) == [0.1, None]
    assert list(positive.customdata) == ["conv1", "fc1"] and "epoch 3" in positive.name
    assert figure.layout.xaxis.title.text.startswith("relative depth")
    assert figure.layout.title.subtitle.text == "data" and min(font_sizes(figure)) >= MIN_FONT_SIZE
    fallback = figures.per_layer_figure(
        {"b": {**snapshot(1, [0, 0, 0], [0, 0, 0]), "layers": ["x", "y", "z"]}}, {}, COLOURS, "t", "d"
    )
    assert list(fallback.data[0].x) == [0.0, 0.5, 1.0]
    empty = figures.per_layer_figure({}, {}, COLOURS, "t", "d", "Nothing analysed")
    assert not empty.data and empty.layout.annotations[0].text == "Nothing analysed"


def test_health_matrix_and_figure():
    rows = history(3, dead=0.75)
    rows.insert(1, {"epoch": 99})  # a row without health figures is skipped
    layers, epochs, z = figures.health_matrix(rows, "dead_fraction")
    assert layers == ["conv1", "fc1"] and epochs == [1, 2, 3] and z.shape == (2, 3) and z[1, 0] == 0.75
    figure = figures.health_figure({"a": history(3, 0.75), "b": history(2)}, "dead_fraction", COLOURS, 2, "Health")
    assert [t.name for t in figure.data] == ["a", "b"]
    assert figure.layout.coloraxis.cmax == 1 and figure.layout.yaxis.autorange == "reversed"
    assert figure.layout.xaxis.dtick == 1 and figure.layout.xaxis2.dtick == 1
    assert len(figure.layout.shapes) == 2  # the chosen epoch boxed in both runs
    grads = figures.health_figure({"a": history(3)}, "grad_norm", COLOURS, None, "Health")
    assert np.nanmin(np.asarray(grads.data[0].z, dtype=float)) == pytest.approx(-3)  # log10 colours
    assert grads.layout.coloraxis.colorbar.ticktext[0] == "1e-3"
    assert grads.data[0].customdata[0][0] == pytest.approx(0.1)  # raw values in the hover
    assert "gradient norm" in grads.layout.title.text and grads.layout.title.subtitle.text == "Health"
    assert (
        "No training-health records"
        in figures.health_figure({"a": [{"epoch": 1}]}, "dead_fraction", COLOURS, None, "t").layout.annotations[0].text
    )


def deep_history(layers: int, epochs: int = 4) -> list[dict]:
    names = [f"conv{i}" for i in range(1, layers)] + ["fc1"]
    return [
        {"epoch": e, "health": {name: {"dead_fraction": 0.1, "grad_norm": 1.0, "weight_norm": 1.0} for name in names}}
        for e in range(1, epochs + 1)
    ]


@pytest.mark.parametrize("runs", [1, 4, 7])
def test_health_heatmaps_label_every_layer_at_a_readable_size(runs):
    # DeepCNN-like runs (16 analysable layers) beside shallow ones: the deep one was labelled every other layer.
    histories = {f"run{i}": deep_history(16 if i % 2 == 0 else 5) for i in range(runs)}
    figure = figures.health_figure(histories, "dead_fraction", {}, 2, "data")
    assert min(font_sizes(figure)) >= MIN_FONT_SIZE
    axes = [figure.layout[name] for name in figure.layout if name.startswith("yaxis")]
    assert len(axes) >= runs and all(a.type == "category" and a.dtick == 1 for a in axes)
    assert all(a.tickfont.size >= MIN_FONT_SIZE for a in axes)
    deep = next(t for t in figure.data if len(t.y) == 16)
    assert list(deep.y) == [f"conv{i}" for i in range(1, 16)] + ["fc1"]
    rows = math.ceil(runs / figures.PANEL_COLUMNS)
    panel = (figure.layout.height - figure.layout.margin.t - figure.layout.margin.b) / rows
    assert panel * 0.8 >= 16 * figures.LAYER_FONT_SIZE  # 16 labels fit in the panel without overlapping


def test_anomaly_list_orders_by_severity_with_badges():
    found = {
        "a": [
            {"severity": "info", "epoch": 4, "layer": None, "message": "test error stopped falling"},
            {"severity": "error", "epoch": 2, "layer": "conv1", "message": "gradient norms explode"},
        ],
        "b": [],
        "c": ValueError("line 3 is not JSON"),
    }
    text = text_of(view.anomaly_list(found, COLOURS))
    assert text.index("gradient norms explode") < text.index("test error stopped falling")
    assert '"color": "danger"' in text and '"color": "info"' in text and "(epoch 2, conv1)" in text
    assert "no anomaly flagged" in text and "line 3 is not JSON" in text


# -- the parts the callback builds, on the analysed quick runs ----------------------------------------
def test_evolution_parts_on_the_quick_runs(evolution_app):
    with evolution_app.server.app_context():
        parts = evolution.evolution_parts(list(QUICK_RUNS), 1, "grad_norm")
    assert not parts.messages
    assert {t.legendgroup for t in parts.training.data} == set(QUICK_RUNS)
    assert {t.name for t in parts.layers.data} == {f"{run} (epoch 1)" for run in QUICK_RUNS}
    assert [t.name for t in parts.health.data] == list(QUICK_RUNS)
    assert (
        "gradient norm" in parts.health.layout.title.text and "not CIFAR-10" in parts.health.layout.title.subtitle.text
    )
    assert all(run in text_of(parts.anomalies) for run in QUICK_RUNS)


def test_unanalysed_runs_still_show_their_health(analysed_runs, tmp_path):
    runs_dir, _ = analysed_runs
    app = create_app(Settings(runs_dir=runs_dir, cache_dir=tmp_path / "empty-cache"))
    with app.server.app_context():
        parts = evolution.evolution_parts([QUICK_RUNS[0]], 2, "dead_fraction")
    text = text_of(parts.messages)
    assert "not analysed yet" in text and evolution.JOBS_PATH in text
    assert len(parts.health.data) == 1 and not parts.layers.data
    assert any(t.xaxis == "x" for t in parts.training.data)  # errors come from the history


# -- the page function -----------------------------------------------------------------------------
def render(app: dash.Dash, **query) -> str:
    with app.server.app_context():
        return text_of(evolution.layout(**query))


def test_layout_reports_bad_values(evolution_app):
    text = render(evolution_app, models="../x", epoch="5", other="1")
    assert evolution.LINK_MESSAGE_ID in text and "../x" in text
    assert evolution.QUERY_MESSAGE_ID in text and "epoch=5 has no analysed snapshot" in text
    assert "epoch=abc is not a whole number" in render(evolution_app, epoch="abc")
    assert "metric=loss is not one of" in render(evolution_app, metric="loss")
    assert evolution.QUERY_MESSAGE_ID not in render(evolution_app, epoch="1", metric="grad_norm")


def test_layout_of_an_empty_runs_folder(tmp_path):
    text = render(create_app(Settings(runs_dir=tmp_path / "none")))
    assert "evolution-empty" in text and TRAIN_DEMO_COMMAND in text and "holds no runs yet" in text


# -- in the browser --------------------------------------------------------------------------------
TRAINING = f"#{evolution.TRAINING_GRAPH_ID} .js-plotly-plot"
LAYERS = f"#{evolution.LAYERS_GRAPH_ID} .js-plotly-plot"
HEALTH = f"#{evolution.HEALTH_GRAPH_ID} .js-plotly-plot"


def url_query(dash_duo) -> dict[str, list[str]]:
    return parse_qs(urlparse(dash_duo.driver.current_url).query)


def epoch_markers(dash_duo) -> list[float]:
    """Where the over-training figure draws the chosen-epoch line, one per panel ([] when it draws none)."""
    return dash_duo.driver.execute_script(
        "const g = document.querySelector(arguments[0]); return g && g.layout && g.layout.shapes "
        "? g.layout.shapes.map(s => s.x0) : [];",
        TRAINING,
    )


def test_page_loads_and_the_arrow_keys_step_through_the_snapshots(dash_duo, evolution_app):
    dash_duo.start_server(evolution_app)
    dash_duo.driver.get(dash_duo.server_url + "/evolution")
    wait_for_title(dash_duo, LAYERS, "Per layer at epoch 2")  # the last snapshot by default
    wait_for_title(dash_duo, TRAINING, "Over training")
    wait_for_title(dash_duo, HEALTH, "dead-unit fraction")
    dash_duo.wait_for_contains_text(f"#{evolution.BANNER_ID}", "synthetic")
    dash_duo.wait_for_contains_text(f"#{evolution.ANOMALIES_ID}", QUICK_RUNS[0])
    marks = [
        m.text
        for m in dash_duo.find_elements(
            f"#{evolution.EPOCH_ID} .dash-slider-mark, #{evolution.EPOCH_ID} .rc-slider-mark-text"
        )
    ]
    assert marks == ["1", "2"]  # a mark on each analysed snapshot, nothing between
    # The main control, by keyboard: each arrow key moves one analysed snapshot; the marker follows.
    handle = dash_duo.find_element(f"#{evolution.EPOCH_ID} [role=slider]")
    handle.send_keys(Keys.ARROW_LEFT)
    wait_for_title(dash_duo, LAYERS, "Per layer at epoch 1")
    wait_until(lambda: url_query(dash_duo).get("epoch") == ["1"], message="epoch=1 in the URL")
    wait_until(lambda: epoch_markers(dash_duo) == [1, 1, 1], message="the marker at epoch 1")
    handle.send_keys(Keys.ARROW_RIGHT)
    wait_for_title(dash_duo, LAYERS, "Per layer at epoch 2")
    wait_until(lambda: url_query(dash_duo).get("epoch") == ["2"], message="epoch=2 in the URL")
    handle.send_keys(Keys.ARROW_RIGHT)  # past the last snapshot: it stays there
    wait_until(lambda: epoch_markers(dash_duo) == [2, 2, 2], message="the marker at epoch 2")
    assert url_query(dash_duo).get("epoch") == ["2"] and "epoch 2" in plot_title(dash_duo, LAYERS)
    gradient = dash_duo.find_elements(f"#{evolution.METRIC_ID} input")[1]
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", gradient)
    wait_for_title(dash_duo, HEALTH, "gradient norm")
    wait_until(lambda: url_query(dash_duo).get("metric") == ["grad_norm"], message="metric= in the URL")
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_a_link_restores_runs_epoch_and_metric(dash_duo, evolution_app):
    dash_duo.start_server(evolution_app)
    dash_duo.driver.get(dash_duo.server_url + "/evolution?runs=shallow-quick-synthetic&epoch=1&metric=grad_norm")
    wait_for_title(dash_duo, LAYERS, "Per layer at epoch 1")
    wait_for_title(dash_duo, HEALTH, "gradient norm")
    names = dash_duo.driver.execute_script("return document.querySelector(arguments[0]).data.map(t => t.name);", HEALTH)
    assert names == ["shallow-quick-synthetic"]
    checked = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].filter(i => i.checked).map(i => i.value);",
        f"#{evolution.METRIC_ID} input",
    )
    assert checked == ["grad_norm"]
    # The older spelling of runs= opens the same view.
    dash_duo.driver.get(dash_duo.server_url + "/evolution?models=shallow-quick-synthetic&epoch=1")
    wait_for_title(dash_duo, LAYERS, "Per layer at epoch 1")
    wait_for_title(dash_duo, HEALTH, "dead-unit fraction")
    names = dash_duo.driver.execute_script("return document.querySelector(arguments[0]).data.map(t => t.name);", HEALTH)
    assert names == ["shallow-quick-synthetic"]
    assert dash_duo.get_logs() == []


def test_a_bad_link_shows_the_message(dash_duo, evolution_app):
    dash_duo.start_server(evolution_app)
    dash_duo.driver.get(dash_duo.server_url + "/evolution?models=nope&epoch=banana")
    dash_duo.wait_for_contains_text(f"#{evolution.QUERY_MESSAGE_ID}", "epoch=banana")
    dash_duo.wait_for_contains_text(f"#{evolution.LINK_MESSAGE_ID}", "nope")
    wait_for_title(dash_duo, LAYERS, "Per layer at epoch 2")
    assert dash_duo.get_logs() == []
