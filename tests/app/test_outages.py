"""Redis or the bucket going down while the dashboard serves: a clear message, what is in memory still shows,
and everything comes back without a restart."""

from __future__ import annotations

import shutil

import diskcache

import app.main  # noqa: F401 - builds the module-level app, which registers the pages imported next
from analysis.cache import RedisStore
from analysis.runs.store import RunStore
from app.analysis_access import analyzer
from app.config import Settings
from app.main import create_app
from app.pages import jobs, overview
from tests.app.helpers import text_of
from tests.services import RedisServer, S3Server

BASE, SHALLOW = "base-quick-synthetic", "shallow-quick-synthetic"


def page_text(dashboard, module, path: str, **query) -> str:
    with dashboard.server.test_request_context(path):
        return text_of(module.layout(**query))


def copy_cache_to_redis(cache_dir, url: str) -> None:
    """The analysed quick runs' results, moved into Redis as a worker would have written them."""
    source, target = diskcache.Cache(str(cache_dir)), RedisStore(url)
    for key in source:
        if isinstance(key, str) and ":" in key:
            target.set(key, source[key])
    source.close()


def upload_runs(runs_dir, runs_url: str) -> None:
    """The main files of every run in ``runs_dir``, copied into the bucket at ``runs_url``."""
    local, remote = RunStore(runs_dir), RunStore(runs_url)
    for name in local.names():
        for file in ("run.json", "history.jsonl", "model.pt"):
            remote.artifacts.write_bytes(f"{name}/{file}", local.read_bytes(name, file))


def test_redis_down_then_back(analysed_runs, tmp_path):
    runs_dir, cache_dir = analysed_runs
    server = RedisServer(tmp_path / "redis", durable=True)
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        copy_cache_to_redis(cache_dir, server.url)
        settings = Settings(
            runs_dir=str(runs_dir), cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", redis_url=server.url
        )
        dashboard = create_app(settings)
        client = dashboard.server.test_client()
        assert "unreachable" not in page_text(dashboard, jobs, "/jobs")
        shown = analyzer(settings).clusters(BASE)  # a page showed BASE's matrices: they are in this process now

        server.stop()
        text = page_text(dashboard, jobs, "/jobs")
        assert "A shared service is unreachable" in text and f"127.0.0.1:{server.port}" in text
        assert "Nothing needs a restart" in text
        assert analyzer(settings).clusters(BASE) is shown, "results in memory must still serve"
        assert BASE in page_text(dashboard, overview, "/")  # the runs themselves are on this machine's disk
        health = client.get("/health")
        assert health.status_code == 200 and health.json["status"] == "degraded"

        server.start()  # the same Redis comes back with its data; the app was never restarted
        assert "unreachable" not in page_text(dashboard, jobs, "/jobs")
        assert analyzer(settings).clusters(SHALLOW)["layer_names"]
        assert client.get("/health").json["status"] == "ok"
    finally:
        server.stop()


def test_bucket_down_then_back(analysed_runs, tmp_path):
    runs_dir, cache_dir = analysed_runs
    bucket = S3Server(bucket="outage").start()
    try:
        import os

        os.environ.update(bucket.env())
        runs_url = bucket.url("runs")
        upload_runs(runs_dir, runs_url)
        shutil.copytree(cache_dir, tmp_path / "cache")
        settings = Settings(runs_dir=runs_url, cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
        dashboard = create_app(settings)
        assert BASE in page_text(dashboard, overview, "/")
        shown = analyzer(settings).clusters(BASE)

        bucket.stop()
        text = page_text(dashboard, jobs, "/jobs")
        assert "A shared service is unreachable" in text and "runs store is unreachable" in text
        assert BASE in page_text(dashboard, overview, "/"), "runs this process has listed stay listed"
        assert analyzer(settings).clusters(BASE)["layer_names"] == shown["layer_names"]
        never_listed = Settings(runs_dir=bucket.url("never-listed"), cache_dir=tmp_path / "cache")
        text = page_text(create_app(never_listed), overview, "/")
        assert "could not be built" in text and "cannot list s3://outage/never-listed" in text, text

        bucket.process = None
        restarted = S3Server(bucket="outage")
        restarted.port, restarted.endpoint = bucket.port, bucket.endpoint
        restarted.start()  # moto starts empty: put the runs back, as a bucket that comes back would have them
        upload_runs(runs_dir, runs_url)
        assert "unreachable" not in page_text(dashboard, jobs, "/jobs")
        bucket = restarted
    finally:
        bucket.stop()
