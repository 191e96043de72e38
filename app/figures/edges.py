"""Edges figures: the cluster graph's cytoscape elements and styles, the edge-sign chart, a cluster's matrix.

The graph (dash-cytoscape) draws neuron clusters one row per layer from the input side (top) to the
output side (bottom); between the clusters of adjacent layers a green edge for the positive weight
mass and a red edge for the negative weight mass, thickness ∝ mass.

Why one green and one red edge per pair of clusters rather than one edge coloured by its positive
fraction: comparing the widths of two parallel strokes is a length judgement, which people make
accurately, and it keeps the size of each mass visible (a thick 50/50 pair and a thin 50/50 pair
differ); a fraction on a red–grey–green hue scale shows 45 % and 55 % as two near-identical greys,
and projectors wash hue out first. The threshold slider keeps the doubled edge count readable.

A cluster whose every neuron is dead (never fires on the test images) is drawn dashed and grey and
says "dead" in its label: its outgoing edges carry weights, but no signal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.components import percent
from app.edges_view import ClusterChoice, RunEdges, layers_in_range
from app.figures.common import FIGURE_FONT, MIN_FONT_SIZE, MUTED, two_line_title

POSITIVE_COLOUR = "#1a9850"  # ColorBrewer RdYlGn ends: they differ in lightness too, not only in hue
NEGATIVE_COLOUR = "#d73027"
DEAD_COLOUR = "#adb5bd"

# Graph geometry in cytoscape's model pixels (the preset layout fits it into the box).
ROW_GAP = 140
NODE_GAP = 22
NODE_WIDTH = 178  # room for the label "conv13 · c2 (24)" at NODE_FONT
NODE_MIN_HEIGHT = 30
NODE_MAX_HEIGHT = 72
TWO_LINE_HEIGHT = 50  # a node whose label has a second line ("dead", "3 dead") is at least this tall
NODE_FONT = 18
EDGE_MIN_WIDTH = 1.5
EDGE_MAX_WIDTH = 14.0
LABEL_GAP = 30
CYTO_FONT = "Lato, Helvetica, Arial, sans-serif"  # cytoscape refuses quoted family names ('Helvetica Neue')
LABEL_WIDTH = 120  # the row labels left of the clusters ("conv10 / 47 % positive")
#: Width the graph box usually gets (the page container at xxl, less the card's padding), to size its height.
EXPECTED_BOX_WIDTH = 1270
BOX_PADDING = 16
MAX_ZOOM = 1.3
MAX_MATRIX_HEIGHT = 1400
MATRIX_MARGIN = {"l": 110, "r": 20, "t": 100, "b": 70}


# -- the cluster graph -----------------------------------------------------------------------------
class GraphElements(NamedTuple):
    """Cytoscape elements of one run's graph and what the caption says about them."""

    elements: list[dict[str, Any]]
    layers: list[int]  # layer indices shown, input side first
    shown_edges: int
    hidden_edges: int  # below the threshold
    width: float  # extent of the drawing in model pixels, labels included
    height: float
    dead_clusters: int = 0  # clusters shown whose every neuron is dead


def node_id(layer: int, cluster: int) -> str:
    return f"L{layer}c{cluster}"


def node_height(neurons: int, largest: int) -> float:
    """Box height by neuron count, area-like (square root) so a 128-neuron cluster does not dwarf a 4-neuron one.

    The count sets the height, not the width: a row of eight clusters must fit the screen's width
    with labels large enough for a projector.
    """
    share = math.sqrt(max(neurons, 0) / largest) if largest > 0 else 0.0
    return NODE_MIN_HEIGHT + (NODE_MAX_HEIGHT - NODE_MIN_HEIGHT) * share


def edge_widths(mass: np.ndarray, heaviest: float) -> np.ndarray:
    """Stroke widths ∝ mass, the heaviest edge of the layer pair at EDGE_MAX_WIDTH."""
    relative = mass / heaviest if heaviest > 0 else np.zeros_like(mass)
    return EDGE_MIN_WIDTH + (EDGE_MAX_WIDTH - EDGE_MIN_WIDTH) * relative


def cluster_label(layer_name: str, cluster: int, neurons: int, dead: int) -> str:
    """``conv7 · c2 (24)``; a second line says ``dead`` when every neuron is, ``3 dead`` when some are."""
    label = f"{layer_name} · c{cluster} ({neurons})"
    if dead and dead >= neurons:
        return f"{label}\ndead"
    if dead:
        return f"{label}\n{dead} dead"
    return label


