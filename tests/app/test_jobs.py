"""The Jobs page: its forms, messages and job runner without a browser, then a training and an
analysis started from the page in headless Chromium (background callbacks in a child process)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import dash
import pytest

from app import background, jobs_view
from app import page as page_module
from app.config import Settings

# app.main first: it builds the module-level app, which registers the pages that the imports below reuse.
from app.main import create_app
from app.pages import jobs
from app.selection import Selection, link_message, parse_runs, runs_search
from tests.app.helpers import text_of

MODEL = "base_x0.25"
RUN = "base_x0.25-quick-synthetic"

# selenium 4.2 calls a urllib3 method that urllib3 1.26 deprecates, once per WebDriver command.
pytestmark = pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")


def settings_in(folder: Path) -> Settings:
    return Settings(runs_dir=folder / "runs", cache_dir=folder / "cache", data_dir=folder / "data")


@pytest.fixture
def analysed_settings(analysed_runs, tmp_path) -> Settings:
    runs_dir, cache_dir = analysed_runs
    return Settings(runs_dir=runs_dir, cache_dir=cache_dir, data_dir=tmp_path / "data")


def page(settings: Settings, **query) -> str:
    app = create_app(settings)
    with app.server.test_request_context("/jobs"):
        return text_of(jobs.layout(**query))


# -- the background manager and stop flags ---------------------------------------------------------
def test_manager_is_a_diskcache_in_the_cache_folder_by_default(tmp_path):
    manager = background.make_manager(settings_in(tmp_path))
    assert isinstance(manager, dash.DiskcacheManager)
    assert Path(manager.handle.directory) == tmp_path / "cache" / "jobs"


def test_redis_url_gives_a_celery_manager_on_that_redis(tmp_path):
    url = "redis://127.0.0.1:6390/3"  # nothing needs to listen: building the manager does not connect
    manager = background.make_manager(dataclasses.replace(settings_in(tmp_path), redis_url=url))
    assert isinstance(manager, dash.CeleryManager)
    assert manager.handle.conf.broker_url == url and manager.handle.conf.task_acks_late


def test_a_missing_job_backend_package_is_named(monkeypatch):
    real_import = background.importlib.import_module

    def without_celery(name, *args):
        if name == "celery":
            raise ImportError("No module named 'celery'")
        return real_import(name, *args)

    monkeypatch.setattr(background.importlib, "import_module", without_celery)
    with pytest.raises(background.MissingDependencyError, match="'celery'.*REDIS_URL|REDIS_URL.*'celery'"):
        background.celery_manager("redis://127.0.0.1:6390/4")


def test_stop_flags_round_trip_per_token(tmp_path):
    flags = background.stop_flags(settings_in(tmp_path))
    assert not flags.requested("a")
    flags.request("a")
    assert flags.requested("a") and not flags.requested("b")
    assert background.stop_flags(settings_in(tmp_path)).requested("a"), "not shared"
    flags.clear("a")
    assert not flags.requested("a")


def test_every_app_gets_the_manager_of_its_own_cache_folder(tmp_path):
    app = create_app(settings_in(tmp_path))
    assert Path(app._background_manager.handle.directory) == tmp_path / "cache" / "jobs"
    outputs = " ".join(app.callback_map)
    assert jobs.STATUS_ID in outputs and jobs.CANCEL_NOTE_ID in outputs
    assert "/jobs" in [page["path"] for page in dash.page_registry.values()]


# -- forms and messages ----------------------------------------------------------------------------
def test_forms_list_every_model_profile_and_dataset(tmp_path):
    values = [option["value"] for option in jobs.model_options()]
    assert values[:3] == ["base", "shallow", "deep"] and MODEL in values and len(values) == 7
    assert "15 epochs" in jobs.describe_profile("demo") and jobs.describe_profile("nope") == ""
    datasets = {option["value"]: text_of(option["label"]) for option in jobs.dataset_options(tmp_path)}
    assert list(datasets) == ["auto", "cifar10", "fashion-mnist", "digits", "synthetic"]
    assert "not found" in datasets["cifar10"] and "now: digits" in datasets["auto"]
    assert "apt-get install dataset-fashion-mnist" in datasets["fashion-mnist"]


def test_run_links_are_validated():
    choice = parse_runs("a,../x,zzz", ["a", "b"], default=())
    assert choice == Selection(("a",), ("../x",), ("zzz",))
    assert parse_runs(None, ["a"], default=()) == Selection(())  # no link: nothing ticked for analysis
    tail = "The others are ticked for analysis below."
    alert = text_of(link_message(choice, "/runs", jobs.LINK_MESSAGE_ID, tail))
    assert "../x" in alert and "zzz" in alert and "others are ticked" in alert
    assert link_message(Selection(("a",)), "/runs", jobs.LINK_MESSAGE_ID, tail) is None
    assert runs_search(["a+b", "c"]) == "?runs=a%2Bb,c"


def find(tree, id_: str) -> dict:
    """The component ``id_`` in a layout's JSON form."""
    if isinstance(tree, dict):
        if tree.get("props", {}).get("id") == id_:
            return tree
        children = list(tree.values())
    elif isinstance(tree, list):
        children = tree
    else:
        return {}
    for child in children:
        found = find(child, id_)
        if found:
            return found
    return {}


