"""Review figures: test error against cost with the Pareto front, and one run's ablation results.

Both read the dictionaries of :meth:`analysis.pipeline.RunAnalyzer.review` and
:meth:`~analysis.pipeline.RunAnalyzer.ablation`: errors and error changes are fractions, intervals
``[low, high]`` (95 %), costs counts. Titles name the data, since an exported figure travels alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from app.figures.common import FIGURE_FONT, MUTED, empty_figure, short_names

#: The cost axes of the Pareto plot: key in the review's rows → axis title.
COST_AXES = {"flops": "FLOPs per image (log scale)", "params": "parameters (log scale)"}
COST_WORDS = {"flops": "FLOPs", "params": "parameters"}
REMOVED_COLOUR = "#c0392b"
MERGED_COLOUR = "#2c7fb8"
DEAD_COLOUR = "#7f8c8d"
RECOMMENDED_COLOUR = "#f39c12"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, Sequence) and len(value) == 2 and all(_number(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


def _layout(figure: go.Figure, title: str, height: int, top: int = 92) -> go.Figure:
    # Two-line titles sit above the plot area, clear of plotly's toolbar (which takes the top right).
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=height,
        title={"text": title, "x": 0, "xanchor": "left", "y": 0.97, "yanchor": "top", "font": {"size": 17}},
        margin={"l": 80, "r": 30, "t": top, "b": 70},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        hoverlabel={"font": {"size": 14}},
    )
    return figure


def pareto_figure(
    rows: Sequence[Mapping[str, Any]],
    recommended: str | None,
    colours: Mapping[str, str],
    data_label: str,
    cost: str = "flops",
) -> go.Figure:
    """Test error (with its 95 % interval) against ``cost`` (``flops`` or ``params``, log axis).

    The Pareto front (no other run is both cheaper and more accurate) is joined by a line; the
    recommended run is ringed and named.
    """
    points = [r for r in rows if _number(r.get(cost)) and _number(r.get("test_error")) is not None]
    if not points:
        return empty_figure("No chosen run has a test error yet: analyse the runs on the Jobs page")
    figure = go.Figure()
    front = sorted((r for r in points if r.get("on_front")), key=lambda r: float(r[cost]))
    if len(front) > 1:
        figure.add_trace(
            go.Scatter(
                x=[r[cost] for r in front],
                y=[r["test_error"] for r in front],
                mode="lines",
                line={"color": MUTED, "dash": "dot", "width": 2},
                name="Pareto front",
                hoverinfo="skip",
            )
        )
    labels = short_names([str(r["run"]) for r in points])
    # Labels alternate above and below along the cost axis, so neighbours do not print over each other.
    above = {id(r): i % 2 == 0 for i, r in enumerate(sorted(points, key=lambda r: float(r[cost])))}
    for row in points:
        name = str(row["run"])
        error = float(row["test_error"])
        interval = _interval(row.get("interval")) or (error, error)
        is_recommended = name == recommended
        figure.add_trace(
            go.Scatter(
                x=[row[cost]],
                y=[error],
                mode="markers+text",
                name=name,
                text=[f"<b>{labels[name]}</b>" if is_recommended else labels[name]],
                textposition="top center" if above[id(row)] else "bottom center",
                textfont={"size": 14},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [interval[1] - error],
                    "arrayminus": [error - interval[0]],
                    "thickness": 2,
                    "width": 6,
                },
                marker={
                    "size": 16 if is_recommended else 12,
                    "color": colours.get(name, "#888888"),
                    "symbol": "diamond" if row.get("on_front") else "circle",
                    "line": {
                        "width": 4 if is_recommended else 1,
                        "color": RECOMMENDED_COLOUR if is_recommended else "white",
                    },
                },
                hovertemplate=(
                    f"{name}<br>test error %{{y:.2%}} (95 % interval {interval[0]:.2%}–{interval[1]:.2%})"
                    f"<br>{cost} %{{x:,.0f}}<extra></extra>"
                ),
            )
        )
    _layout(
        figure,
        f"Test error against {COST_WORDS.get(cost, cost)}<br>"
        f"<span style='font-size:14px;color:{MUTED}'>{data_label}<br>"
        "diamonds: on the Pareto front · bars: 95 % Wilson intervals</span>",
        480,
        top=112,
    )
    figure.update_xaxes(type="log", title=COST_AXES.get(cost, cost), showgrid=True)
    figure.update_yaxes(title="test error", tickformat=".1%", rangemode="tozero")
    figure.update_layout(showlegend=False)
    return figure


def ablation_figure(ablation: Mapping[str, Any] | None, run: str, data_label: str) -> go.Figure:
    """Test-error change against neurons taken out, per layer: removed (zeroed) and merged into a twin.

    A point near zero says the flagged neurons are redundant in fact, not only in the picture.
    The whole model (every layer's flagged neurons at once) is drawn as a larger, labelled point.
    """
    if not ablation:
        return empty_figure(f"{run} has no ablation yet: run its analysis on the Jobs page")
    layers = [layer for layer in ablation.get("layers", ()) if _number(layer.get("n_flagged"))]
    if not layers:
        return empty_figure(f"No layer of {run} has near-duplicate neurons to remove")
    figure = go.Figure()
    series = (
        ("merged", "merged into its twin", MERGED_COLOUR, "circle"),
        ("removed", "removed (output zeroed)", REMOVED_COLOUR, "x"),
    )
    for key, label, colour, symbol in series:
        shown = [layer for layer in layers if _number(layer.get(f"{key}_error_change")) is not None]
        if not shown:
            continue
        changes = [float(layer[f"{key}_error_change"]) for layer in shown]
        intervals = [_interval(layer.get(f"{key}_interval")) or (c, c) for layer, c in zip(shown, changes)]
        figure.add_trace(
            go.Scatter(
                x=[layer["n_flagged"] for layer in shown],
                y=changes,
                mode="markers+text",
                name=label,
                text=[str(layer.get("layer")) for layer in shown],
                textposition="middle right",
                textfont={"size": 13, "color": colour},
                marker={"size": 12, "color": colour, "symbol": symbol},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [high - c for (_, high), c in zip(intervals, changes)],
                    "arrayminus": [c - low for (low, _), c in zip(intervals, changes)],
                    "color": colour,
                    "thickness": 1.5,
                },
                customdata=[[layer.get("layer"), layer.get("n_neurons"), layer.get("params_saved")] for layer in shown],
                hovertemplate=(
                    "%{customdata[0]}: %{x} of %{customdata[1]} neurons "
                    + label
                    + "<br>test error %{y:+.2%}<br>parameters saved %{customdata[2]:,}<extra></extra>"
                ),
            )
        )
    whole = ablation.get("whole_model") or {}
    merged_whole = _number(whole.get("merged_error_change"))
    if merged_whole is not None and _number(whole.get("n_flagged")):
        low, high = _interval(whole.get("merged_interval")) or (merged_whole, merged_whole)
        figure.add_trace(
            go.Scatter(
                x=[whole["n_flagged"]],
                y=[merged_whole],
                mode="markers+text",
                name="whole model, merged",
                text=["whole model"],
                textposition="top center",
                textfont={"size": 14},
                marker={"size": 18, "color": MERGED_COLOUR, "symbol": "star"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [high - merged_whole],
                    "arrayminus": [merged_whole - low],
                    "color": MERGED_COLOUR,
                },
                hovertemplate="every layer at once: %{x} neurons merged<br>test error %{y:+.2%}<extra></extra>",
            )
        )
    figure.add_hline(y=0, line={"color": MUTED, "width": 1})
    n_images = ablation.get("n_images")
    images = f" · {n_images:,} test images" if isinstance(n_images, int) else ""
    _layout(
        figure,
        f"{run}: removing its near-duplicates<br>"
        f"<span style='font-size:14px;color:{MUTED}'>{data_label}{images}<br>"
        "bars: 95 % paired intervals</span>",
        440,
        top=112,
    )
    figure.update_xaxes(title="neurons taken out", rangemode="tozero")
    figure.update_yaxes(title="change in test error", tickformat="+.1%", zeroline=False)
    return figure
