"""Redundancy figures: CNNVis' cluster matrix of one layer (with learned-features mosaics) and redundancy per layer.

Plain functions from a layer's clusters (:class:`app.redundancy_view.LayerView`, or anything with
its fields) to plotly figures; nothing here reads runs. Every text is at least 12 px, so a matrix
reads on a projector at 1600×1000.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.statistics.dead_units import DEAD_WORDS, dead_clusters
from app.figures.common import FIGURE_FONT, MUTED, empty_figure

if TYPE_CHECKING:  # the view-model imports this module; only the type comes back
    from app.redundancy_view import LayerView, RunMetrics

METRICS = (
    ("near_duplicate_fraction", "near-duplicate fraction"),
    ("mean_within_cluster_similarity", "mean within-cluster similarity"),
    ("normalized_effective_rank", "normalised effective rank"),
)
PLOT_HEIGHT_RANGE = (200, 500)  # pixels of matrix, the same for every run so the panels line up
MIN_BLOCK_PX = 16  # a cluster's block is at least this tall, so even a one-row cluster carries its label
SMALLEST_TEXT = 12  # px: ticks, labels, subtitles
DUPLICATE_COLOUR = "#343a40"
DEAD_COLOUR = MUTED  # dead clusters' labels: quieter than the others, still legible on a projector
DEAD_NOTE_PX = 60  # a dead cluster's three lines of words
GAP_PX = 5  # white gap between clusters: the cluster separators
LABEL_COLOUR = "#495057"
#: The caption under the matrices: what the ≈ column measures, in words.
DUPLICATE_CAPTION = (
    "≈ column of each matrix: a dark bar marks a neuron with a near-duplicate, another neuron of its layer "
    "whose class profile is almost the same (correlation ≥ {threshold:g} across the classes). The card's "
    "near-duplicates number is the share of such neurons."
)


class ColourScale(NamedTuple):
    """One colour scale for every matrix on the page."""

    zmin: float
    zmax: float
    colorscale: str


def colour_scale(views: Sequence[LayerView]) -> ColourScale:
    """Viridis over [0, max] for non-negative responses, a diverging scale symmetric about 0 otherwise."""
    values = [v.profiles for v in views if v.profiles.size]
    if not values:
        return ColourScale(0.0, 1.0, "Viridis")
    low = min(float(np.nanmin(v)) for v in values)
    high = max(float(np.nanmax(v)) for v in values)
    if low >= 0:
        return ColourScale(0.0, high if high > 0 else 1.0, "Viridis")
    bound = max(abs(low), abs(high))
    return ColourScale(-bound, bound, "RdBu_r")


def plot_height(n_neurons: int, n_panels: int = 3) -> int:
    """Pixels of matrix for a layer of ``n_neurons``: 4 px a row (7 px in a wide panel), within PLOT_HEIGHT_RANGE."""
    low, high = PLOT_HEIGHT_RANGE
    return int(min(high, max(low, (7 if n_panels <= 2 else 4) * n_neurons)))


def dataset_short(run: Mapping[str, Any] | None) -> str:
    """``digits (not CIFAR-10)``: the dataset's name for a small figure's subtitle."""
    name = str((run or {}).get("dataset") or "unknown data")
    return name if "cifar" in name.lower() else f"{name} (not CIFAR-10)"


def cluster_label(cluster: int, dead: bool) -> str:
    """``C3``, or ``C3 dead`` for a cluster whose neurons never fire."""
    return f"C{cluster} dead" if dead else f"C{cluster}"


def dead_note(n_neurons: int) -> str:
    """What a dead cluster's learned features show instead of tiles, on three short lines."""
    what, why = DEAD_WORDS.split(": ", 1)
    return f"{n_neurons} neuron{'s' if n_neurons != 1 else ''} {what}:<br>{why.replace(' on ', '<br>on ')}"


