"""Interaction latency as a user feels it: time until the page is fully rendered in headless Chromium.

Serves the app (``python -m app``, the response cache on as shipped) on a free loopback port over runs
that are already analysed, then drives Chromium at 1600×1000:

- every page's **first view** in a fresh browser (a new browser profile each time): from navigation
  start to the last change of the page's DOM (plotly drawing included), once nothing is loading;
- each page's **main interactions**, every one with a *new* value (so the response cache cannot
  answer it): a control is set through ``dash_clientside.set_props`` (what a click or a slider
  drag does), and the time runs to the last DOM change once nothing is loading.

"Rendered" is measured in the page: a MutationObserver stamps the last change of the document, Dash
marks components it is updating with ``data-dash-is-loading``, and a run counts as done when nothing
is loading and the document has been still for ``--settle`` ms (the settle time is not counted).

It prints p50/p95 per page and interaction, and last the worst, against the targets (every
interaction p95 ≤ 400 ms, every first view ≤ 1.5 s). Only 127.0.0.1 is contacted; the server and
browsers are stopped at the end.

Usage: python bench/interaction_latency.py --runs runs --cache cache [--repeats 5]
(first: make train analyze, or python -m analysis train --model all --profile demo; analyze --run all)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.headless import browser, free_port, start_server  # noqa: E402 - after the path is set

FIRST_VIEW_TARGET_MS = 1500.0
INTERACTION_TARGET_MS = 400.0

# Installed once per page load: stamps the time of the last DOM change.
OBSERVER_JS = """
if (!window.__bench) {
  window.__bench = {last: performance.now()};
  new MutationObserver(() => { window.__bench.last = performance.now(); })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
}
"""
STATE_JS = """
const loading = document.querySelectorAll('[data-dash-is-loading="true"]').length;
const spinners = document.querySelectorAll('._dash-loading, .dash-spinner').length;
return {now: performance.now(), last: window.__bench ? window.__bench.last : 0, loading: loading + spinners,
        plots: document.querySelectorAll('.js-plotly-plot').length};
"""


class Interaction(NamedTuple):
    """One kind of user action on a page: set ``prop`` of ``component`` to each of ``values`` in turn."""

    label: str
    component: Any  # an id (string or pattern dict)
    prop: str
    values: Callable[[dict[str, Any]], list[Any]]  # from the page's first-view state → new values to set


def wait_rendered(driver: Any, since: float, settle_ms: float, timeout_s: float = 60.0) -> float:
    """Milliseconds from ``since`` (performance.now() time) to the last DOM change, once all is still."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = driver.execute_script(STATE_JS)
        if state["loading"] == 0 and state["last"] > since and state["now"] - state["last"] >= settle_ms:
            return state["last"] - since
        time.sleep(0.05)
    raise TimeoutError("the page did not settle")


def first_view(url: str, settle_ms: float) -> float:
    """A fresh browser opens ``url``: ms from navigation start until the page is drawn and still."""
    profile = tempfile.mkdtemp(prefix="bench-chrome-")
    driver = browser(profile)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER_JS})
        driver.get(url)
        return wait_rendered(driver, 0.0, settle_ms)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def interact(driver: Any, interaction: Interaction, value: Any, settle_ms: float) -> float:
    """Set the control to ``value`` as a user would; ms until the page is drawn and still."""
    since = driver.execute_script(
        "const t = performance.now(); window.dash_clientside.set_props(arguments[0], {[arguments[1]]: arguments[2]});"
        " return t;",
        interaction.component,
        interaction.prop,
        value,
    )
    return wait_rendered(driver, since, settle_ms)


def component_value(driver: Any, component: Any, prop: str) -> Any:
    """A control's current value, read from the DOM Dash rendered (inputs, checklists, sliders)."""
    dom_id = component if isinstance(component, str) else json.dumps(component, separators=(",", ":"), sort_keys=True)
    return driver.execute_script(
        "const el = document.getElementById(arguments[0]); if (!el) return null;"
        "const checked = [...el.querySelectorAll('input[type=checkbox]')].filter(i => i.checked).map(i => i.value);"
        "if (el.querySelector('input[type=checkbox]')) return checked;"
        "const input = el.tagName === 'INPUT' || el.tagName === 'SELECT' ? el : el.querySelector('input,select');"
        "return input ? input.value : null;",
        dom_id,
    )


def cycle(values: list[Any], count: int) -> Iterator[Any]:
    """``count`` values, each different from the one before (a repeat would be a response-cache hit)."""
    for index in range(count):
        yield values[index % len(values)]


