"""The explorer page: its parsing and figure functions, the parts its callbacks build, then the page in Chromium."""

from __future__ import annotations

import base64
import io
from urllib.parse import parse_qs, urlparse

import dash
import numpy as np
import pytest
from PIL import Image

from app import explorer_strip
from app import explorer_view as view
from app.config import Settings
from app.figures import explorer as figures
from app.images import png_data_url

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
from app.main import create_app
from app.pages import explorer
from app.query import nearest_layer
from tests.app.helpers import text_of, wait_for_title, wait_until

QUICK_RUNS = ("base-quick-synthetic", "shallow-quick-synthetic")
COLOURS = {"a": "#111111", "b": "#222222"}

pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


@pytest.fixture
def explorer_app(own_cache_app) -> dash.Dash:
    """An app on the analysed quick runs, with its own copy of the cache (what the page computes is written to it)."""
    return own_cache_app


# -- the URL ---------------------------------------------------------------------------------------
def test_parse_query_defaults_and_good_values():
    assert view.parse_query({}) == view.ExplorerQuery()
    query = view.parse_query(
        {"image": "12", "depth": "0.5", "size": "4", "stride": "2", "neurons": "all", "scale": "neuron"}
    )
    assert (query.image, query.depth, query.layer_name, query.size, query.stride, query.problems) == (
        12,
        0.5,
        None,
        4,
        2,
        (),
    )
    assert (query.neurons, query.scale, query.neuron) == ("all", "neuron", None)
    named = view.parse_query({"layer": "conv3", "image": ["1", "3"]})
    assert named.layer_name == "conv3" and named.image == 3 and not named.problems
    older = view.parse_query({"layer": "0.75"})  # layer=<number>: the older spelling of depth
    assert (older.depth, older.layer_name, older.problems) == (0.75, None, ())
    clicked = view.parse_query({"neuron": "base+aug:conv2:5"})
    assert clicked.neuron == figures.Selected("base+aug", "conv2", 5) and not clicked.problems


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"image": "-1"}, "image=-1"),
        ({"image": "abc"}, "image=abc"),
        ({"image": "1.5"}, "image=1.5"),
        ({"layer": "1.5"}, "layer=1.5"),
        ({"layer": "../../etc"}, "layer=../../etc"),
        ({"depth": "nan"}, "depth=nan"),
        ({"size": "5"}, "size=5"),
        ({"stride": "0"}, "stride=0"),
        ({"stride": "x"}, "stride=x"),
        ({"neurons": "7"}, "neurons=7"),
        ({"scale": "log"}, "scale=log"),
        ({"neuron": "base:conv2"}, "neuron=base:conv2"),
        ({"neuron": "../x:conv2:1"}, "neuron=../x:conv2:1"),
    ],
)
def test_parse_query_refuses_bad_values_with_a_reason(query, words):
    parsed = view.parse_query(query)
    assert len(parsed.problems) == 1 and words in parsed.problems[0]
    assert (parsed.image, parsed.depth, parsed.size, parsed.stride, parsed.neurons, parsed.scale, parsed.neuron) == (
        0,
        view.DEFAULT_DEPTH,
        view.DEFAULT_SIZE,
        view.DEFAULT_STRIDE,
        view.DEFAULT_NEURONS,
        view.DEFAULT_SCALE,
        None,
    )


def test_search_round_trips_through_parse_query():
    shown = view.ExplorerQuery(7, 0.75, None, "64", "neuron", 12, 8, figures.Selected("base+aug", "fc1", 3))
    search = view.explorer_search(["base+aug", "deep_x2.0"], shown)
    values = {k: v[0] for k, v in parse_qs(urlparse(search).query).items()}
    assert values["runs"] == "base+aug,deep_x2.0" and values["neuron"] == "base+aug:fc1:3"
    assert view.parse_query(values) == shown