def _cluster_nodes(
    data: RunEdges, layer: int, y: float, row_width: float, largest: int, selected: tuple[int, int] | None
) -> tuple[list[dict[str, Any]], int]:
    """The nodes of one layer's row, left to right in cluster-id order, and how many of them are dead."""
    name = data.layer_names[layer]
    nodes, dead_clusters = [], 0
    x = -row_width / 2 + NODE_WIDTH / 2
    for cluster, neurons in enumerate(data.cluster_sizes[layer]):
        dead = data.dead_in(layer, cluster)
        all_dead = bool(neurons) and dead >= neurons
        dead_clusters += all_dead
        height = node_height(neurons, largest)
        node: dict[str, Any] = {
            "data": {
                "id": node_id(layer, cluster),
                "label": cluster_label(name, cluster, neurons, dead),
                "run": data.name,
                "layer": layer,
                "layer_name": name,
                "cluster": cluster,
                "neurons": neurons,
                "dead": dead,
                "height": round(max(height, TWO_LINE_HEIGHT) if dead else height, 1),
            },
            "classes": "cluster dead" if all_dead else "cluster",
            "position": {"x": round(x, 1), "y": y},
        }
        if selected == (layer, cluster):
            node["selected"] = True
        nodes.append(node)
        x += NODE_WIDTH + NODE_GAP
    return nodes, dead_clusters


def _edge_elements(
    data: RunEdges, previous: int, layer: int, threshold: float
) -> tuple[list[dict[str, Any]], int, int]:
    """The green and red edges from ``previous`` into ``layer``, and how many were shown and hidden."""
    masses = {"positive": data.positive[layer], "negative": data.negative[layer]}
    heaviest = max(float(m.max(initial=0.0)) for m in masses.values())
    elements, shown, hidden = [], 0, 0
    for sign, mass in masses.items():
        widths = edge_widths(mass, heaviest)
        for (target, source), value in np.ndenumerate(mass):
            if value <= 0:
                continue
            if heaviest <= 0 or value < threshold * heaviest:
                hidden += 1
                continue
            shown += 1
            elements.append(
                {
                    "data": {
                        "id": f"e{layer}-{source}-{target}-{sign}",
                        "source": node_id(previous, source),
                        "target": node_id(layer, target),
                        "sign": sign,
                        "mass": round(float(value), 4),
                        "width": round(float(widths[target, source]), 2),
                    },
                    "classes": sign,
                }
            )
    return elements, shown, hidden


def graph_elements(
    data: RunEdges, depths: Sequence[float], threshold: float, selected: ClusterChoice | None = None
) -> GraphElements:
    """Nodes (clusters, one row per layer) and bundled edges of ``data`` for the layers in ``depths``.

    Positions are computed here (cytoscape's ``preset`` layout), so the picture is the same at
    every load: the input side on top, clusters in id order (the Redundancy page's c-numbers).
    Edge mass is normalised per layer pair: in every pair the heaviest edge is drawn at full
    width, so the small masses near the input stay visible next to the large ones of the wide
    layers; an edge lighter than ``threshold`` × that heaviest edge is hidden. ``selected`` (a
    cluster of this run) is drawn selected, as after a click.
    """
    layers = layers_in_range(data, depths)
    largest = max((n for i in layers for n in data.cluster_sizes[i]), default=1) or 1
    row_widths = {i: len(data.cluster_sizes[i]) * (NODE_WIDTH + NODE_GAP) - NODE_GAP for i in layers}
    widest = max(row_widths.values(), default=0)
    chosen = None
    if selected is not None and selected.run == data.name and selected.layer in data.layer_names:
        chosen = (data.layer_names.index(selected.layer), selected.cluster)
    elements: list[dict[str, Any]] = []
    dead_clusters = 0
    for row, layer in enumerate(layers):
        y = row * ROW_GAP
        name = data.layer_names[layer]
        fraction = data.fractions[layer].get("positive_mass_fraction") if layer < len(data.fractions) else None
        elements.append(
            {
                "data": {
                    "id": f"row{layer}",
                    "label": f"{name}\n{percent(fraction, 0)} positive" if fraction is not None else name,
                },
                "classes": "layer-label",
                "position": {"x": -widest / 2 - LABEL_GAP, "y": y},
                "selectable": False,
                "grabbable": False,
            }
        )
        nodes, dead = _cluster_nodes(data, layer, y, row_widths[layer], largest, chosen)
        elements += nodes
        dead_clusters += dead
    shown = hidden = 0
    for previous, layer in zip(layers, layers[1:]):
        if layer in data.positive:
            edges, pair_shown, pair_hidden = _edge_elements(data, previous, layer, threshold)
            elements += edges
            shown, hidden = shown + pair_shown, hidden + pair_hidden
    width = widest + LABEL_GAP + LABEL_WIDTH if layers else 0.0
    height = (len(layers) - 1) * ROW_GAP + NODE_MAX_HEIGHT if layers else 0.0
    return GraphElements(elements, layers, shown, hidden, width, height, dead_clusters)


