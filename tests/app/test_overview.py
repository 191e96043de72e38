"""The overview page: its data and figure functions on the quick runs, then the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dash
import pytest

from analysis.frames import runs_frame
from analysis.runs.store import broken_summary
from analysis.settings import SettingsError
from app import components, page, selection, tables
from app.analysis_access import class_errors
from app.config import Settings, load_settings
from app.figures import overview as figures

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
from app.main import create_app
from app.pages import overview
from app.query import split_names
from tests.app.helpers import text_of, walk

QUICK_RUNS = ("base-quick-synthetic", "shallow-quick-synthetic")

# selenium 4.2 calls a urllib3 method that urllib3 1.26 deprecates, once per WebDriver command.
pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


@pytest.fixture
def quick_app(quick_runs_dir: Path) -> dash.Dash:
    return create_app(Settings(runs_dir=quick_runs_dir))


@pytest.fixture
def damaged_runs_dir(quick_runs_dir: Path, tmp_path: Path) -> Path:
    """The quick runs plus: an unreadable run.json, a complete run without weights, a damaged history."""
    runs = shutil.copytree(quick_runs_dir, tmp_path / "runs")
    (runs / "garbled").mkdir()
    (runs / "garbled" / "run.json").write_text("{not json", encoding="utf-8")
    shutil.copytree(runs / "base-quick-synthetic", runs / "no-weights")
    (runs / "no-weights" / "model.pt").unlink()
    shutil.copytree(runs / "base-quick-synthetic", runs / "bad-history")
    with open(runs / "bad-history" / "history.jsonl", "a", encoding="utf-8") as history:
        history.write("{truncated\n")
    return runs


# -- settings --------------------------------------------------------------------------------------
def test_settings_defaults_and_environment():
    assert load_settings({}) == Settings()
    settings = load_settings(
        {
            "CNNCMP_RUNS_DIR": "/srv/runs",
            "PORT": "9000",
            "HOST": "0.0.0.0",
            "CNNCMP_LOG_LEVEL": "debug",
            "CNNCMP_CACHE_DIR": "/c",
            "CNNCMP_DATA_DIR": "/d",
        }
    )
    assert settings.runs_dir == "/srv/runs" and settings.port == 9000 and settings.host == "0.0.0.0"
    assert settings.log_level == "DEBUG" and settings.cache_dir == Path("/c") and settings.data_dir == Path("/d")
    with pytest.raises(dataclasses_frozen_error()):
        settings.port = 1  # type: ignore[misc]


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_deployment_settings_and_their_secrets_stay_out_of_logs():
    settings = load_settings(
        {
            "REDIS_URL": "redis://:s3cret@redis:6379/0",
            "CNNCMP_RUNS_DIR": "s3://bucket/runs",
            "CNNCMP_AUTH_USERS": "ann:scrypt:32768:8:1$x$y",
            "CNNCMP_LOG_FORMAT": "JSON",
        }
    )
    assert settings.runs_dir == "s3://bucket/runs" and settings.analysis_cache == "redis://:s3cret@redis:6379/0"
    assert settings.log_format == "json" and "s3cret" not in repr(settings) and "scrypt" not in repr(settings)
    assert load_settings({}).analysis_cache == "cache"


@pytest.mark.parametrize(
    "env",
    [
        {"PORT": "eighty"},
        {"PORT": "70000"},
        {"CNNCMP_LOG_LEVEL": "loud"},
        {"CNNCMP_LOG_FORMAT": "xml"},
        {"REDIS_URL": "localhost:6379"},
    ],
)
def test_bad_settings_say_which_variable(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        load_settings(env)


# -- number formats and shared components ----------------------------------------------------------
def test_human_units():
    assert components.human_count(34710) == "34.7 k"
    assert components.human_count(2441856, "FLOPs") == "2.44 MFLOPs"
    assert components.human_count(1.3e9, "FLOPs") == "1.3 GFLOPs"
    assert components.human_count(512) == "512"
    assert components.human_count(None) == components.human_count("12") == "–"
    assert components.percent(0.5371) == "53.7 %"
    assert components.percentage_points(0.006) == "+0.6 pp"
    assert components.percentage_points(-0.02) == "-2.0 pp"
    assert components.duration(6.2) == "6.2 s"
    assert components.duration(27.0) == "27 s"
    assert components.duration(252) == "4 min 12 s"
    assert components.duration(3720) == "1 h 02 min"
    assert components.duration(None) == "–"


def test_dataset_banner_names_the_data_and_warns_when_mixed():
    digits = {
        "name": "a",
        "dataset": "digits",
        "profile": "demo",
        "dataset_description": "scikit-learn digits, 10 classes — not CIFAR-10",
    }
    cifar = {"name": "b", "dataset": "cifar10", "profile": "paper", "dataset_description": "CIFAR-10"}
    one = text_of(components.dataset_banner([digits]))
    assert "scikit-learn digits" in one and "not CIFAR-10" in one and "profile demo" in one
    assert '"color": "light"' in one
    mixed = text_of(components.dataset_banner([digits, cifar]))
    assert "2 different datasets" in mixed and "not comparable" in mixed and "digits" in mixed and "cifar10" in mixed
    assert '"color": "warning"' in mixed
    assert "no run chosen" in text_of(components.dataset_banner([]))
    synthetic = {"name": "c", "dataset": "synthetic", "dataset_description": "synthetic stripes"}
    assert "not CIFAR-10" in text_of(components.dataset_banner([synthetic]))  # said even when the description is silent
    assert components.dataset_label([digits]) == "scikit-learn digits, 10 classes — not CIFAR-10"
    assert components.dataset_label([digits, cifar]) == "mixed datasets: digits, cifar10"


def test_graph_exports_png_from_the_modebar_and_both_formats_from_buttons():
    wrapper = components.graph("g", {"data": []}, filename="curves")
    figure = next(c for c in wrapper.children if getattr(c, "id", None) == "g")
    assert figure.config["toImageButtonOptions"] == {"format": "png", "filename": "curves", "scale": 2}
    text = text_of(wrapper)
    for fmt in ("png", "svg"):
        assert (
            json.dumps({"type": components.EXPORT_BUTTON_TYPE, "graph": "g", "format": fmt, "filename": "curves"})
            in text
        )


# -- reading the runs ------------------------------------------------------------------------------
def test_read_runs_gives_both_quick_runs_with_titles(quick_runs_dir):
    runs = selection.read_runs(quick_runs_dir)
    assert [r["name"] for r in runs] == list(QUICK_RUNS)
    base, shallow = runs
    assert base["title"] == "BaseCNN" and shallow["title"] == "ShallowCNN"
    assert base["status"] == "complete" and base["fc_layers"] == 2
    assert base["conv_layers"] > shallow["conv_layers"]
    assert base["dataset"] == "synthetic" and "not CIFAR-10" in base["dataset_description"]


def test_read_runs_of_a_missing_folder_is_empty(tmp_path):
    assert selection.read_runs(tmp_path / "nowhere") == []


def test_read_runs_marks_broken_runs_with_their_problem(damaged_runs_dir):
    runs = {r["name"]: r for r in selection.read_runs(damaged_runs_dir)}
    assert runs["garbled"]["status"] == "broken" and "run.json" in runs["garbled"]["problem"]
    assert runs["no-weights"]["status"] == "broken" and "model.pt" in runs["no-weights"]["problem"]
    assert runs["base-quick-synthetic"]["status"] == "complete"
    histories, problems = selection.read_histories(damaged_runs_dir, ["bad-history", "base-quick-synthetic"])
    assert "bad-history" in problems and "line" in problems["bad-history"]
    assert len(histories["base-quick-synthetic"]) >= 1


# -- the choice of runs ----------------------------------------------------------------------------
def test_parse_runs():
    available = ["a", "b", "c"]
    assert selection.parse_runs(None, available).names == ("a", "b", "c")
    assert selection.parse_runs("", available).names == ()
    assert selection.parse_runs("c, a", available).names == ("c", "a")
    assert selection.parse_runs(["a", "b,c", "a"], available).names == ("a", "b", "c")
    chosen = selection.parse_runs("a,../../etc/passwd,zzz", available)
    assert chosen.names == ("a",) and chosen.invalid == ("../../etc/passwd",) and chosen.missing == ("zzz",)
    assert not chosen.fell_back
    fallback = selection.parse_runs("../../etc/passwd", available)
    assert fallback.names == ("a", "b", "c") and fallback.fell_back and fallback.refused == ("../../etc/passwd",)


def test_runs_search_round_trips_through_the_query_string():
    names = ["base+aug-demo", "deep_x2.0-demo"]
    search = selection.runs_search(names, depth=0.25)
    assert search.startswith("?runs=") and search.endswith("&depth=0.25")
    assert split_names(parse_qs(urlparse(search).query)["runs"]) == names


# -- the models table and the curves ---------------------------------------------------------------
def test_table_record_formats_every_column(quick_runs_dir):
    base = selection.read_runs(quick_runs_dir)[0]
    record = tables.table_record(base)
    assert record["run"] == "base-quick-synthetic" and record["model"] == "BaseCNN"
    assert record["depth"] == f"{base['conv_layers'] + 2} ({base['conv_layers']} conv + 2 FC)"
    assert record["width"] == "1 × 1/16"
    assert record["params"].endswith(" k") and record["flops"].endswith("FLOPs")
    assert record["train_error"].endswith(" %") and record["test_error"].endswith(" %")
    assert record["gap"].endswith(" pp") and record["gap"][0] in "+-"
    assert record["train_time"].endswith("s") and record["dataset"] == "synthetic"
    assert record["status"] == "complete" and record["problem"] == ""


def test_table_record_of_a_broken_or_training_run():
    broken = tables.table_record(broken_summary("x", "run.json: not JSON"))
    assert broken["status"] == "broken" and broken["problem"] == "run.json: not JSON"
    assert broken["params"] == broken["gap"] == broken["depth"] == "–"
    training = tables.table_record(
        {
            "name": "t",
            "status": "training",
            "epochs": 3,
            "epochs_planned": 15,
            "train_error": None,
            "test_error": 0.4,
            "params": "garbage",
        }
    )
    assert training["status"] == "training (epoch 3/15)" and training["gap"] == "–" and training["params"] == "–"


def test_models_table_shows_runs_and_problems(damaged_runs_dir, tmp_path):
    frame = runs_frame(runs_dir=damaged_runs_dir, cache=tmp_path / "cache")
    names = list(frame["run"])
    text = text_of(tables.models_table(frame, selection.run_colours(names)))
    for name in ("base-quick-synthetic", "shallow-quick-synthetic", "garbled", "no-weights"):
        assert name in text
    assert "model.pt is missing" in text and "unreadable run file" in text
    assert "tick at least one run" in text_of(tables.models_table(frame.iloc[0:0], {}))


def test_the_models_table_holds_the_frames_numbers_and_marks_the_best(analysed_runs):
    runs_dir, cache_dir = analysed_runs
    frame = runs_frame(runs_dir=runs_dir, cache=cache_dir)
    records = {r["run"]: r for r in tables.models_records(frame)}
    for row in frame.to_dict("records"):
        record = records[row["run"]]
        assert record["test_error"] == row["test_error"] and record["params"] == row["params"]
        assert record["gap"] == pytest.approx(100 * row["gap"])  # shown in percentage points
    table = tables.models_table(frame, {})
    best = frame.loc[frame["test_error"].idxmin(), "run"]
    marked = [r["run"] for r in table.children[1].data if "lowest test error" in r["status_text"]]
    assert marked == [best]
    csv = table.children[2].data["csv"]
    assert csv.splitlines()[0].startswith("run,model,") and len(csv.splitlines()) == len(frame) + 1


def test_learning_curves_overlay_train_dashed_and_test_solid(quick_runs_dir):
    runs = selection.read_runs(quick_runs_dir)
    histories, problems = selection.read_histories(quick_runs_dir, QUICK_RUNS)
    assert not problems
    colours = selection.run_colours(QUICK_RUNS)
    figure = figures.learning_curves_figure(runs, histories, colours)
    traces = [t for t in figure.data if t.legendgroup != "_key"]
    assert len(traces) == 4
    for name in QUICK_RUNS:
        mine = [t for t in traces if t.legendgroup == name]
        assert {t.line.dash for t in mine} == {"solid", "dash"}
        assert {t.line.color for t in mine} == {colours[name]}
        assert list(mine[0].x) == [row["epoch"] for row in histories[name]]
    test_trace = next(t for t in traces if t.legendgroup == "base-quick-synthetic" and t.line.dash == "solid")
    assert list(test_trace.y) == [row["test_error"] for row in histories["base-quick-synthetic"]]
    assert "synthetic" in figure.layout.title.text and "not CIFAR-10" in figure.layout.title.text
    assert figure.layout.yaxis.tickformat == ".0%"


def test_learning_curves_without_runs_or_epochs_say_so():
    empty = figures.learning_curves_figure([], {}, {})
    assert not empty.data and "Pick at least one run" in empty.layout.annotations[0].text
    waiting = figures.learning_curves_figure([{"name": "fresh", "status": "training"}], {"fresh": []}, {})
    assert "No epoch recorded yet: fresh" in waiting.layout.annotations[0].text


def test_colours_stay_with_their_run_when_the_choice_changes(quick_runs_dir, analysed_source):
    runs = selection.read_runs(quick_runs_dir)
    both = overview.overview_parts(runs, QUICK_RUNS, analysed_source).figure
    shallow_only = overview.overview_parts(runs, ["shallow-quick-synthetic"], analysed_source).figure
    colour = {t.legendgroup: t.line.color for t in both.data}["shallow-quick-synthetic"]
    assert {t.line.color for t in shallow_only.data if t.legendgroup != "_key"} == {colour}


# -- the page function, inside an app (as Dash calls it) -------------------------------------------
def render(app: dash.Dash, **query):
    with app.server.app_context():
        return text_of(overview.layout(**query))


def test_layout_with_a_bad_link_shows_a_message_not_an_exception(quick_app):
    text = render(quick_app, models="../../etc/passwd,nope", unknown_parameter="1")
    assert overview.LINK_MESSAGE_ID in text and "../../etc/passwd" in text and "nope" in text
    assert "Showing the default runs instead" in text
    assert all(name in text for name in QUICK_RUNS)


def test_layout_of_an_empty_runs_folder_tells_the_train_command(tmp_path):
    text = render(create_app(Settings(runs_dir=tmp_path / "none")))
    assert components.TRAIN_DEMO_COMMAND in text and "holds no runs yet" in text


def test_layout_survives_a_failure_while_reading(quick_app, monkeypatch):
    def explode(_runs_dir):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(page, "read_runs", explode)  # the name the page skeleton looks up
    assert "could not be built" in render(quick_app)


def test_layout_shows_broken_runs(damaged_runs_dir):
    text = render(create_app(Settings(runs_dir=damaged_runs_dir)))
    assert "model.pt is missing" in text and "bad-history" in text and "line" in text


# -- the app ---------------------------------------------------------------------------------------
def test_creating_apps_twice_keeps_one_page_per_path_and_callbacks_per_app(quick_runs_dir, tmp_path):
    first = create_app(Settings(runs_dir=quick_runs_dir))
    second = create_app(Settings(runs_dir=tmp_path))
    paths = [page["path"] for page in dash.page_registry.values()]
    assert sorted(paths) == sorted(set(paths)) and "/" in paths
    assert "app.pages.overview" in dash.page_registry
    for app in (first, second):
        outputs = " ".join(app.callback_map)
        assert overview.GRAPH_ID in outputs and components.EXPORT_BUTTON_TYPE in outputs
        assert app.server.test_client().get("/").status_code == 200
    assert first.server.test_client().get("/health").json["runs"] == 2
    assert second.server.test_client().get("/health").json["runs"] == 0


def test_health_answers_json(quick_app, quick_runs_dir):
    response = quick_app.server.test_client().get("/health")
    assert response.status_code == 200 and response.is_json
    assert response.json == {
        "status": "ok",
        "runs": 2,
        "runs_dir": str(quick_runs_dir),
        "cache": "diskcache",
        "jobs": "local",
        "problems": {},
    }


def test_health_with_no_runs_folder(tmp_path):
    response = create_app(Settings(runs_dir=str(tmp_path / "missing"))).server.test_client().get("/health")
    assert response.status_code == 200
    assert response.json["runs"] == 0 and response.json["status"] == "ok"


def test_health_says_when_redis_is_unreachable(tmp_path):
    from tests.services import free_port

    settings = Settings(runs_dir=str(tmp_path), redis_url=f"redis://127.0.0.1:{free_port()}/0")
    from app.main import health

    with create_app(Settings(runs_dir=str(tmp_path))).server.app_context():
        body = health(settings).json
    assert body["status"] == "degraded" and "is unreachable" in body["problems"]["redis"]


def test_module_level_server_is_the_wsgi_app():
    import app.main

    assert app.main.server is app.main.app.server and callable(app.main.server.wsgi_app)


# -- in the browser --------------------------------------------------------------------------------
PLOT = f"#{overview.GRAPH_ID} .js-plotly-plot"


def plotted_runs(dash_duo) -> list[str]:
    """The runs drawn in the learning-curves figure, read from plotly's own graph div."""
    dash_duo.wait_for_element(PLOT)
    groups = dash_duo.driver.execute_script(
        "return document.querySelector(arguments[0]).data.map(t => t.legendgroup);", PLOT
    )
    return sorted({g for g in groups if g != "_key"})