def test_controls_and_clicks_become_the_view():
    query = view.controls_query(3, 0.5, "16", "neuron", 4, 2, {"run": "a", "layer": "conv1", "neuron": 2})
    assert query == view.ExplorerQuery(3, 0.5, None, "16", "neuron", 4, 2, figures.Selected("a", "conv1", 2))
    assert view.controls_query(None, True, None, None, None, None, {"run": 1}) == view.ExplorerQuery()
    geometry = [{"run": "a", "layer": "conv1", "count": 4, "columns": 2, "height": 4, "width": 4, "gap": 1}]
    assert view.clicked_neuron({"points": [{"curveNumber": 0, "x": 6, "y": 1}]}, geometry) == ("a", "conv1", 1)
    assert view.clicked_neuron({"points": [{"curveNumber": 0, "x": 4, "y": 1}]}, geometry) is None  # the gap
    assert view.clicked_neuron({"points": [{"curveNumber": 3, "x": 0, "y": 0}]}, geometry) is None
    assert view.clicked_neuron("junk", geometry) is None and view.selected_from(["a"]) is None


# -- activation-map mosaics ------------------------------------------------------------------------
def test_tiling_and_neuron_at_find_the_clicked_map():
    tile = figures.tiling(5, 4, 4)  # 5 maps of 4×4: 2 rows of 3 with a 1-pixel gap
    assert (tile.columns, tile.rows, tile.gap) == (2, 3, 1) or (tile.columns, tile.rows, tile.gap) == (3, 2, 1)
    step = tile.width + tile.gap
    assert figures.neuron_at(tile, 0, 0) == 0
    assert figures.neuron_at(tile, step + 3, 2) == 1
    assert figures.neuron_at(tile, 4, 0) is None  # the gap
    assert figures.neuron_at(tile, 0, step) == tile.columns
    assert figures.neuron_at(tile, (tile.columns - 1) * step, (tile.rows - 1) * step) in (None, 4)
    assert figures.neuron_at(tile, -1, 0) is None and figures.neuron_at(tile, "x", 0) is None
    assert figures.neuron_at(tile, 99, 0) is None


def test_mosaic_scales_by_layer_or_by_neuron():
    maps = np.zeros((3, 2, 2))
    maps[0] = 1.0
    maps[1, 0, 0] = 4.0
    by_layer, raw, tile = figures.mosaic(maps, 10, "layer")
    assert tile.count == 3 and by_layer.shape == tile.shape()
    assert np.nanmax(by_layer) == 1.0 and by_layer[0, 0] == 0.25  # neuron 0 is weak next to neuron 1
    by_neuron, _, _ = figures.mosaic(maps, 10, "neuron")
    assert by_neuron[0, 0] == 1.0  # each map fills the scale
    assert np.isnan(by_layer).sum() == by_layer.size - 12  # only the gaps (and the empty slot) are blank
    assert np.nanmax(raw) == 4.0
    fc, _, fc_tile = figures.mosaic(np.arange(10.0), 4, "layer")
    assert fc_tile.count == 4 and (fc_tile.height, fc_tile.width, fc_tile.gap) == (1, 1, 0)
    assert np.nanmax(fc) == 3 / 9  # scaled by the largest unit of the whole layer, shown or not


def test_nearest_layer_prefers_the_shallower_on_a_tie():
    depths = [0.0, 0.5, 1.0]
    assert nearest_layer(depths, 0.2) == 0
    assert nearest_layer(depths, 0.25) == 0
    assert nearest_layer(depths, 0.9) == 2
    assert nearest_layer([0.0, 1 / 3, 2 / 3, 1.0], 0.5) == 1  # a tie up to rounding
    with pytest.raises(ValueError):
        nearest_layer([], 0.5)
    run = view.RunView("a", (("conv1", 0.0), ("conv2", 0.5), ("fc", 1.0)), ("cat",), "hash")
    assert run.layer_at(0.9) == ("fc", 1.0)