def stylesheet() -> list[dict[str, Any]]:
    """Cytoscape styles: grey cluster boxes (dashed and paler when dead), green/red edges whose width is in the data."""
    return [
        {
            "selector": "node.cluster",
            "style": {
                "shape": "round-rectangle",
                "width": NODE_WIDTH,
                "height": "data(height)",
                "background-color": "#f1f3f5",
                "border-width": 1.5,
                "border-color": "#495057",
                "label": "data(label)",
                "text-wrap": "wrap",
                "text-valign": "center",
                "text-halign": "center",
                "font-size": NODE_FONT,
                "font-family": CYTO_FONT,
                "color": "#212529",
            },
        },
        {
            "selector": "node.cluster.dead",
            "style": {
                "background-color": "#ffffff",
                "border-style": "dashed",
                "border-width": 2.5,
                "border-color": DEAD_COLOUR,
                "color": MUTED,
                "font-style": "italic",
            },
        },
        {
            "selector": "node.cluster:selected",
            "style": {"border-width": 4, "border-color": "#2c3e50", "background-color": "#d0ebff"},
        },
        {
            "selector": "node.layer-label",
            "style": {
                "width": 1,
                "height": 1,
                "background-opacity": 0,
                "border-width": 0,
                "label": "data(label)",
                "text-halign": "left",
                "text-valign": "center",
                "text-wrap": "wrap",
                "text-justification": "right",
                "font-size": NODE_FONT,
                "font-weight": "bold",
                "font-family": CYTO_FONT,
                "color": "#495057",
                "events": "no",
            },
        },
        {
            "selector": "edge",
            "style": {"width": "data(width)", "curve-style": "bezier", "control-point-step-size": 14, "opacity": 0.7},
        },
        {"selector": "edge.positive", "style": {"line-color": POSITIVE_COLOUR}},
        {"selector": "edge.negative", "style": {"line-color": NEGATIVE_COLOUR}},
    ]


def graph_zoom(width: float, box_width: float = EXPECTED_BOX_WIDTH) -> float:
    """The zoom at which the preset layout fits a drawing ``width`` model pixels wide into the box."""
    return min(MAX_ZOOM, (box_width - 2 * BOX_PADDING) / width) if width > 0 else MAX_ZOOM


def rendered_font_size(width: float, box_width: float = EXPECTED_BOX_WIDTH) -> float:
    """The screen size of the graph's labels for a drawing ``width`` model pixels wide (projector: ≥ 12 px)."""
    return NODE_FONT * graph_zoom(width, box_width)


def graph_height(width: float, height: float, box_width: float = EXPECTED_BOX_WIDTH) -> int:
    """Box height in screen pixels for a drawing of ``width`` × ``height`` model pixels.

    The preset layout fits the drawing into the box; a box as tall as the drawing will be at the
    zoom the box's (expected) width allows leaves no empty band above and below it.
    """
    if width <= 0 or height <= 0:
        return 200
    return int(min(1400, max(200, height * graph_zoom(width, box_width) + 2 * BOX_PADDING + 24)))


