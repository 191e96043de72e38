"""Evolution figures: the runs over training, the per-layer picture at one snapshot, training health per layer.

After Zeiler & Fergus (2014: features across training snapshots) and CNNVis' R5 (debugging a
failing training). Every figure marks the chosen snapshot epoch in one colour, names its data in a
second title line (clear of the modebar), and labels every layer at ≥ 12 px.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures.common import FIGURE_FONT, empty_figure, two_line_title

#: Health figures per epoch and layer, as the trainer records them in history.jsonl.
HEALTH_METRICS = {
    "dead_fraction": "dead-unit fraction",
    "grad_norm": "gradient norm",
    "weight_norm": "weight norm",
}
DEFAULT_METRIC = "dead_fraction"
LOG_SCALED = {"grad_norm", "weight_norm"}  # norms span decades: coloured by log10
PANEL_COLUMNS = 4
CHOSEN_EPOCH_COLOUR = "#f39c12"
LAYER_FONT_SIZE = 13  # the heatmaps' layer labels: every layer, readable on a projector
LAYER_ROW_PITCH = 18  # pixels per layer row of a heatmap, so every label fits at LAYER_FONT_SIZE
PANEL_TITLE_FONT = 15


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [v for v in (_number(x) for x in values) if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def _epoch_line(figure: go.Figure, epoch: int | None, rows: int, columns: int) -> None:
    if epoch is None:
        return
    for row in range(1, rows + 1):
        for column in range(1, columns + 1):
            figure.add_vline(
                x=epoch, line={"color": CHOSEN_EPOCH_COLOUR, "width": 2, "dash": "dot"}, row=row, col=column
            )


def _epoch_axes(figure: go.Figure, epochs: Sequence[int]) -> None:
    """Whole epochs on every x axis: one tick per epoch for a short training (no "1 1 2 2"), else integers."""
    figure.update_xaxes(title_text="epoch", tickfont={"size": LAYER_FONT_SIZE})
    if epochs and max(epochs) - min(epochs) <= 20:
        figure.update_xaxes(tickmode="linear", tick0=min(epochs), dtick=1)
    else:
        figure.update_xaxes(tickformat="d")


def _panel_titles(figure: go.Figure, colours: Mapping[str, str] | None = None, runs: Sequence[str] = ()) -> None:
    """Subplot titles at a readable size (in the run's colour for per-run panels)."""
    for index, annotation in enumerate(figure.layout.annotations):
        colour = (colours or {}).get(runs[index], "#212529") if index < len(runs) else "#212529"
        annotation.font = {"size": PANEL_TITLE_FONT, "color": colour}


def over_training_figure(
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    evolutions: Mapping[str, Sequence[Mapping[str, Any]]],
    colours: Mapping[str, str],
    epoch: int | None,
    dataset: str,
) -> go.Figure:
    """Three panels over epochs, one colour per run: errors (every epoch), then the mean over layers of
    the near-duplicate fraction and of the positive-edge fraction (at each snapshot)."""
    if not histories and not evolutions:
        return empty_figure("Pick at least one run above.")
    figure = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.07,
        subplot_titles=(
            "error (test solid, train dashed)",
            "near-duplicate fraction, mean over layers",
            "positive-edge fraction, mean over layers",
        ),
    )
    for run in dict.fromkeys([*histories, *evolutions]):
        colour = colours.get(run, "#888888")
        rows = [r for r in histories.get(run, ()) if _number(r.get("epoch")) is not None]
        first = True
        for key, style in (("test_error", "solid"), ("train_error", "dash")):
            if not rows:
                break
            figure.add_trace(
                go.Scatter(
                    x=[r["epoch"] for r in rows],
                    y=[_number(r.get(key)) for r in rows],
                    mode="lines",
                    name=run,
                    legendgroup=run,
                    showlegend=first,
                    line={"color": colour, "dash": style, "width": 2.5},
                    hovertemplate=f"{run}<br>{key.replace('_', ' ')} %{{y:.1%}} at epoch %{{x}}<extra></extra>",
                ),
                row=1,
                col=1,
            )
            first = False
        snapshots = list(evolutions.get(run, ()))
        for column, key in ((2, "near_duplicate_fraction"), (3, "positive_edge_fraction")):
            if not snapshots:
                continue
            figure.add_trace(
                go.Scatter(
                    x=[s["epoch"] for s in snapshots],
                    y=[_mean(s.get(key) or []) for s in snapshots],
                    mode="lines+markers",
                    name=run,
                    legendgroup=run,
                    showlegend=first,
                    line={"color": colour, "width": 2.5},
                    marker={"size": 8},
                    hovertemplate=f"{run}<br>{key.replace('_', ' ')} %{{y:.1%}} at epoch %{{x}}<extra></extra>",
                ),
                row=1,
                col=column,
            )
            first = False
    _epoch_line(figure, epoch, 1, 3)
    _panel_titles(figure)
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    _epoch_axes(figure, [int(x) for trace in figure.data for x in (trace.x or ()) if isinstance(x, (int, float))])
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title=two_line_title("Over training", dataset),
        legend={"title": {"text": "runs"}},
        height=450,
        margin={"l": 60, "r": 20, "t": 120, "b": 60},
        hovermode="closest",
    )
    return figure