def test_maps_figure_puts_one_mosaic_per_run_with_the_run_colour():
    panels = [
        figures.MapsPanel("a", "conv2", 0.25, np.random.rand(8, 4, 4)),
        figures.MapsPanel("b", "fc1", 0.9, np.random.rand(20)),
    ]
    selected = figures.Selected("b", "fc1", 2)
    figure, geometry = figures.maps_figure(panels, 4, "neuron", COLOURS, "Activation maps · synthetic", selected)
    assert [t.name for t in figure.data] == ["a", "b"]
    assert [g["run"] for g in geometry] == ["a", "b"] and geometry[0]["count"] == 4 and geometry[1]["height"] == 1
    assert "a" in figure.layout.annotations[0].text and figure.layout.annotations[0].font.color == COLOURS["a"]
    assert "4 of 8" in figure.layout.annotations[0].text
    assert figure.layout.coloraxis.cmin == 0 and "each neuron" in figure.layout.coloraxis.colorbar.title.text
    assert figure.layout.yaxis.autorange == "reversed" and figure.layout.yaxis2.scaleanchor == "x2"
    assert figure.layout.annotations[0].font.size >= 12
    (frame,) = figure.layout.shapes  # the clicked neuron, framed in its run's panel
    tile = figures.Tiling(*(geometry[1][k] for k in figures.Tiling._fields))
    assert frame.xref == "x2" and (frame.x0, frame.y0) == (tile.corner(2)[1] - 0.5, tile.corner(2)[0] - 0.5)
    assert figures.highlight_shapes(geometry, figures.Selected("b", "conv9", 2)) == []
    signed, _ = figures.maps_figure(
        [figures.MapsPanel("a", "fc2", 1.0, np.array([-2.0, 1.0]))], 8, "layer", COLOURS, "t"
    )
    assert signed.layout.coloraxis.cmin == -1  # logits go negative: a diverging scale
    empty, nothing = figures.maps_figure([], 8, "layer", COLOURS, "t")
    assert not empty.data and nothing == [] and "pick a run" in empty.layout.annotations[0].text


def test_probabilities_figure_marks_the_true_class():
    figure = figures.probabilities_figure(
        [("a", np.array([0.1, 0.9]), ["cat", "dog"]), ("b", np.array([0.6, 0.4]), ["cat", "dog"])], 1, COLOURS, "P"
    )
    assert [t.marker.color for t in figure.data] == [COLOURS["a"], COLOURS["b"]]
    assert list(figure.layout.xaxis.ticktext) == ["cat", "<b>dog ✓</b>"]
    upload = figures.probabilities_figure([("a", np.array([0.1, 0.9]), ["cat", "dog"])], None, COLOURS, "P")
    assert list(upload.layout.xaxis.ticktext) == ["cat", "dog"]


def test_occlusion_figure_writes_the_top_label_when_readable():
    result = {
        "correct_probability": np.array([[0.9, 0.2], [0.5, 0.7]]),
        "top_label": np.array([[1, 0], [1, 1]]),
        "tops": np.array([0, 16]),
        "lefts": np.array([0, 16]),
        "size": np.array(16),
        "clean_probability": np.array(0.95),
    }
    figure = figures.occlusion_figure(
        [figures.OcclusionPanel("a", result, 1, ["cat", "dog"])], "true class", COLOURS, "Occlusion"
    )
    trace = figure.data[0]
    assert list(trace.x) == [8, 24] and list(trace.y) == [8, 24]
    assert trace.text[0][1] == "cat" and trace.customdata[0][0] == "dog" and trace.textfont.size >= 12
    assert "P(dog) unoccluded 95%" in figure.layout.annotations[0].text
    assert figure.layout.coloraxis.cmax == 1