def block_heights(view: LayerView, features: Collection[int], plot_px: int, dead: Collection[int] = ()) -> list[float]:
    """Pixels of each cluster's block, top to bottom: its share of the rows, at least MIN_BLOCK_PX; a mosaic
    gets room for its tiles, a dead cluster's note room for its three lines."""
    n = max(len(view.row_order), 1)
    heights = []
    for cluster in view.cluster_ids:
        size = len(view.members(cluster))
        rows_px = plot_px * size / n
        if cluster in features:
            columns = math.ceil(math.sqrt(size))
            tile_rows = math.ceil(size / columns)
            rows_px = max(rows_px, min(0.45 * plot_px, 36.0 * tile_rows))
            if cluster in dead:
                rows_px = max(rows_px, DEAD_NOTE_PX)
        heights.append(max(rows_px, MIN_BLOCK_PX))
    return heights


def _matrix_traces(view: LayerView, cluster: int, classes: list[str]) -> tuple[go.Heatmap, go.Heatmap]:
    """The cluster's rows of the class matrix and its ≈ column (rows named by neuron, so hover and clicks tell it)."""
    members = view.members(cluster)
    names = [str(neuron) for neuron in members]
    notes = [
        (" · has a near-duplicate" if view.duplicates[n] else "") + (f" · {DEAD_WORDS}" if view.dead[n] else "")
        for n in members
    ]
    matrix = go.Heatmap(
        z=view.profiles[members],
        x=classes,
        y=names,
        coloraxis="coloraxis",
        customdata=[[[cluster, note] for _ in classes] for note in notes],
        hovertemplate="neuron %{y} · C%{customdata[0]}%{customdata[1]}<br>class %{x}"
        "<br>response %{z:.2f}<extra></extra>",
        name=f"C{cluster}",
    )
    marker = go.Heatmap(
        z=[[1.0] if view.duplicates[n] else [None] for n in members],
        x=["≈"],
        y=names,
        colorscale=[[0, DUPLICATE_COLOUR], [1, DUPLICATE_COLOUR]],
        showscale=False,
        hoverongaps=False,
        hovertemplate="neuron %{y} has a near-duplicate<extra></extra>",
        name=f"C{cluster} ≈",
    )
    return matrix, marker