def wait_for_runs(dash_duo, expected: list[str], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while plotted_runs(dash_duo) != sorted(expected):
        if time.monotonic() > deadline:
            raise AssertionError(f"figure shows {plotted_runs(dash_duo)}, expected {sorted(expected)}")
        time.sleep(0.1)


def open_overview(dash_duo, app) -> None:
    """Serve ``app`` and open the Overview (at /models: the landing page is the Review)."""
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/models")


def toggle(dash_duo, run: str) -> None:
    """Click the picker's switch for ``run`` (its label)."""
    labels = dash_duo.find_elements(f"#{overview.PICKER_ID} label")
    next(label for label in labels if label.text.strip() == run).click()


def test_page_loads_with_the_quick_runs(dash_duo, quick_app):
    open_overview(dash_duo, quick_app)
    dash_duo.wait_for_contains_text(f"#{overview.TABLE_ID}", QUICK_RUNS[0])
    dash_duo.wait_for_contains_text(f"#{overview.TABLE_ID}", QUICK_RUNS[1])
    dash_duo.wait_for_contains_text(f"#{overview.BANNER_ID}", "synthetic")
    assert plotted_runs(dash_duo) == sorted(QUICK_RUNS)
    assert dash_duo.find_element(".navbar").text.startswith(components.PRODUCT_NAME)
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_choosing_runs_redraws_the_figure_and_writes_the_url(dash_duo, quick_app):
    open_overview(dash_duo, quick_app)
    wait_for_runs(dash_duo, list(QUICK_RUNS))
    toggle(dash_duo, "shallow-quick-synthetic")
    wait_for_runs(dash_duo, ["base-quick-synthetic"])
    dash_duo.wait_for_text_to_equal(f"#{overview.TABLE_ID} tbody tr:last-child td", "base-quick-synthetic")
    assert "shallow-quick-synthetic" not in dash_duo.find_element(f"#{overview.TABLE_ID}").text
    query = parse_qs(urlparse(dash_duo.driver.current_url).query)
    assert query == {"runs": ["base-quick-synthetic"]}  # not analysed: no confusion run to keep
    toggle(dash_duo, "shallow-quick-synthetic")
    wait_for_runs(dash_duo, list(QUICK_RUNS))
    assert dash_duo.get_logs() == []


def test_a_link_restores_the_choice(dash_duo, quick_app):
    open_overview(dash_duo, quick_app)
    dash_duo.wait_for_element(PLOT)
    dash_duo.driver.get(dash_duo.server_url + "/models?runs=shallow-quick-synthetic")
    dash_duo.wait_for_contains_text(f"#{overview.TABLE_ID}", "shallow-quick-synthetic")
    wait_for_runs(dash_duo, ["shallow-quick-synthetic"])
    assert "base-quick-synthetic" not in dash_duo.find_element(f"#{overview.TABLE_ID}").text
    checked = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].filter(i => i.checked).map(i => i.value);",
        f"#{overview.PICKER_ID} input",
    )
    assert checked == ["shallow-quick-synthetic"]