def test_patches_figure_draws_the_receptive_field_boxes():
    patches = [
        {"image": 3, "label": 0, "value": 2.5, "box": (0, 4, 10, 14)},
        {"image": 8, "label": 1, "value": 1.5, "box": (20, 20, 32, 32)},
    ]
    images = [np.zeros((3, 32, 32), dtype=np.uint8)] * 2
    figure = figures.patches_figure(
        figures.Selected("a", "conv2", 5), patches, images, ["cat", "dog"], "#123456", "synthetic — not CIFAR-10"
    )
    assert len(figure.data) == 2 and figure.data[0].z.shape == (32, 32, 3)
    shape = figure.layout.shapes[0]
    assert (shape.x0, shape.x1, shape.y0, shape.y1) == (3.5, 13.5, -0.5, 9.5)
    assert "neuron 5" in figure.layout.title.text and "not CIFAR-10" in figure.layout.title.text
    assert figure.layout.annotations[0].text == "cat<br>response 2.5"  # the numbers say what they are


def test_thumbnail_strip_shows_truth_and_wrong_predictions_in_red():
    images = np.zeros((3, 3, 32, 32), dtype=np.uint8)
    predictions = {"a": np.array([0] * 10 + [0, 0, 1]), "b": None}
    strip = explorer_strip.thumbnail_strip(
        images, [0, 1, 1], [10, 11, 12], ["cat", "dog"], predictions, 11, COLOURS, "thumb"
    )
    text = text_of(strip)
    assert '"index": 11' in text and "data:image/png;base64," in text
    assert "a predicts cat (wrong)" in text and "text-danger" in text and "not analysed yet" in text
    assert text.count("3px solid") == 1  # the chosen image is outlined
    assert explorer_strip.strip_range(25, 30) == range(20, 30) and explorer_strip.strip_range(3, 360) == range(0, 20)


def test_png_data_url_round_trips():
    image = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    url = png_data_url(image)
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert np.array_equal(decoded, image.transpose(1, 2, 0))


# -- the parts the callbacks build, on the analysed quick runs ----------------------------------------
def strip_parts(*arguments):
    return explorer_strip.strip_parts(*arguments, explorer.THUMB_TYPE, explorer.CLEAR_UPLOAD_ID)


def test_maps_parts_compare_both_runs_at_one_depth(explorer_app):
    with explorer_app.server.app_context():
        maps, probabilities, geometry, messages = view.maps_parts(list(QUICK_RUNS), 3, 1.0, "all", "layer", None)
    assert [g["run"] for g in geometry] == list(QUICK_RUNS) and not messages
    assert {g["layer"] for g in geometry} == {"fc2"}  # depth 1 is the output layer of both
    assert "test image 3" in maps.layout.title.text and "not CIFAR-10" in maps.layout.title.text
    assert [t.name for t in probabilities.data] == list(QUICK_RUNS)
    assert all(abs(sum(t.y) - 1) < 1e-4 for t in probabilities.data)
    assert "not CIFAR-10" in probabilities.layout.title.text


def test_occlusion_and_strip_parts(explorer_app):
    with explorer_app.server.app_context():
        figure, messages = view.occlusion_parts(list(QUICK_RUNS), 2, 8, 8, None)
        banner, strip, subject = strip_parts(list(QUICK_RUNS), 2, None)
    assert len(figure.data) == 2 and np.asarray(figure.data[0].z).shape == (4, 4) and not messages
    assert "8 px square every 8 px" in figure.layout.title.text and "not CIFAR-10" in figure.layout.title.text
    text = text_of(strip)
    assert "Test images 0–19" in text and all(run in text for run in QUICK_RUNS)
    assert "Test image 2" in text_of(subject) and "synthetic" in text_of(banner)


def test_an_upload_is_compared_by_every_run(explorer_app):
    from analysis.data.uploads import image_to_text

    stored = {"image": image_to_text(np.full((3, 32, 32), 128, dtype=np.uint8)), "name": "grey.png"}
    with explorer_app.server.app_context():
        maps, _, geometry, _ = view.maps_parts(list(QUICK_RUNS), 0, 0.0, "16", "neuron", stored)
        occlusion, _ = view.occlusion_parts(list(QUICK_RUNS), 0, 16, 8, stored)
        _, _, subject = strip_parts(list(QUICK_RUNS), 0, stored)
    assert "uploaded grey.png" in maps.layout.title.text and len(geometry) == 2
    assert "run's top class" in occlusion.layout.title.text
    # The title is two lines (what; which image and data), clear of the toolbar above the panel titles.
    what, detail = occlusion.layout.title.text.split("<br>")
    assert "uploaded grey.png" in detail and "not CIFAR-10" in detail and "Occlusion" in what
    assert occlusion.layout.title.yref == "container" and occlusion.layout.margin.t >= 120
    assert "Uploaded" in text_of(subject) and "Back to the test images" in text_of(subject)