def cluster_matrix_figure(
    view: LayerView,
    scale: ColourScale,
    features: Collection[int] = (),
    mosaics: Mapping[int, str] | None = None,
    plot_px: int | None = None,
    subtitle: str = "",
) -> go.Figure:
    """The layer's class-activation matrix, one block of rows per cluster, top to bottom.

    Rows are neurons in ``row_order``; columns the classes in the dataset's order. A white gap
    separates clusters, each labelled by its stable id in the left margin (``C2 dead`` when its
    neurons never fire); the dark bars of the ≈ column mark neurons with a near-duplicate. A cluster
    in ``features`` whose PNG is in ``mosaics`` shows its learned-features mosaic instead; a dead
    one says it is dead instead of repeating one meaningless patch.
    """
    mosaics = mosaics or {}
    dead = dead_clusters(view.labels, view.dead) if len(view.labels) else set()
    features = {c for c in features if c in mosaics or c in dead}
    ids = list(view.cluster_ids)
    k = len(ids)
    plot_px = plot_px or plot_height(len(view.row_order))
    classes = list(view.class_names)
    if k == 0:
        return empty_figure("no neurons", height=plot_px)
    heights = block_heights(view, features, plot_px, dead)
    total_px = max(plot_px, int(sum(heights) + GAP_PX * (k - 1)))
    # A gap of GAP_PX pixels between clusters, unless there are so many that gaps would fill half the plot.
    spacing = min(GAP_PX / total_px, 0.5 / (k - 1)) if k > 1 else 0.0
    specs = [[{"colspan": 2}, None] if c in features else [{}, {}] for c in ids]
    figure = make_subplots(
        rows=k,
        cols=2,
        row_heights=heights,
        column_widths=[0.9, 0.1],
        vertical_spacing=spacing,
        horizontal_spacing=0.02,
        specs=specs,
    )
    first_matrix = next((row for row, c in enumerate(ids, start=1) if c not in features), None)
    longest = max((len(c) for c in classes), default=1)
    for row, cluster in enumerate(ids, start=1):
        if cluster in features:
            if cluster in dead:
                # Words, not tiles: a dead neuron's "top patch" is whichever image came first. The
                # invisible point makes plotly.js lay out the subplot that the words are placed in.
                blank = go.Scatter(x=[0], y=[0], mode="markers", marker={"opacity": 0}, hoverinfo="skip")
                figure.add_trace(blank, row, 1)
                subplot = figure.get_subplot(row, 1)
                figure.add_annotation(
                    text=dead_note(len(view.members(cluster))),
                    xref=f"{subplot.xaxis.plotly_name.replace('axis', '')} domain",
                    yref=f"{subplot.yaxis.plotly_name.replace('axis', '')} domain",
                    x=0.5,
                    y=0.5,
                    showarrow=False,
                    font={"size": SMALLEST_TEXT, "color": LABEL_COLOUR},
                )
            else:
                figure.add_trace(go.Image(source=mosaics[cluster], hoverinfo="skip", name=f"C{cluster}"), row, 1)
            figure.update_xaxes(visible=False, row=row, col=1)
            figure.update_yaxes(visible=False, row=row, col=1)
            continue
        matrix, marker = _matrix_traces(view, cluster, classes)
        figure.add_trace(matrix, row=row, col=1)
        figure.add_trace(marker, row=row, col=2)
        top = row == first_matrix
        common = {"side": "top", "showticklabels": top, "ticks": "", "type": "category", "row": row}
        figure.update_xaxes(
            tickangle=-90 if longest > 2 else 0, tickfont={"size": SMALLEST_TEXT}, dtick=1, col=1, **common
        )
        figure.update_xaxes(
            tickfont={"size": 14}, categoryarray=["≈"], range=[-0.5, 0.5], fixedrange=True, col=2, **common
        )
        for col in (1, 2):
            figure.update_yaxes(
                type="category",
                categoryarray=list(matrix.y),
                autorange="reversed",
                showticklabels=False,
                ticks="",
                showgrid=False,
                zeroline=False,
                row=row,
                col=col,
            )
    # Every cluster's id in the left margin: its block is at least MIN_BLOCK_PX tall.
    labels = [cluster_label(c, c in dead) for c in ids]
    for row, text in enumerate(labels, start=1):
        axis = figure.get_subplot(row, 1).yaxis.plotly_name.replace("axis", "")
        figure.add_annotation(
            text=text,
            xref="paper",
            yref=f"{axis} domain",
            x=0,
            y=0.5,
            xanchor="right",
            xshift=-4,
            showarrow=False,
            font={"size": SMALLEST_TEXT, "color": DEAD_COLOUR if text.endswith("dead") else LABEL_COLOUR},
        )
    left_px = 10 + 7 * max(len(t) for t in labels)
    top_px = 52 + (int(7.5 * min(longest, 14)) if longest > 2 else 18)  # title, subtitle, class names
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        # Two short lines (a panel is ~170 px wide); exported alone, the figure still says what it shows.
        title={
            "text": view.run,
            "subtitle": {
                "text": f"{view.layer} · {subtitle}" if subtitle else view.layer,
                "font": {"size": SMALLEST_TEXT},
            },
            "x": 0.01,
            "xanchor": "left",
            "y": 0.99,
            "yanchor": "top",
            "font": {"size": 14},
        },
        coloraxis={
            "colorscale": scale.colorscale,
            "cmin": scale.zmin,
            "cmax": scale.zmax,
            "colorbar": {
                "orientation": "h",
                "thickness": 8,
                "len": 1.0,
                "x": 0.5,
                "xanchor": "center",
                "y": 0,
                "yanchor": "top",
                "ypad": 4,
                "nticks": 4,
                "tickfont": {"size": SMALLEST_TEXT},
                "title": {"text": "response", "side": "right", "font": {"size": SMALLEST_TEXT}},
            },
        },
        margin={"l": left_px, "r": 6, "t": top_px, "b": 50},
        height=total_px + top_px + 50,
        showlegend=False,
        hovermode="closest",
        plot_bgcolor="white",
    )
    return figure


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float, np.number)) and math.isfinite(float(value)) else None