def test_layout_ticks_the_linked_run_and_shows_analysed_state(analysed_settings):
    text = page(analysed_settings, runs="base-quick-synthetic", other="ignored")
    runs = find(json.loads(text), jobs.RUNS_ID)["props"]
    assert runs["value"] == ["base-quick-synthetic"]
    assert [o["value"] for o in runs["options"]] == ["base-quick-synthetic", "shallow-quick-synthetic"]
    assert "analysed" in text and "not analysed" not in text
    assert jobs.LINK_MESSAGE_ID not in text
    assert "synthetic" in text_of(find(json.loads(text), jobs.BANNER_ID))  # the banner names the data


def test_a_bad_link_shows_a_message_and_ticks_nothing(analysed_settings):
    text = page(analysed_settings, run="../../etc/passwd")
    assert jobs.LINK_MESSAGE_ID in text and "../../etc/passwd" in text and "No run was ticked" in text


def test_layout_of_an_empty_runs_folder_explains(tmp_path):
    text = page(settings_in(tmp_path))
    assert "No runs yet" in text and jobs.TRAIN_ID in text


def test_layout_survives_a_failure_while_reading(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(page_module, "read_runs", broken)  # the name the page skeleton looks up
    assert "jobs-page-error" in page(settings_in(tmp_path))


def test_progress_reporter_sends_bar_step_and_the_last_lines():
    sent = []
    report = jobs_view.progress_reporter(sent.append, lines=2)
    for index in range(3):
        report(index / 2, f"step {index}")
    value, label, step, log = sent[-1]
    assert (value, label, step) == (100.0, "100 %", "step 2") and log.count("\n") == 1 and "step 0" not in log
    report(0.25, "back")
    report(None, "failed: no disk")
    assert sent[-1][:3] == (25.0, "25 %", "failed: no disk")
    report(7, "beyond")
    assert sent[-1][0] == 100.0


def test_outcome_messages_name_runs_and_failures():
    done = jobs_view.outcome_message(
        {
            "kind": "train",
            "status": "complete",
            "runs": ["r"],
            "message": "Trained",
            "results": [{"name": "r", "status": "complete", "epochs_done": 1, "epochs_planned": 1, "test_error": 0.25}],
        }
    )
    assert done.color == "success" and "25.0 %" in text_of(done) and "/?runs=r" in text_of(done)
    stopped = jobs_view.outcome_message({"kind": "train", "status": "stopped", "runs": [], "message": "Stopped"})
    assert stopped.color == "warning" and "Training stopped" in text_of(stopped)
    failed = jobs_view.outcome_message(
        {"kind": "analyze", "status": "failed", "runs": [], "message": "No run", "failed": {"x": "no model.pt"}}
    )
    assert failed.color == "danger" and "no model.pt" in text_of(failed)


def test_execute_job_turns_errors_into_messages(tmp_path):
    sent = []
    settings = settings_in(tmp_path)
    outcome = jobs.execute_job(
        "train", jobs.JobForm((MODEL,), "quick", "cifar10", 1), settings, sent.append, lambda: False
    )
    assert "Training refused" in text_of(outcome.status) and "cifar" in text_of(outcome.status)
    assert outcome.options == [] and "failed" in sent[-1][2]
    outcome = jobs.execute_job("train", jobs.JobForm(("nope",)), settings, sent.append, lambda: False)
    assert "unknown model" in text_of(outcome.status)
    outcome = jobs.execute_job("analyze", jobs.JobForm(runs=()), settings, sent.append, lambda: False)
    assert "choose at least one run" in text_of(outcome.status)


def test_execute_job_trains_then_ticks_and_analyses(tmp_path):
    settings = settings_in(tmp_path)
    sent = []
    outcome = jobs.execute_job(
        "train", jobs.JobForm((MODEL,), "quick", "synthetic", 1), settings, sent.append, lambda: False
    )
    assert outcome.value == [RUN] and [o["value"] for o in outcome.options] == [RUN]
    assert "not analysed" in text_of(outcome.options) and sent[-1][0] == 100.0
    outcome = jobs.execute_job("analyze", jobs.JobForm(runs=(RUN,)), settings, sent.append, lambda: False)
    assert "Analysis finished" in text_of(outcome.status) and "not analysed" not in text_of(outcome.options)


# -- in the browser --------------------------------------------------------------------------------
def click_label(dash_duo, container: str, text: str) -> None:
    """Click the label of a checklist or radio item whose text starts with ``text``."""
    labels = dash_duo.find_elements(f"#{container} label")
    next(label for label in labels if label.text.strip().startswith(text)).click()


def wait_for_text(dash_duo, selector: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in dash_duo.find_element(selector).text:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{selector} never showed {text!r}; it shows {dash_duo.find_element(selector).text!r}"
                f"; log: {dash_duo.find_element('#' + jobs.LOG_ID).get_attribute('textContent')!r}"
            )
        time.sleep(0.2)


def test_train_then_analyse_from_the_page(dash_duo, tmp_path):
    settings = settings_in(tmp_path)
    dash_duo.start_server(create_app(settings))
    dash_duo.driver.get(dash_duo.server_url + jobs.PATH)
    dash_duo.wait_for_contains_text(f"#{jobs.RUNS_ID}", "", timeout=10)
    dash_duo.wait_for_contains_text("#_pages_content", "No runs yet")

    click_label(dash_duo, jobs.MODELS_ID, "BaseCNN×0.25")
    click_label(dash_duo, jobs.PROFILE_ID, "quick")
    dash_duo.wait_for_contains_text(f"#{jobs.PROFILE_HELP_ID}", "2 epochs")
    click_label(dash_duo, jobs.DATASET_ID, "synthetic")
    dash_duo.find_element(f"#{jobs.EPOCHS_ID}").send_keys("1")
    dash_duo.find_element(f"#{jobs.TRAIN_ID}").click()

    wait_for_text(dash_duo, f"#{jobs.STATUS_ID}", "Training finished")
    assert (settings.runs_dir / RUN / "model.pt").is_file(), "the job did not train into the app's runs folder"
    dash_duo.wait_for_contains_text(f"#{jobs.RUNS_ID}", RUN)
    assert "not analysed" in dash_duo.find_element(f"#{jobs.RUNS_ID}").text
    assert dash_duo.find_element(f"#{jobs.BAR_ID} .progress-bar").text.strip() == "100 %"
    assert "epoch 1/1" in dash_duo.find_element(f"#{jobs.LOG_ID}").get_attribute("textContent")
    assert dash_duo.find_element(f"#{jobs.TRAIN_ID}").is_enabled()
    assert not dash_duo.find_element(f"#{jobs.CANCEL_ID}").is_enabled()
    assert f"runs={RUN}" in dash_duo.driver.current_url  # the new run is ticked, and the link says so
    dash_duo.wait_for_contains_text(f"#{jobs.BANNER_ID}", "synthetic")

    dash_duo.find_element(f"#{jobs.ANALYSE_ID}").click()
    wait_for_text(dash_duo, f"#{jobs.STATUS_ID}", "Analysis finished")
    wait_for_text(dash_duo, f"#{jobs.RUNS_ID}", "analysed", timeout=5)
    assert "not analysed" not in dash_duo.find_element(f"#{jobs.RUNS_ID}").text
    assert dash_duo.get_logs() == [], "the browser console logged errors"


def test_a_link_ticks_its_run_and_a_bad_one_says_so(dash_duo, analysed_runs, tmp_path):
    runs_dir, cache_dir = analysed_runs
    dash_duo.start_server(create_app(Settings(runs_dir=runs_dir, cache_dir=cache_dir, data_dir=tmp_path)))
    dash_duo.driver.get(dash_duo.server_url + jobs.PATH + "?runs=shallow-quick-synthetic")
    dash_duo.wait_for_contains_text(f"#{jobs.RUNS_ID}", "shallow-quick-synthetic")
    checked = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].filter(i => i.checked).length;", f"#{jobs.RUNS_ID} input"
    )
    assert checked == 1
    dash_duo.wait_for_contains_text(f"#{jobs.BANNER_ID}", "synthetic")
    dash_duo.driver.get(dash_duo.server_url + jobs.PATH + "?run=../../etc/passwd")
    dash_duo.wait_for_contains_text(f"#{jobs.LINK_MESSAGE_ID}", "../../etc/passwd")
    assert dash_duo.get_logs() == []