def test_bad_image_numbers_and_no_runs_raise_page_errors(explorer_app):
    with explorer_app.server.app_context():
        with pytest.raises(ValueError, match="no test image 9999"):
            view.maps_parts(list(QUICK_RUNS), 9999, 0.5, "16", "layer", None)
        with pytest.raises(ValueError, match="Pick at least one run"):
            view.occlusion_parts([], 0, 8, 4, None)
        # What the callbacks show instead: empty figures that say why (not the previous runs' figures).
        maps, probabilities, geometry, message = view.maps_view([], 0, 0.5, "16", "layer", None, None)
        occlusion, _ = view.occlusion_view([], 0, 8, 4, None)
    assert geometry == [] and "Pick at least one run" in text_of(message)
    for figure in (maps, probabilities, occlusion):
        assert not figure.data and "Pick at least one run" in figure.layout.annotations[0].text


def test_runs_that_cannot_show_the_image_get_a_message_each(explorer_app, monkeypatch):
    from analysis.pipeline import AnalysisError, RunAnalyzer

    def refuse(self, run, image):
        raise AnalysisError(f"run {run!r} cannot look at images today")

    monkeypatch.setattr(RunAnalyzer, "activation_maps", refuse)
    with explorer_app.server.app_context():
        maps, probabilities, geometry, messages = view.maps_parts(list(QUICK_RUNS), 5, 0.5, "16", "layer", None)
    assert geometry == [] and len(messages) == 2 and "cannot look at images today" in text_of(messages)
    for figure in (maps, probabilities):
        assert not figure.data and "none of the chosen runs could show this image" in figure.layout.annotations[0].text


def test_patches_parts_from_a_click(explorer_app):
    with explorer_app.server.app_context():
        _, _, geometry, _ = view.maps_parts(["shallow-quick-synthetic"], 0, 0.0, "all", "layer", None)
        selected = view.clicked_neuron({"points": [{"curveNumber": 0, "x": 0, "y": 0}]}, geometry)
        graph = view.patches_parts(selected, explorer.PATCHES_GRAPH_ID)
        gap = view.clicked_neuron({"points": [{"curveNumber": 0, "x": geometry[0]["width"], "y": 0}]}, geometry)
    text = text_of(graph)
    assert explorer.PATCHES_GRAPH_ID in text and "neuron 0" in text and "not CIFAR-10" in text
    assert gap is None


def test_patches_of_an_unanalysed_run_link_to_jobs(analysed_runs, tmp_path):
    runs_dir, _ = analysed_runs
    app = create_app(Settings(runs_dir=runs_dir, cache_dir=tmp_path / "empty-cache"))
    with app.server.app_context():
        message = text_of(view.patches_parts(figures.Selected(QUICK_RUNS[0], "conv1", 0), explorer.PATCHES_GRAPH_ID))
        # Maps and occlusion need no cached analysis: one image's forward passes are done on demand.
        maps, _, _, _ = view.maps_parts([QUICK_RUNS[0]], 0, 0.5, "16", "layer", None)
    assert "not analysed yet" in message and "/jobs" in message
    assert len(maps.data) == 1


# -- the page function -----------------------------------------------------------------------------
def render(app: dash.Dash, **query) -> str:
    with app.server.app_context():
        return text_of(explorer.layout(**query))