def metrics_figure(
    series: Sequence[RunMetrics],
    colours: Mapping[str, str],
    depth: float | None,
    data_label: str,
    most_redundant: str | None = None,
    height: int = 340,
) -> go.Figure:
    """Near-duplicate fraction, within-cluster similarity and normalised effective rank per layer, across runs.

    x is the relative depth, so runs of different depths line up; a ring marks each run's shown
    layer, an open diamond a layer whose clusters were edited on this page, and the legend names
    ``most_redundant`` (the run with the most near-duplicates at the shown layer).
    """
    if not series:
        return empty_figure("No analysed run chosen: tick an analysed run above.", height=height)
    figure = make_subplots(
        rows=1, cols=len(METRICS), subplot_titles=[label for _, label in METRICS], horizontal_spacing=0.07
    )
    for item in series:
        colour = colours.get(item.run, "#888888")
        name = f"{item.run} · most redundant" if item.run == most_redundant else item.run
        wide = item.run == most_redundant
        for col, (key, label) in enumerate(METRICS, start=1):
            values = [_finite(m.get(key)) for m in item.metrics]
            figure.add_trace(
                go.Scatter(
                    x=list(item.depths),
                    y=values,
                    mode="lines+markers",
                    name=name,
                    legendgroup=item.run,
                    showlegend=col == 1,
                    line={"color": colour, "width": 4 if wide else 2.5},
                    marker={"size": 6},
                    customdata=list(item.layers),
                    hovertemplate=(
                        f"{item.run} · %{{customdata}}<br>{label} %{{y:.3f}}<br>depth %{{x:.2f}}<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
            figure.add_trace(
                go.Scatter(
                    x=[item.depths[item.shown]],
                    y=[values[item.shown]],
                    mode="markers",
                    legendgroup=item.run,
                    showlegend=False,
                    hoverinfo="skip",
                    marker={"size": 15, "color": "rgba(0,0,0,0)", "line": {"color": colour, "width": 2.5}},
                ),
                row=1,
                col=col,
            )
            if item.edited is not None:
                figure.add_trace(
                    go.Scatter(
                        x=[item.depths[item.edited]],
                        y=[values[item.edited]],
                        mode="markers",
                        legendgroup=item.run,
                        showlegend=False,
                        marker={"size": 13, "symbol": "diamond-open", "color": "#212529", "line": {"width": 2}},
                        hovertemplate=f"{item.run} · {item.layers[item.edited]} after edits<br>{label} %{{y:.3f}}"
                        "<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    if depth is not None:
        for col in range(1, len(METRICS) + 1):
            figure.add_vline(x=depth, line={"color": MUTED, "dash": "dash", "width": 1.5}, row=1, col=col)
    figure.update_xaxes(
        title={"text": "relative depth", "font": {"size": 13}},
        range=[-0.03, 1.03],
        dtick=0.25,
        showgrid=True,
        zeroline=False,
    )
    figure.update_yaxes(showgrid=True, zeroline=False)
    figure.update_yaxes(range=[-0.03, 1.03], row=1, col=1)
    figure.update_yaxes(range=[-0.03, 1.03], row=1, col=3)
    figure.update_annotations(font={"size": 14})
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": f"Redundancy per layer · {data_label}", "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        legend={"title": {"text": "runs"}, "font": {"size": 13}, "x": 1.01, "y": 1, "yanchor": "top"},
        margin={"l": 50, "r": 20, "t": 70, "b": 50},
        height=height,
        hovermode="closest",
    )
    return figure