def page_plan(runs: list[str]) -> dict[str, tuple[str, list[Interaction]]]:
    """Per page: the path with its link, and the interactions to time (ids from the page modules)."""
    import app.main  # noqa: F401 - a page module registers itself on an app, so one must exist first
    from app.pages import edges, evolution, explorer, overview, redundancy, review, similarity

    chosen = ",".join(runs)
    subsets = [runs[:n] for n in range(len(runs), 0, -1)] + [runs[1:], runs[::2], runs[1::2]]
    subsets = [s for s in subsets if s]
    depths = [0.1, 0.9, 0.3, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6, 0.0, 1.0]
    pairs = [(a, b) for a in runs for b in runs if a != b]
    plan = {
        "review": (
            f"/?runs={chosen}",
            [
                Interaction("diff pair", review.DIFF_B_ID, "value", lambda _: [b for _, b in pairs]),
                Interaction("ablation run", review.ABLATION_PICKER_ID, "value", lambda _: runs),
                Interaction("tick runs", review.PICKER_ID, "value", lambda _: subsets),
            ],
        ),
        "models": (
            f"/models?runs={chosen}",
            [Interaction("tick runs", overview.PICKER_ID, "value", lambda _: subsets)],
        ),
        "redundancy": (
            f"/redundancy?runs={chosen}",
            [
                Interaction("layer by depth", redundancy.DEPTH_ID, "value", lambda _: depths),
                Interaction("tick runs", redundancy.PICKER_ID, "value", lambda _: subsets),
            ],
        ),
        "edges": (
            f"/edges?runs={chosen}",
            [
                Interaction("threshold", edges.THRESHOLD_ID, "value", lambda _: [0.05, 0.3, 0.1, 0.5, 0.15, 0.4]),
                Interaction("tick runs", edges.PICKER_ID, "value", lambda _: subsets),
            ],
        ),
        "similarity": (
            f"/similarity?runs={runs[0]},{runs[1]}" if len(runs) > 1 else f"/similarity?runs={runs[0]}",
            [Interaction("run B", similarity.RUN_B_ID, "value", lambda _: [b for _, b in pairs] or runs)],
        ),
        "explorer": (
            f"/explorer?runs={chosen}",
            [
                Interaction("next image", explorer.IMAGE_ID, "value", lambda _: list(range(1, 60))),
                Interaction(
                    "layer by depth",
                    getattr(explorer, "DEPTH_ID", getattr(explorer, "LAYER_ID", "")),
                    "value",
                    lambda _: depths,
                ),
            ],
        ),
        "evolution": (
            f"/evolution?runs={chosen}",
            [
                Interaction(
                    "health metric",
                    evolution.METRIC_ID,
                    "value",
                    lambda _: ["grad_norm", "weight_norm", "dead_fraction"],
                ),
                Interaction("tick runs", evolution.PICKER_ID, "value", lambda _: subsets),
            ],
        ),
    }
    return plan


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--cache", default="cache")
    parser.add_argument("--repeats", type=int, default=5, help="timed values per interaction (each a new one)")
    parser.add_argument("--first-views", type=int, default=2, help="fresh-browser first views per page")
    parser.add_argument("--settle", type=float, default=400.0, help="ms the document must be still to count as done")
    parser.add_argument("--pages", nargs="*", default=None, help="only these pages (names as printed)")
    args = parser.parse_args()

    from analysis.runs.store import RunStatus, RunStore

    store = RunStore(args.runs)
    runs = [row["name"] for row in store.list_runs() if RunStatus.of(row).has_weights]
    if not runs:
        raise SystemExit(f"no finished runs in {args.runs}: train and analyse the demo family first")
    port = free_port()
    server = start_server(args.runs, args.cache, port)
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str, list[float], float]] = []
    try:
        for page, (path, interactions) in page_plan(runs).items():
            if args.pages and page not in args.pages:
                continue
            views = [first_view(base + path, args.settle) for _ in range(args.first_views)]
            rows.append((page, "first view (fresh browser)", views, FIRST_VIEW_TARGET_MS))
            profile = tempfile.mkdtemp(prefix="bench-chrome-")
            driver = browser(profile)
            try:
                driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER_JS})
                driver.get(base + path)
                wait_rendered(driver, 0.0, args.settle)
                for interaction in interactions:
                    current = component_value(driver, interaction.component, interaction.prop)
                    values = [v for v in interaction.values({}) if v != current]
                    times = [interact(driver, interaction, value, args.settle) for value in cycle(values, args.repeats)]
                    rows.append((page, interaction.label, times, INTERACTION_TARGET_MS))
            finally:
                driver.quit()
                shutil.rmtree(profile, ignore_errors=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(
        f"{len(runs)} runs from {args.runs}; rendered in headless Chromium at 1600×1000; "
        f"each interaction {args.repeats} new values, settle {args.settle:g} ms (not counted)"
    )
    print(f"{'page':<12} {'what':<28} {'p50 ms':>8} {'p95 ms':>8} {'target':>8}  verdict")
    worst = None
    for page, what, times, target in rows:
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        verdict = "ok" if p95 <= target else f"misses by {p95 - target:.0f} ms"
        print(f"{page:<12} {what:<28} {p50:>8.0f} {p95:>8.0f} {target:>8.0f}  {verdict}")
        ratio = p95 / target
        if worst is None or ratio > worst[0]:
            worst = (ratio, page, what, p95, target)
    if worst:
        ratio, page, what, p95, target = worst
        print(f"worst: {page} · {what}: p95 {p95:.0f} ms against {target:.0f} ms ({ratio:.2f}× the target)")


if __name__ == "__main__":
    main()
