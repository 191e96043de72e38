"""The Heroku-style deployment end to end: a web process and a Celery worker that share only Redis and a bucket.

Both run as the Procfile starts them (gunicorn with 2 workers; ``celery -A app.worker worker``),
each in its own folder with its own cache and data folders, so nothing reaches the other through
a disk: runs go to the S3 bucket (moto on loopback), results and jobs through Redis.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest

import app.main  # noqa: F401 - builds the module-level app, which registers the pages imported next
from app.pages import jobs, redundancy
from tests.app.helpers import wait_until
from tests.app.test_jobs import RUN, click_label, wait_for_text
from tests.services import Process, celery_worker, gunicorn

pytestmark = [pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning"), pytest.mark.timeout(600)]


class Deployment(NamedTuple):
    url: str
    web_folder: Path
    worker_folder: Path
    runs_url: str
    shared_env: dict[str, str]  # what every process of the deployment shares: Redis and the bucket
    worker: Process


def start_worker(shared_env: dict[str, str], folder: Path) -> Process:
    """A Celery worker in ``folder``, with its own cache and data folders and only ``shared_env`` in common."""
    return celery_worker(
        folder, {**shared_env, "CNNCMP_CACHE_DIR": str(folder / "cache"), "CNNCMP_DATA_DIR": str(folder / "data")}
    )


@pytest.fixture
def deployment(redis_server, s3_server, tmp_path):
    """A web process and a worker on a fresh prefix of the bucket, sharing Redis and nothing else."""
    runs_url = s3_server.url(f"runs-{tmp_path.name}")
    shared = {**s3_server.env(), "REDIS_URL": redis_server.url, "CNNCMP_RUNS_DIR": runs_url}
    web_folder, worker_folder = tmp_path / "web", tmp_path / "worker"
    processes = []
    try:
        worker = start_worker(shared, worker_folder)
        processes.append(worker)
        web, url = gunicorn(
            web_folder,
            {**shared, "CNNCMP_CACHE_DIR": str(web_folder / "cache"), "CNNCMP_DATA_DIR": str(web_folder / "data")},
        )
        processes.append(web)
        yield Deployment(url, web_folder, worker_folder, runs_url, shared, worker)
    finally:
        logs = {process.name: process.log() for process in processes}
        for process in processes:
            process.kill()
        print("\n".join(f"--- {name} log ---\n{text}" for name, text in logs.items()))


def start_training(dash_br, url: str, model: str, epochs: int) -> None:
    """Open the Jobs page and start training ``model`` (its label) with the quick profile on synthetic data."""
    dash_br.driver.get(url + jobs.PATH)
    dash_br.wait_for_element(f"#{jobs.MODELS_ID} label")
    click_label(dash_br, jobs.MODELS_ID, model)
    click_label(dash_br, jobs.PROFILE_ID, "quick")
    click_label(dash_br, jobs.DATASET_ID, "synthetic")
    dash_br.find_element(f"#{jobs.EPOCHS_ID}").send_keys(str(epochs))
    dash_br.find_element(f"#{jobs.TRAIN_ID}").click()


def test_web_and_worker_share_only_redis_and_the_bucket(dash_br, deployment):
    url, web_folder, worker_folder, runs_url = deployment[:4]
    health = json.load(urllib.request.urlopen(url + "/health", timeout=10))
    assert health["status"] == "ok" and health["jobs"] == "celery" and health["cache"] == "redis", health

    start_training(dash_br, url, "BaseCNN×0.25", epochs=1)
    wait_for_text(dash_br, f"#{jobs.STATUS_ID}", "Training finished", timeout=240)
    dash_br.wait_for_contains_text(f"#{jobs.RUNS_ID}", RUN)
    assert "epoch 1/1" in dash_br.find_element(f"#{jobs.LOG_ID}").get_attribute("textContent")

    dash_br.find_element(f"#{jobs.ANALYSE_ID}").click()
    wait_for_text(dash_br, f"#{jobs.STATUS_ID}", "Analysis finished", timeout=240)
    wait_for_text(dash_br, f"#{jobs.RUNS_ID}", "analysed", timeout=10)

    # The web process shows what the worker made: the run from the bucket, its results from Redis.
    dash_br.driver.get(f"{url}/redundancy?models={RUN}")
    dash_br.wait_for_contains_text(f"#{redundancy.BANNER_ID}", "synthetic", timeout=30)
    wait_until(
        lambda: len(dash_br.find_elements(f"#{redundancy.PANELS_ID} .js-plotly-plot")) == 1,
        timeout=30,
        message="the run's cluster matrix",
    )
    dash_br.driver.get(f"{url}/models?models={RUN}")
    dash_br.wait_for_contains_text("#overview-table", RUN, timeout=30)
    assert dash_br.get_logs() == [], "the browser console logged errors"

    # Nothing went through a disk: neither folder holds a run; the bucket holds it all.
    for folder in (web_folder, worker_folder):
        assert not list(folder.rglob("*.pt")) and not list(folder.rglob("run.json")), folder
    from analysis.runs.store import RunStore

    store = RunStore(runs_url)
    assert store.names() == [RUN]
    assert store.has_file(RUN, "model.pt") and store.has_file(RUN, "last.pt")


def _history(runs_url: str) -> list[dict]:
    from analysis.runs.store import RunStore

    store = RunStore(runs_url)
    return store.read_history(RUN) if store.exists(RUN) else []


def test_a_killed_worker_loses_at_most_the_epoch_it_was_in(dash_br, deployment, tmp_path):
    """SIGKILL the process running a training job, then the whole worker: nothing finished is lost."""
    import signal

    import psutil

    from analysis.runs.store import RunStore

    url, runs_url = deployment.url, deployment.runs_url
    worker = psutil.Process(deployment.worker.process.pid)
    epochs = 40
    start_training(dash_br, url, "BaseCNN×0.25", epochs)
    wait_until(lambda: len(_history(runs_url)) >= 2, timeout=180, message="two epochs")

    # 1. The pool process dies mid-job: Celery puts the job back on the queue, the new pool process resumes it.
    child = worker.children()[0]
    done_before = len(_history(runs_url))
    child.send_signal(signal.SIGKILL)
    wait_until(lambda: len(_history(runs_url)) > done_before + 1, timeout=180, message="training to go on")
    log = dash_br.find_element(f"#{jobs.LOG_ID}").get_attribute("textContent")
    resumed_at = [
        int(line.split("resuming at epoch ")[1].split("/")[0])
        for line in log.splitlines()
        if "resuming at epoch" in line
    ]
    assert resumed_at and resumed_at[-1] >= done_before, (log, done_before)

    # 2. The whole worker dies: the run shows as interrupted, and a new worker resumes it when asked.
    done_before = len(_history(runs_url))
    for process in [worker, *worker.children()]:
        process.send_signal(signal.SIGKILL)
    # SIGKILL lands asynchronously: the trainer's process may answer for a moment yet.
    wait_until(
        lambda: RunStore(runs_url).summary(RUN)["status"] == "interrupted",
        timeout=30,
        message="the run to show as interrupted",
    )
    assert "resume" in RunStore(runs_url).summary(RUN)["problem"]
    dash_br.driver.get(url + jobs.PATH)
    dash_br.wait_for_contains_text(f"#{jobs.RUNS_ID}", "interrupted", timeout=30)
    before = _history(runs_url)

    replacement = start_worker(deployment.shared_env, tmp_path / "worker2")
    try:
        start_training(dash_br, url, "BaseCNN×0.25", epochs)
        wait_for_text(dash_br, f"#{jobs.STATUS_ID}", "Training finished", timeout=300)
    finally:
        replacement.kill()
    after = _history(runs_url)
    assert [row["epoch"] for row in after] == list(range(1, epochs + 1))
    assert len(before) >= done_before - 1 and after[: len(before)] == before, "a finished epoch was lost or rewritten"
    assert RunStore(runs_url).summary(RUN)["status"] == "complete"


def test_two_workers_train_two_models_of_the_family_at_once(dash_br, deployment, tmp_path):
    """Two jobs started from two browser tabs run on two workers at the same time, each writing to the bucket."""
    import datetime as dt

    from analysis.runs.store import RunStore

    url, runs_url = deployment.url, deployment.runs_url
    second = start_worker(deployment.shared_env, tmp_path / "worker2")
    try:
        tabs = []
        for model in ("BaseCNN×0.25", "BaseCNN×0.5"):
            if tabs:
                dash_br.driver.switch_to.new_window("tab")
            tabs.append(dash_br.driver.current_window_handle)
            start_training(dash_br, url, model, epochs=12)
        for tab in tabs:
            dash_br.driver.switch_to.window(tab)
            wait_for_text(dash_br, f"#{jobs.STATUS_ID}", "Training finished", timeout=300)
    finally:
        second.kill()

    store = RunStore(runs_url)
    metas = [store.read_meta(name) for name in ("base_x0.25-quick-synthetic", "base_x0.5-quick-synthetic")]
    assert all(meta["status"] == "complete" for meta in metas)
    assert metas[0]["trainer"]["pid"] != metas[1]["trainer"]["pid"], "both models trained by one process"
    spans = [(dt.datetime.fromisoformat(m["created"]), dt.datetime.fromisoformat(m["updated"])) for m in metas]
    assert max(s for s, _ in spans) <= min(e for _, e in spans), f"the trainings did not overlap: {spans}"
