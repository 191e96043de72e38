"""Repeated callback requests answered from memory, and only while the runs and the analysis cache are unchanged."""

from __future__ import annotations

import json
import os
import shutil

import app.main  # noqa: F401 - builds the module-level app, which registers the pages
from app.config import Settings
from app.main import create_app
from app.response_cache import EXTENSION, cacheable

ROUTER = ".._pages_content.children..._pages_store.data.."


def router_body(path: str, search: str = "") -> dict:
    return {
        "output": ROUTER,
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }


def test_a_repeat_is_served_from_memory_until_a_run_changes(analysed_runs, tmp_path):
    source, cache = analysed_runs
    shutil.copytree(source, tmp_path / "runs")
    dashboard = create_app(Settings(runs_dir=str(tmp_path / "runs"), cache_dir=cache, data_dir=tmp_path))
    client, memory = dashboard.server.test_client(), dashboard.server.extensions[EXTENSION]
    post = lambda body: client.post("/_dash-update-component", json=body)  # noqa: E731 - a short alias
    first = post(router_body("/models", "?models=base-quick-synthetic"))
    assert first.status_code == 200 and memory.hits == 0
    again = post(router_body("/models", "?models=base-quick-synthetic"))
    assert again.status_code == 200 and again.data == first.data and memory.hits == 1
    assert post(router_body("/models", "?models=shallow-quick-synthetic")).status_code == 200 and memory.hits == 1

    meta = tmp_path / "runs" / "base-quick-synthetic" / "run.json"
    changed = json.loads(meta.read_text())
    changed["title"] = "Renamed BaseCNN"
    meta.write_text(json.dumps(changed))
    os.utime(meta, ns=(meta.stat().st_atime_ns, meta.stat().st_mtime_ns + 10**9))
    fresh = post(router_body("/models", "?models=base-quick-synthetic"))
    assert memory.hits == 1 and b"Renamed BaseCNN" in fresh.data, "a changed run must not be served from memory"


def test_jobs_and_background_requests_are_never_cached():
    assert not cacheable(router_body("/jobs"))
    assert not cacheable({"output": "jobs-status.children", "inputs": []})
    assert not cacheable({"output": "x.children", "inputs": ["not a dict"]})
    assert cacheable(router_body("/redundancy", "?models=a"))
