"""Dashboard latency: each page's first view and its callbacks, over HTTP, on analysed runs.

Serves the app (``python -m app`` on a free loopback port) over a runs folder and a cache where
the runs are already analysed, then for every page:
- the **first view**: Dash's page-router callback (``_dash-update-component`` rendering
  ``layout(**query)``) on a fresh server, i.e. cached-but-not-yet-in-memory results;
- **warm** requests: the router again, then every server-side callback of the page whose inputs
  are in the rendered layout, replayed with the layout's own values, ``--repeats`` times each.
It prints p50/p95 per page and, last, the worst warm p95. Targets: warm p95 < 100 ms, first
view < 1 s. Requests go to 127.0.0.1 only, bounded in number; the server is stopped at the end.

Usage: python bench/app_latency.py --runs runs --cache cache [--repeats 20]
(first: python -m analysis train --model all --profile demo && python -m analysis analyze --run all)
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("/", "/redundancy", "/edges", "/similarity", "/explorer", "/evolution", "/jobs")
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_outputs(output: str) -> list[dict[str, str]]:
    """Dash's output string (``id.prop`` or ``..a.p...b.q..``) as the renderer's ``outputs`` list."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]} for part in parts]


def index_components(tree: Any, found: dict[str, dict]) -> dict[str, dict]:
    """Every component with a string id in a serialised layout, by id (its props)."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict):
            if isinstance(props.get("id"), str):
                found[props["id"]] = props
            for value in props.values():
                index_components(value, found)
    elif isinstance(tree, list):
        for item in tree:
            index_components(item, found)
    return found


def timed_post(session: requests.Session, url: str, payload: dict) -> tuple[float, int]:
    start = time.perf_counter()
    response = session.post(url, json=payload, timeout=120)
    return time.perf_counter() - start, response.status_code


def router_payload(path: str, search: str) -> dict:
    return {
        "output": ROUTER_OUTPUT,
        "outputs": parse_outputs(ROUTER_OUTPUT),
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": path},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }


def page_callbacks(dependencies: list[dict], components: dict[str, dict]) -> list[dict]:
    """Payloads replaying the page's server-side callbacks with the values its layout holds."""
    payloads = []
    for dep in dependencies:
        if dep.get("clientside_function") or dep.get("background") or not dep.get("inputs"):
            continue
        items = dep["inputs"] + dep.get("state", [])
        if not all(isinstance(i["id"], str) and i["id"] in components for i in items):
            continue
        if any(isinstance(o["id"], str) and o["id"].startswith("_pages") for o in parse_outputs(dep["output"])):
            continue

        def value(item: dict) -> dict:
            return {**item, "value": components[item["id"]].get(item["property"])}

        outputs = parse_outputs(dep["output"])
        payloads.append(
            {
                # As the renderer sends it: a list for a multi-output callback, one object otherwise.
                "output": dep["output"],
                "outputs": outputs if dep["output"].startswith("..") else outputs[0],
                "inputs": [value(i) for i in dep["inputs"]],
                "state": [value(s) for s in dep.get("state", [])],
                "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"],
            }
        )
    return payloads


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--cache", default="cache")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    port = free_port()
    env = {
        **os.environ,
        "CNNCMP_RUNS_DIR": args.runs,
        "CNNCMP_CACHE_DIR": args.cache,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "CNNCMP_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = session.get(base + "/health", timeout=2).json()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the app did not start") from None
                time.sleep(0.5)
        session.get(base + "/", timeout=30)  # the first request registers the page router
        dependencies = session.get(base + "/_dash-dependencies", timeout=30).json()
        print(f"{health['runs']} runs in {args.runs}; {args.repeats} warm requests per callback; CPU, 1 process")
        print(
            "these are repeats of one request, which the response cache answers (cache hits, server side only);"
            " bench/interaction_latency.py times new values rendered in the browser"
        )
        update = base + "/_dash-update-component"
        worst, errors = 0.0, 0
        for path in PAGES:
            first, status = timed_post(session, update, router_payload(path, ""))
            errors += status != 200
            response = session.post(update, json=router_payload(path, ""), timeout=120)
            layout = response.json()["response"]["_pages_content"]["children"]
            payloads = page_callbacks(dependencies, index_components(layout, {}))
            warm = []
            for repeat in range(args.repeats):
                for payload in [router_payload(path, ""), *payloads]:
                    seconds, status = timed_post(session, update, payload)
                    warm.append(seconds)
                    if status not in (200, 204):
                        errors += 1
                        if repeat == 0:
                            print(f"  HTTP {status} from {path} callback {payload['output'][:80]}")
            p50, p95 = percentile(warm, 0.5), percentile(warm, 0.95)
            worst = max(worst, p95)
            print(
                f"{path:<12} first view {first * 1000:7.0f} ms | warm p50 {p50 * 1000:6.0f} ms, "
                f"p95 {p95 * 1000:6.0f} ms over {len(warm)} requests ({len(payloads)} callbacks)"
            )
        print(f"HTTP errors: {errors}")
        print(f"worst warm p95: {worst * 1000:.0f} ms (target < 100 ms)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
