"""Helpers shared by the app tests: searching a component tree, waiting on the browser."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import plotly.utils
from selenium.common.exceptions import StaleElementReferenceException


def wait_until(condition: Callable[[], object], timeout: float = 15, message: str = "condition") -> None:
    """Poll ``condition`` until it is true; an element replaced by a re-render while read counts as 'not yet'."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except StaleElementReferenceException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.1)


def text_of(component: Any) -> str:
    """Every string in a Dash component tree (props included), as one JSON text to search in."""
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


def plot_title(dash_duo: Any, selector: str) -> str:
    """The title text of the plotly graph at ``selector`` as the browser drew it ('' before it is drawn)."""
    return dash_duo.driver.execute_script(
        "const g = document.querySelector(arguments[0]); return g && g.layout && g.layout.title "
        "? g.layout.title.text : '';",
        selector,
    )


def wait_for_title(dash_duo: Any, selector: str, words: str, timeout: float = 20) -> None:
    """Wait until the graph at ``selector`` has ``words`` in its title."""
    deadline = time.monotonic() + timeout
    while words not in plot_title(dash_duo, selector):
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} title is {plot_title(dash_duo, selector)!r}, expected {words!r}")
        time.sleep(0.1)


def font_sizes(figure: Any) -> list[float]:
    """Every font size a plotly figure sets (layout, axes, titles, annotations, traces): none may be under 12 px."""
    sizes: list[float] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            if key.endswith("font") and isinstance(node.get("size"), (int, float)):
                sizes.append(float(node["size"]))
            for name, value in node.items():
                walk(value, name)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value, key)

    walk(figure.to_plotly_json())
    return sizes


def walk(component: Any):
    """Every component in a Dash tree, the root first."""
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from walk(child)