def test_a_sweep_link_shows_its_runs_and_an_unknown_one_says_so(dash_duo, quick_runs_dir, tmp_path):
    from analysis.runs.store import RunStore
    from analysis.sweeps import new_sweep, record_sweep

    runs = shutil.copytree(quick_runs_dir, tmp_path / "runs")
    record_sweep(RunStore(runs), new_sweep("one", [("shallow", 0, "shallow-quick-synthetic")], "quick", "synthetic"))
    dash_duo.start_server(create_app(Settings(runs_dir=runs)))
    dash_duo.driver.get(dash_duo.server_url + "/models?sweep=one")
    dash_duo.wait_for_contains_text(f"#{overview.TABLE_ID}", "shallow-quick-synthetic")
    wait_for_runs(dash_duo, ["shallow-quick-synthetic"])
    assert "base-quick-synthetic" not in dash_duo.find_element(f"#{overview.TABLE_ID}").text
    dash_duo.driver.get(dash_duo.server_url + "/models?sweep=nope")
    dash_duo.wait_for_contains_text(f"#{overview.LINK_MESSAGE_ID}", "no sweep named 'nope'")
    assert "its sweeps: one" in dash_duo.find_element(f"#{overview.LINK_MESSAGE_ID}").text
    wait_for_runs(dash_duo, list(QUICK_RUNS))  # the default runs instead
    assert dash_duo.get_logs() == []