def test_layout_reports_every_bad_value(explorer_app):
    text = render(explorer_app, models="nope", image="99999", layer="conv99", size="3", stride="x", other="1")
    assert explorer.QUERY_MESSAGE_ID in text and explorer.LINK_MESSAGE_ID in text
    for words in ("image=99999 is past the last test image", "layer=conv99 is not a layer", "size=3", "stride=x"):
        assert words in text
    named = render(explorer_app, runs=QUICK_RUNS[0], layer="nan", neurons="9", scale="x")
    for words in ("layer=nan is not a layer of", "neurons=9", "scale=x"):
        assert words in named


def test_layout_restores_every_control_of_a_link(explorer_app):
    link = {
        "runs": QUICK_RUNS[0],
        "image": "5",
        "depth": "0.5",
        "neurons": "all",
        "scale": "neuron",
        "size": "4",
        "stride": "2",
        "neuron": f"{QUICK_RUNS[0]}:conv3:1",
    }
    with explorer_app.server.app_context():
        page = explorer.layout(**link)
    values = {
        c.id: getattr(c, "data", getattr(c, "value", None))
        for c in _walk(page)
        if isinstance(getattr(c, "id", None), str)
    }
    assert values[explorer.PICKER_ID] == [QUICK_RUNS[0]] and values[explorer.IMAGE_ID] == 5
    assert (values[explorer.LAYER_ID], values[explorer.NEURONS_ID], values[explorer.SCALE_ID]) == (0.5, "all", "neuron")
    assert (values[explorer.SIZE_ID], values[explorer.STRIDE_ID]) == (4, 2)
    assert values[explorer.NEURON_STORE_ID] == {"run": QUICK_RUNS[0], "layer": "conv3", "neuron": 1}


def test_layout_resolves_a_layer_name_to_its_depth(explorer_app):
    text = render(explorer_app, models=QUICK_RUNS[1], layer="fc2", size="16")
    assert explorer.QUERY_MESSAGE_ID not in text
    page = None
    with explorer_app.server.app_context():
        page = explorer.layout(models=QUICK_RUNS[1], layer="fc2")
    slider = next(c for c in _walk(page) if getattr(c, "id", None) == explorer.LAYER_ID)
    assert slider.value == 1.0


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            yield from _walk(child)
    elif children is not None and hasattr(children, "to_plotly_json"):
        yield from _walk(children)


def test_layout_of_an_empty_runs_folder(tmp_path):
    text = render(create_app(Settings(runs_dir=tmp_path / "none")))
    assert "explorer-empty" in text and "holds no runs yet" in text and "python -m analysis train" in text


# -- in the browser --------------------------------------------------------------------------------
MAPS = f"#{explorer.MAPS_GRAPH_ID} .js-plotly-plot"
PATCHES = f"#{explorer.PATCHES_GRAPH_ID} .js-plotly-plot"
CLICK_FIRST_MAP = """
    const gd = document.querySelector(arguments[0]);
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
    const x = box.left + xa.d2p(1), y = box.top + ya.d2p(1);
    for (const type of ['mousemove', 'mousedown', 'mouseup', 'click']) {
        gd.querySelector('.nsewdrag').dispatchEvent(new MouseEvent(type, {clientX: x, clientY: y, bubbles: true}));
    }"""


def query_of(dash_duo) -> dict[str, list[str]]:
    return parse_qs(urlparse(dash_duo.driver.current_url).query)


