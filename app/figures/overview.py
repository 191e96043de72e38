"""Overview figures: learning curves overlaid, test error per class, and one run's confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from app.components import dataset_label
from app.figures.common import FIGURE_FONT, empty_figure
from app.figures.common import two_line_title as _title


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def learning_curves_figure(
    runs: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    colours: Mapping[str, str],
) -> go.Figure:
    """Train (dashed) and test (solid) error per epoch of each run, one colour per run.

    The title names the dataset, since an exported figure travels without the page's banner.
    """
    figure = go.Figure()
    waiting = []
    for run in runs:
        name = str(run.get("name"))
        rows = [r for r in histories.get(name, ()) if _number(r.get("epoch")) is not None]
        if not rows:
            waiting.append(name)
            continue
        colour = colours.get(name, "#888888")
        epochs = [r["epoch"] for r in rows]
        for key, dash_style, label in (("test_error", "solid", "test"), ("train_error", "dash", "train")):
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[_number(r.get(key)) for r in rows],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=key == "test_error",
                    line={"color": colour, "dash": dash_style, "width": 2.5 if key == "test_error" else 2},
                    marker={"size": 5},
                    hovertemplate=f"{name}<br>{label} error %{{y:.1%}} at epoch %{{x}}<extra></extra>",
                )
            )
    if figure.data:
        for dash_style, label in (("solid", "test error"), ("dash", "train error")):
            figure.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    name=label,
                    legendgroup="_key",
                    line={"color": "#6c757d", "dash": dash_style, "width": 2},
                    hoverinfo="skip",
                )
            )
    notes = []
    if not runs:
        notes.append("Pick at least one run above.")
    if waiting:
        notes.append("No epoch recorded yet: " + ", ".join(waiting))
    for index, text in enumerate(notes):
        figure.add_annotation(
            text=text,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5 - 0.08 * index,
            showarrow=False,
            font={"size": 16, "color": "#6c757d"},
        )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": f"Learning curves · {dataset_label(runs)}", "x": 0.01, "xanchor": "left"},
        xaxis={
            "title": {"text": "epoch"},
            "rangemode": "tozero" if not figure.data else "normal",
            "showgrid": True,
            "zeroline": False,
        },
        yaxis={"title": {"text": "error"}, "tickformat": ".0%", "rangemode": "tozero", "showgrid": True},
        legend={"title": {"text": "runs"}, "groupclick": "togglegroup"},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        height=480,
        hovermode="closest",
    )
    epochs_shown = max((len(trace.x) for trace in figure.data if trace.x and trace.x[0] is not None), default=0)
    if epochs_shown <= 20:  # whole epochs only: no tick at 1.5
        figure.update_xaxes(tickmode="linear", tick0=1, dtick=1)
    else:
        figure.update_xaxes(tickformat="d")
    if not figure.data:
        figure.update_xaxes(showticklabels=False, showgrid=False)
        figure.update_yaxes(showticklabels=False, showgrid=False)
    return figure


def per_class_figure(
    errors: Mapping[str, Mapping[str, Any]], colours: Mapping[str, str], label: str, empty: str
) -> go.Figure:
    """Test error per class, one bar per run in each class group; ``empty`` says why when there is none."""
    if not errors:
        return empty_figure(empty, height=420)
    figure = go.Figure()
    for name, stats in errors.items():
        figure.add_trace(
            go.Bar(
                x=list(stats["class_names"]),
                y=[_number(float(v)) for v in stats["per_class_error"]],
                name=name,
                marker_color=colours.get(name, "#888888"),
                hovertemplate=f"{name}<br>class %{{x}}: %{{y:.1%}} test error<extra></extra>",
            )
        )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        barmode="group",
        height=440,
        title=_title("Test error per class", label),
        yaxis={"title": {"text": "test error"}, "tickformat": ".0%", "rangemode": "tozero"},
        xaxis={"title": {"text": "class"}, "type": "category"},
        legend={"title": {"text": "runs"}},
        margin={"l": 70, "r": 20, "t": 90, "b": 60},
    )
    return figure


def confusion_figure(
    name: str | None, stats: Mapping[str, Any] | None, empty: str = "Pick an analysed run"
) -> go.Figure:
    """The confusion matrix of one run: share of each true class predicted as each class, counts on hover."""
    if stats is None:
        return empty_figure(empty, height=480)
    counts = np.asarray(stats["test_confusion"], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    classes = list(stats["class_names"])
    figure = go.Figure(
        go.Heatmap(
            z=shares,
            x=classes,
            y=classes,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            customdata=counts,
            text=[[f"{v:.0%}" if v >= 0.005 else "" for v in row] for row in shares],
            texttemplate="%{text}",
            textfont={"size": 13},
            colorbar={"title": {"text": "share"}, "tickformat": ".0%"},
            hovertemplate="true %{y} → predicted %{x}: %{z:.1%} (%{customdata:.0f} images)<extra></extra>",
        )
    )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=480,
        title=_title(f"Confusion · {name}", str(stats["dataset_description"])),
        xaxis={"title": {"text": "predicted"}, "type": "category"},
        yaxis={"title": {"text": "true class"}, "type": "category", "autorange": "reversed"},
        margin={"l": 70, "r": 20, "t": 90, "b": 60},
    )
    return figure