# -- the edge-sign chart ---------------------------------------------------------------------------
def fractions_figure(
    series: Sequence[RunEdges], colours: Mapping[str, str], depths: Sequence[float], dataset: str
) -> go.Figure:
    """Positive edge fraction and positive mass fraction of each layer's incoming edges, per run.

    x is the relative depth of the receiving layer, so models of different depth line up; the
    dotted line at 0.5 marks as much excitation as inhibition; the shaded band is the depth range
    drawn in the graphs below.
    """
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=("positive edges (share of the count)", "positive mass (Σw⁺ / Σ|w|)"),
    )
    for data in series:
        colour = colours.get(data.name, "#888888")
        rows = list(zip(data.relative_depth, data.fractions))
        labels = [f"{f['layer']} ← {f.get('source') or 'input'}" for _, f in rows]
        for col, key in ((1, "positive_edge_fraction"), (2, "positive_mass_fraction")):
            figure.add_trace(
                go.Scatter(
                    x=[d for d, _ in rows],
                    y=[f.get(key) for _, f in rows],
                    customdata=labels,
                    mode="lines+markers",
                    name=data.name,
                    legendgroup=data.name,
                    showlegend=col == 1,
                    line={"color": colour, "width": 2.5},
                    marker={"size": 7},
                    hovertemplate=f"{data.name}<br>%{{customdata}}<br>%{{y:.1%}} positive<extra></extra>",
                ),
                row=1,
                col=col,
            )
    for col in (1, 2):
        figure.add_hline(y=0.5, line={"color": MUTED, "dash": "dot", "width": 1.5}, row=1, col=col)
        figure.add_vrect(
            x0=depths[0], x1=depths[1], fillcolor="#adb5bd", opacity=0.15, line_width=0, layer="below", row=1, col=col
        )
    for annotation in figure.layout.annotations:  # the panel titles
        annotation.font = {"size": 15}
    if not series:
        figure.add_annotation(
            text="No analysed run chosen.",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 16, "color": MUTED},
        )
    values = [v for t in figure.data for v in (t.y or ()) if isinstance(v, (int, float))]
    figure.update_xaxes(
        title={"text": "relative depth of the receiving layer (0 = conv1, 1 = output)"},
        range=[-0.03, 1.03],
        tickformat=".1f",
        showgrid=True,
        zeroline=False,
    )
    figure.update_yaxes(
        range=[min([0.3, *values]) - 0.02, max([0.7, *values]) + 0.02], tickformat=".0%", showgrid=True, zeroline=False
    )
    figure.update_yaxes(title={"text": "positive share"}, col=1)
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=440,
        title=two_line_title("Edge signs per layer", dataset),
        legend={"title": {"text": "runs"}},
        margin={"l": 70, "r": 20, "t": 110, "b": 60},
        hovermode="closest",
    )
    return figure


# -- a cluster's class-activation matrix -----------------------------------------------------------
def matrix_row_pitch(rows: int) -> int:
    """Pixels per neuron row: roomy for a small cluster, at least the 12 px labels' height for a big one."""
    return 26 if rows <= 20 else 18 if rows <= 60 else 14


def cluster_matrix_figure(
    profiles: np.ndarray,
    rows: Sequence[int],
    class_names: Sequence[str],
    title: str,
    subtitle: str,
    duplicates: np.ndarray | None = None,
    dead: np.ndarray | None = None,
) -> go.Figure:
    """Heatmap of the class-activation matrix rows ``rows`` (neurons × classes, as normalised by the analysis).

    Viridis over 0…1 for non-negative profiles, as on the Redundancy page; a diverging scale about 0
    for z-scored ones. Row labels carry ``≈`` for a neuron with a near-duplicate and ``dead`` for
    a dead one. The y-axis title is one short word and the plot is never shorter than it, so it
    cannot run into the subtitle; every neuron is labelled at ≥ 12 px while the figure fits
    :data:`MAX_MATRIX_HEIGHT`, else every k-th (the subtitle says so).
    """
    z = np.asarray(profiles, dtype=float)[list(rows)]
    diverging = bool(z.size and float(z.min()) < 0)
    bound = float(np.abs(z).max()) if z.size and diverging else 1.0
    marks = np.zeros(len(profiles), dtype=bool) if duplicates is None else np.asarray(duplicates, dtype=bool)
    silent = np.zeros(len(profiles), dtype=bool) if dead is None else np.asarray(dead, dtype=bool)
    names = [f"n{r}" + (" ≈" if marks[r] else "") + (" dead" if silent[r] else "") for r in rows]
    pitch = matrix_row_pitch(len(names))
    vertical = MATRIX_MARGIN["t"] + MATRIX_MARGIN["b"]
    fits = max(1, (MAX_MATRIX_HEIGHT - vertical) // 14)
    step = max(1, math.ceil(len(names) / fits))
    notes = ["≈ has a near-duplicate in the layer"]
    if silent[list(rows)].any():
        notes.append("dead: never fires on the test images")
    if step > 1:
        notes.append(f"every {step}th neuron labelled")
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in class_names],
            y=names,
            zmin=-bound if diverging else 0,
            zmax=bound,
            colorscale="RdBu_r" if diverging else "Viridis",
            colorbar={"title": {"text": "response"}},
            hovertemplate="neuron %{y}, class %{x}: %{z:.2f}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title=two_line_title(title, f"{subtitle} · {' · '.join(notes)}"),
        xaxis={"title": {"text": "class"}, "type": "category", "side": "bottom", "tickfont": {"size": 14}},
        yaxis={
            "title": {"text": "neuron"},
            "autorange": "reversed",
            "type": "category",
            "dtick": step,
            "tickfont": {"size": 15 if pitch >= 18 else MIN_FONT_SIZE + 1},
        },
        # The plot is at least 160 px tall: room for the y-axis title beside it, not above it.
        height=int(min(MAX_MATRIX_HEIGHT, max(vertical + 160, vertical + pitch * len(names)))),
        margin=MATRIX_MARGIN,
    )
    return figure