def test_page_loads_draws_and_steps_through_images(dash_duo, explorer_app):
    dash_duo.start_server(explorer_app, "/explorer")
    dash_duo.driver.get(dash_duo.server_url + "/explorer")
    wait_for_title(dash_duo, MAPS, "test image 0")
    for graph in (explorer.PROBABILITIES_GRAPH_ID, explorer.OCCLUSION_GRAPH_ID):
        wait_for_title(dash_duo, f"#{graph} .js-plotly-plot", "test image 0")
    dash_duo.wait_for_contains_text(f"#{explorer.BANNER_ID}", "synthetic")
    assert len(dash_duo.find_elements(f"#{explorer.STRIP_ID} img")) == 20
    traces = dash_duo.driver.execute_script("return document.querySelector(arguments[0]).data.map(t => t.name);", MAPS)
    assert traces == list(QUICK_RUNS)
    dash_duo.find_element(f"#{explorer.NEXT_ID}").click()  # the main control: another image
    wait_for_title(dash_duo, MAPS, "test image 1")
    wait_for_title(dash_duo, f"#{explorer.OCCLUSION_GRAPH_ID} .js-plotly-plot", "test image 1")
    assert query_of(dash_duo)["image"] == ["1"]
    dash_duo.find_element(f"#{explorer.STRIP_ID} button[title='test image 7']").click()
    wait_for_title(dash_duo, MAPS, "test image 7")
    dash_duo.wait_for_contains_text(f"#{explorer.SUBJECT_ID}", "Test image 7")
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_clicking_a_neuron_shows_its_top_images(dash_duo, explorer_app):
    dash_duo.start_server(explorer_app)
    dash_duo.driver.get(dash_duo.server_url + "/explorer?runs=base-quick-synthetic&depth=0")
    wait_for_title(dash_duo, MAPS, "test image 0")
    # A real click on the first map: plotly turns it into clickData, the callback into the top images.
    dash_duo.driver.execute_script(CLICK_FIRST_MAP, MAPS)
    wait_for_title(dash_duo, PATCHES, "neuron 0")
    images = dash_duo.driver.execute_script("return document.querySelector(arguments[0]).data.length;", PATCHES)
    assert images >= 1
    wait_until(
        lambda: query_of(dash_duo).get("neuron") == ["base-quick-synthetic:conv1:0"], message="neuron= in the URL"
    )
    frames = dash_duo.driver.execute_script("return document.querySelector(arguments[0]).layout.shapes.length;", MAPS)
    assert frames == 1  # the clicked map is framed
    assert dash_duo.get_logs() == []


def test_a_link_restores_the_clicked_neuron_and_the_map_options(dash_duo, explorer_app):
    run = QUICK_RUNS[0]  # at depth 0.64: conv8, 32 neurons
    link = f"/explorer?runs={run}&image=4&depth=0.64&neurons=16&scale=neuron&size=4&stride=2&neuron={run}:conv8:2"
    dash_duo.start_server(explorer_app)
    dash_duo.driver.get(dash_duo.server_url + link)
    wait_for_title(dash_duo, MAPS, "test image 4")
    wait_for_title(dash_duo, PATCHES, "neuron 2")  # the clicked neuron's top images, without a click
    layout = dash_duo.driver.execute_script(
        "const l = document.querySelector(arguments[0]).layout; return [l.annotations[0].text, "
        "l.coloraxis.colorbar.title.text, l.shapes.length];",
        MAPS,
    )
    assert "conv8" in layout[0] and "· 16 of 32" in layout[0]  # neurons=16
    assert "each neuron" in layout[1] and layout[2] == 1  # scale=neuron; neuron 2 framed
    assert dash_duo.find_element(f"#{explorer.SCALE_ID} input[value='neuron']").is_selected()
    assert "first 16" in dash_duo.find_element(f"#{explorer.NEURONS_ID}").text
    wait_for_title(dash_duo, f"#{explorer.OCCLUSION_GRAPH_ID} .js-plotly-plot", "4 px square every 2 px")
    dash_duo.driver.execute_script(CLICK_FIRST_MAP, MAPS)  # another neuron: written back with everything else
    wait_for_title(dash_duo, PATCHES, "neuron 0")
    expected = {
        "runs": [run],
        "image": ["4"],
        "depth": ["0.64"],
        "neurons": ["16"],
        "scale": ["neuron"],
        "size": ["4"],
        "stride": ["2"],
        "neuron": [f"{run}:conv8:0"],
    }
    wait_until(lambda: query_of(dash_duo) == expected, message=f"the URL to be {expected}, not {query_of(dash_duo)}")
    assert dash_duo.get_logs() == []