def test_a_missing_dataset_is_shown_as_a_message(dash_duo, tmp_path):
    dash_duo.start_server(create_app(settings_in(tmp_path)))
    dash_duo.driver.get(dash_duo.server_url + jobs.PATH)
    click_label(dash_duo, jobs.MODELS_ID, "BaseCNN×0.25")
    click_label(dash_duo, jobs.DATASET_ID, "cifar10")
    dash_duo.find_element(f"#{jobs.TRAIN_ID}").click()
    wait_for_text(dash_duo, f"#{jobs.STATUS_ID}", "Training refused", timeout=30)
    assert "cifar" in dash_duo.find_element(f"#{jobs.STATUS_ID}").text.lower()
    assert not (tmp_path / "runs").exists()


def test_a_sweep_link_ticks_its_trained_runs_for_analysis(quick_runs_dir, tmp_path):
    import shutil

    from analysis.runs.store import RunStore
    from analysis.sweeps import new_sweep, record_sweep
    from app.config import Settings
    from app.main import create_app
    from tests.app.helpers import text_of, walk

    runs = shutil.copytree(quick_runs_dir, tmp_path / "runs")
    planned = [("shallow", 0, "shallow-quick-synthetic"), ("shallow", 1, "shallow-quick-synthetic-seed1")]
    record_sweep(RunStore(runs), new_sweep("pair", planned, "quick", "synthetic"))
    app = create_app(Settings(runs_dir=runs))
    with app.server.app_context():
        page = jobs.layout(sweep="pair")
    picker = next(c for c in walk(page) if getattr(c, "id", None) == jobs.RUNS_ID)
    assert picker.value == ["shallow-quick-synthetic"]
    text = text_of(page)
    assert "Not trained yet (sweep pair)" in text and "shallow-quick-synthetic-seed1" in text