def test_a_bad_link_shows_the_message(dash_duo, quick_app):
    open_overview(dash_duo, quick_app)
    dash_duo.wait_for_element(PLOT)
    dash_duo.driver.get(dash_duo.server_url + "/models?models=../../etc/passwd")
    dash_duo.wait_for_contains_text(f"#{overview.LINK_MESSAGE_ID}", "../../etc/passwd")
    wait_for_runs(dash_duo, list(QUICK_RUNS))  # every run instead
    assert dash_duo.get_logs() == []


def test_an_unknown_path_shows_the_not_found_page(dash_duo, quick_app):
    open_overview(dash_duo, quick_app)
    dash_duo.wait_for_element(PLOT)
    dash_duo.driver.get(dash_duo.server_url + "/no/such/page")
    dash_duo.wait_for_contains_text("#not-found", "no page at this address")


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_export_buttons_download_the_figure(dash_duo, quick_app, fmt, magic):
    open_overview(dash_duo, quick_app)
    dash_duo.wait_for_element(PLOT)
    buttons = dash_duo.find_elements(".cnncmp-graph .cnncmp-export button")[:2]  # the learning curves' pair
    assert [b.text for b in buttons] == ["PNG", "SVG"]
    buttons[components.EXPORT_FORMATS.index(fmt)].click()
    target = Path(dash_duo.download_path) / f"learning-curves.{fmt}"
    deadline = time.monotonic() + 15
    while not (target.is_file() and target.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.is_file(), f"nothing downloaded: {sorted(p.name for p in Path(dash_duo.download_path).iterdir())}"
    assert target.read_bytes().lstrip().startswith(magic)


def test_health_over_http(dash_duo, quick_app):
    import requests

    open_overview(dash_duo, quick_app)
    response = requests.get(dash_duo.server_url + "/health", timeout=10)
    assert response.status_code == 200 and response.json()["runs"] == 2


def test_per_class_error_and_confusion_from_the_cache(analysed_runs):
    runs_dir, cache_dir = analysed_runs
    create_app(Settings(runs_dir=runs_dir, cache_dir=cache_dir))
    from flask import Flask

    server = Flask(__name__)
    server.config["CNNCMP_SETTINGS"] = Settings(runs_dir=runs_dir, cache_dir=cache_dir)
    with server.app_context():
        errors, problems = class_errors(list(QUICK_RUNS))
        assert set(errors) == set(QUICK_RUNS) and not problems
        figure = figures.per_class_figure(errors, selection.run_colours(list(QUICK_RUNS)), "synthetic", "none")
        assert len(figure.data) == 2 and len(figure.data[0].x) == 10
        confusion = figures.confusion_figure(QUICK_RUNS[0], errors[QUICK_RUNS[0]])
        assert confusion.data[0].z.shape == (10, 10) and "not CIFAR-10" in confusion.layout.title.subtitle.text


def test_the_models_table_shows_the_seed_spread_of_a_model_with_several_seeds():
    from analysis.frames import RUNS_COLUMNS, build_frame

    def run(name, model, seed, test):
        return {"run": name, "model": model, "profile": "demo", "dataset": "digits", "seed": seed,
                "test_error": test, "train_error": 0.01, "status": "complete"}  # fmt: skip

    frame = build_frame(
        [run("base", "base", 0, 0.116), run("base-seed1", "base", 1, 0.122), run("base-seed2", "base", 2, 0.119),
         run("deep", "deep", 0, 0.2)],
        RUNS_COLUMNS,
    )  # fmt: skip
    spreads = {r["run"]: r["seed_spread"] for r in tables.models_records(frame)}
    assert spreads == {
        "base": "11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)",
        "base-seed1": "11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)",
        "base-seed2": "11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)",
        "deep": "",
    }
    text = text_of(tables.models_table(frame, {}))
    assert "Test error across seeds" in text
    single = text_of(tables.models_table(frame[frame["model"] == "deep"], {}))
    assert "Test error across seeds" not in single, "one seed each: no spread column"


def test_layout_with_a_sweep_shows_its_runs_or_says_it_is_not_there(quick_runs_dir, tmp_path):
    from analysis.runs.store import RunStore
    from analysis.sweeps import new_sweep, record_sweep

    runs = shutil.copytree(quick_runs_dir, tmp_path / "runs")
    record_sweep(RunStore(runs), new_sweep("one", [("shallow", 0, "shallow-quick-synthetic")], "quick", "synthetic"))
    app = create_app(Settings(runs_dir=runs))
    with app.server.app_context():
        chosen = overview.layout(sweep="one")
    table = text_of(chosen)
    assert "shallow-quick-synthetic" in table and overview.LINK_MESSAGE_ID not in table
    records = next(c for c in walk(chosen) if getattr(c, "id", None) == overview.MODELS_TABLE_ID).data
    assert [r["run"] for r in records] == ["shallow-quick-synthetic"]
    text = render(app, sweep="nope")
    assert "sweep=nope: no sweep named" in text and "its sweeps: one" in text and "Showing the default runs" in text