def per_layer_figure(
    snapshots: Mapping[str, Mapping[str, Any]],
    depths: Mapping[str, Sequence[float]],
    colours: Mapping[str, str],
    title: str,
    dataset: str,
    empty: str = "No analysed snapshot to show for the chosen runs.",
) -> go.Figure:
    """At one snapshot: near-duplicate and positive-edge fraction per layer, layers placed by relative depth.

    Lines over relative depth, not grouped bars: the runs have different numbers of layers, and
    depth is what makes the layer of a shallow and a deep run comparable.
    """
    if not snapshots:
        return empty_figure(empty)
    figure = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.08,
        subplot_titles=("near-duplicate fraction (redundant neurons)", "positive-edge fraction (incoming weights > 0)"),
    )
    for run, row in snapshots.items():
        colour = colours.get(run, "#888888")
        layers = list(row.get("layers") or [])
        x = list(depths.get(run) or [i / max(1, len(layers) - 1) for i in range(len(layers))])
        label = f"{run} (epoch {row['epoch']})"
        for column, key in ((1, "near_duplicate_fraction"), (2, "positive_edge_fraction")):
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=[_number(v) for v in row.get(key) or []],
                    mode="lines+markers",
                    name=label,
                    legendgroup=run,
                    showlegend=column == 1,
                    customdata=layers,
                    line={"color": colour, "width": 2},
                    marker={"size": 8},
                    hovertemplate=f"{run} · %{{customdata}} (depth %{{x:.2f}})<br>%{{y:.1%}}<extra></extra>",
                ),
                row=1,
                col=column,
            )
    figure.add_hline(y=0.5, line={"color": "#adb5bd", "dash": "dot"}, row=1, col=2)
    _panel_titles(figure)
    figure.update_yaxes(tickformat=".0%", range=[0, 1.02])
    figure.update_xaxes(title_text="relative depth (0 input side, 1 output)", range=[-0.03, 1.03])
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title=two_line_title(title, dataset),
        legend={"title": {"text": "runs"}},
        height=450,
        margin={"l": 60, "r": 20, "t": 120, "b": 60},
        hovermode="closest",
    )
    return figure


def health_matrix(history: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[str], list[int], np.ndarray]:
    """Layers (input side first) × epochs of one health figure; NaN where the history has none."""
    rows = [r for r in history if _number(r.get("epoch")) is not None and isinstance(r.get("health"), dict)]
    layers: list[str] = []
    for row in rows:
        for name in row["health"]:
            if name not in layers:
                layers.append(name)
    epochs = [int(r["epoch"]) for r in rows]
    z = np.full((len(layers), len(rows)), np.nan)
    for j, row in enumerate(rows):
        for i, name in enumerate(layers):
            figures = row["health"].get(name)
            value = _number(figures.get(metric)) if isinstance(figures, dict) else None
            if value is not None:
                z[i, j] = value
    return layers, epochs, z