def test_a_link_restores_the_view(dash_duo, explorer_app):
    dash_duo.start_server(explorer_app)
    link = "/explorer?models=shallow-quick-synthetic&image=7&layer=1&size=4&stride=2"
    dash_duo.driver.get(dash_duo.server_url + link)
    wait_for_title(dash_duo, MAPS, "test image 7")
    wait_for_title(dash_duo, f"#{explorer.OCCLUSION_GRAPH_ID} .js-plotly-plot", "4 px square every 2 px")
    names = dash_duo.driver.execute_script("return document.querySelector(arguments[0]).data.map(t => t.name);", MAPS)
    assert names == ["shallow-quick-synthetic"]
    subplot = dash_duo.driver.execute_script(
        "return document.querySelector(arguments[0]).layout.annotations[0].text;", MAPS
    )
    assert "fc2" in subplot and "depth 1.00" in subplot
    assert dash_duo.find_element(f"#{explorer.IMAGE_ID}").get_attribute("value") == "7"
    assert dash_duo.get_logs() == []


def test_a_bad_link_shows_the_message_and_defaults(dash_duo, explorer_app):
    dash_duo.start_server(explorer_app)
    dash_duo.driver.get(dash_duo.server_url + "/explorer?models=../../etc&image=abc&layer=../x&size=5")
    dash_duo.wait_for_contains_text(f"#{explorer.QUERY_MESSAGE_ID}", "image=abc")
    dash_duo.wait_for_contains_text(f"#{explorer.QUERY_MESSAGE_ID}", "size=5")
    dash_duo.wait_for_contains_text(f"#{explorer.LINK_MESSAGE_ID}", "../../etc")
    wait_for_title(dash_duo, MAPS, "test image 0")
    assert dash_duo.get_logs() == []


def test_uploads_are_checked_and_shown(dash_duo, explorer_app, tmp_path):
    good, bad = tmp_path / "red.png", tmp_path / "anim.gif"
    Image.new("RGB", (100, 60), (220, 20, 20)).save(good)
    Image.new("RGB", (10, 10)).save(bad)
    dash_duo.start_server(explorer_app)
    dash_duo.driver.get(dash_duo.server_url + "/explorer")
    wait_for_title(dash_duo, MAPS, "test image 0")
    dash_duo.find_element(f"#{explorer.UPLOAD_ID} input[type=file]").send_keys(str(bad))
    dash_duo.wait_for_contains_text(f"#{explorer.UPLOAD_MESSAGE_ID}", "not a PNG or JPEG")
    dash_duo.find_element(f"#{explorer.UPLOAD_ID} input[type=file]").send_keys(str(good))
    wait_for_title(dash_duo, MAPS, "uploaded red.png")
    wait_for_title(dash_duo, f"#{explorer.OCCLUSION_GRAPH_ID} .js-plotly-plot", "run's top class")
    # The two-line title lies inside the figure, clear of the plotly toolbar (the upload's name makes it long).
    title, plot, toolbar = dash_duo.driver.execute_script(
        "const g = document.querySelector(arguments[0]); const box = e => e.getBoundingClientRect().toJSON();"
        "return [box(g.querySelector('.gtitle')), box(g), box(g.querySelector('.modebar'))];",
        f"#{explorer.OCCLUSION_GRAPH_ID} .js-plotly-plot",
    )
    assert plot["top"] <= title["top"] and title["bottom"] <= plot["top"] + 130
    assert title["right"] < toolbar["left"] or title["top"] > toolbar["bottom"]
    dash_duo.wait_for_contains_text(f"#{explorer.SUBJECT_ID}", "Uploaded")
    assert dash_duo.find_element(f"#{explorer.UPLOAD_MESSAGE_ID}").text == ""
    dash_duo.find_element(f"#{explorer.SUBJECT_ID} button").click()  # back to the test images
    wait_for_title(dash_duo, MAPS, "test image 0")
    assert dash_duo.get_logs() == []