def _colour_axis(metric: str, shown: Sequence[np.ndarray]) -> dict[str, Any]:
    """One colour bar for every panel: log10 ticks for the norms, 0…100 % for the dead-unit fraction."""
    if metric in LOG_SCALED:
        finite = np.concatenate([v[np.isfinite(v)].ravel() for v in shown]) if shown else np.array([])
        low, high = (math.floor(finite.min()), math.ceil(finite.max())) if finite.size else (-3, 1)
        high = max(high, low + 1)
        ticks = list(range(low, high + 1))
        axis = {
            "colorscale": "Viridis",
            "cmin": low,
            "cmax": high,
            "colorbar": {
                "title": {"text": f"{HEALTH_METRICS[metric]}<br>(log scale)"},
                "tickvals": ticks,
                "ticktext": [f"1e{t}" for t in ticks],
            },
        }
    else:
        axis = {
            "colorscale": "Reds",
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": HEALTH_METRICS[metric]}, "tickformat": ".0%"},
        }
    axis["colorbar"].update(thickness=14, len=0.8)
    return axis


def health_figure(
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    metric: str,
    colours: Mapping[str, str],
    epoch: int | None,
    dataset: str,
) -> go.Figure:
    """Per run a heatmap, layers (rows, input side on top) × epochs, of one health figure; one colour bar.

    Every layer is labelled (``dtick`` 1 on the category axis) at :data:`LAYER_FONT_SIZE`; a panel
    row is as tall as its deepest run needs for that.
    """
    metric = metric if isinstance(metric, str) and metric in HEALTH_METRICS else DEFAULT_METRIC
    matrices = {run: health_matrix(rows, metric) for run, rows in histories.items()}
    matrices = {run: m for run, m in matrices.items() if m[0] and m[1]}
    if not matrices:
        return empty_figure("No training-health records in the chosen runs' histories.")
    columns = max(1, min(len(matrices), PANEL_COLUMNS))
    rows = math.ceil(len(matrices) / columns)
    deepest = max(len(m[0]) for m in matrices.values())
    panel_height = max(300, 70 + LAYER_ROW_PITCH * deepest)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[f"<b>{run}</b>" for run in matrices],
        horizontal_spacing=0.07,
        vertical_spacing=min(0.3, 110 / (rows * panel_height)) if rows > 1 else 0.05,
    )
    logged = metric in LOG_SCALED
    shown = []
    for index, (run, (layers, epochs, z)) in enumerate(matrices.items()):
        with np.errstate(divide="ignore", invalid="ignore"):
            colour_values = np.where(z > 0, np.log10(z), np.nan) if logged else z
        shown.append(colour_values)
        row, column = divmod(index, columns)
        figure.add_trace(
            go.Heatmap(
                z=colour_values,
                x=epochs,
                y=layers,
                customdata=z,
                coloraxis="coloraxis",
                name=run,
                xgap=1,
                ygap=1,
                hovertemplate=(
                    f"{run} · %{{y}} · epoch %{{x}}<br>{HEALTH_METRICS[metric]} "
                    + ("%{customdata:.3g}" if logged else "%{customdata:.0%}")
                    + "<extra></extra>"
                ),
            ),
            row=row + 1,
            col=column + 1,
        )
        if epoch is not None and epoch in epochs:
            figure.add_vrect(
                x0=epoch - 0.5,
                x1=epoch + 0.5,
                line={"color": CHOSEN_EPOCH_COLOUR, "width": 2},
                row=row + 1,
                col=column + 1,
            )
    _panel_titles(figure, colours, list(matrices))
    figure.update_yaxes(
        type="category", autorange="reversed", dtick=1, tickfont={"size": LAYER_FONT_SIZE}, automargin=True
    )
    _epoch_axes(figure, [e for _layers, epochs, _z in matrices.values() for e in epochs])
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        coloraxis=_colour_axis(metric, shown),
        title=two_line_title(f"Training health: {HEALTH_METRICS[metric]} per layer and epoch", dataset),
        height=160 + rows * panel_height,
        margin={"l": 70, "r": 20, "t": 120, "b": 50},
    )
    return figure
