"""Edges page: CNNVis' edge-sign view (R4) — how low-level neuron clusters feed high-level ones.

Per chosen run a graph (dash-cytoscape) of neuron clusters, one row per layer from the input side
(top) to the output side (bottom); between the clusters of adjacent layers a green edge for the
positive weight mass and a red edge for the negative weight mass, thickness ∝ mass. Above the
graphs, the positive edge fraction and positive mass fraction of every layer's incoming edges,
across runs on the relative-depth axis. Clicking a cluster shows its class-activation matrix.

Why one green and one red edge per pair of clusters rather than one edge coloured by its positive
fraction: comparing the widths of two parallel strokes is a length judgement, which people make
accurately, and it keeps the size of each mass visible (a thick 50/50 pair and a thin 50/50 pair
differ); a fraction on a red–grey–green hue scale shows 45 % and 55 % as two near-identical greys,
and projectors wash hue out first. The threshold slider keeps the doubled edge count readable.

The URL holds the state (``/edges?models=a,b&depth=0.5,1&threshold=0.1``); bad values get a
message and their default. Figure and element builders are plain functions (tested without a
browser); the callbacks only call them.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import dash
import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
import numpy as np
import plotly.graph_objects as go
from dash import ALL, MATCH, Input, Output, ctx, dcc, html, no_update
from plotly.subplots import make_subplots

from app import components
from app.analysis_access import PAGE_ERRORS, analyzer
from app.config import current_settings
from app.figures.common import FIGURE_FONT
from app.selection import link_message, parse_runs, picked_names, read_runs, run_colours, runs_search

dash.register_page(__name__, path="/edges", name="Edges", title=f"Edges · {components.PRODUCT_NAME}", order=2)

# SVG export of a cytoscape graph needs the cytoscape-svg extension, shipped only in the "extra" bundle.
cyto.load_extra_layouts()

log = logging.getLogger(__name__)

URL_ID = "edges-url"
PICKER_ID = "edges-models"
DEPTH_ID = "edges-depth"
THRESHOLD_ID = "edges-threshold"
BANNER_ID = "edges-banner"
LINK_MESSAGE_ID = "edges-link-message"
PARAM_MESSAGE_ID = "edges-param-message"
FRACTIONS_ID = "edges-fractions"
GRAPHS_ID = "edges-graphs"
CYTO_TYPE = "edges-graph"  # pattern-matching ids: {"type": CYTO_TYPE, "run": name}
DETAIL_TYPE = "edges-detail"
EXPORT_TYPE = "edges-export"

#: The upper half of the network: where CNNVis found DeepCNN's edges nearly all positive.
DEFAULT_DEPTH = (0.5, 1.0)
#: Edges lighter than this fraction of the heaviest edge of their layer pair are hidden.
DEFAULT_THRESHOLD = 0.2
MAX_THRESHOLD = 0.9

POSITIVE_COLOUR = "#1a9850"  # ColorBrewer RdYlGn ends: they differ in lightness too, not only in hue
NEGATIVE_COLOUR = "#d73027"

# Graph geometry in cytoscape's model pixels (the preset layout fits it into the box).
ROW_GAP = 140
NODE_GAP = 22
NODE_WIDTH = 178  # room for the label "conv13 · c2 (24)" at NODE_FONT
NODE_MIN_HEIGHT = 30
NODE_MAX_HEIGHT = 72
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


# -- reading the query string ----------------------------------------------------------------------
def _last(value: Any) -> Any:
    """A repeated query parameter arrives as a list: the last one wins, as in a browser form."""
    return value[-1] if isinstance(value, (list, tuple)) and value else value


def parse_depth(value: Any) -> tuple[tuple[float, float], str | None]:
    """``"0.5,1"`` → ``(0.5, 1.0)``; a bad value gives the default and the problem, as text."""
    value = _last(value)
    if value is None:
        return DEFAULT_DEPTH, None
    parts = [p.strip() for p in str(value).split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        return DEFAULT_DEPTH, f"depth={value!s} is not two numbers like 0.5,1"
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= 1):
        return DEFAULT_DEPTH, f"depth={value!s} must be two relative depths 0 ≤ from ≤ to ≤ 1"
    return (low, high), None


def parse_threshold(value: Any) -> tuple[float, str | None]:
    """The edge threshold as a fraction in [0, MAX_THRESHOLD]; a bad value gives the default and the problem."""
    value = _last(value)
    if value is None:
        return DEFAULT_THRESHOLD, None
    try:
        threshold = float(str(value).strip())
    except ValueError:
        return DEFAULT_THRESHOLD, f"threshold={value!s} is not a number"
    if not (math.isfinite(threshold) and 0 <= threshold <= MAX_THRESHOLD):
        return DEFAULT_THRESHOLD, f"threshold={value!s} must be between 0 and {MAX_THRESHOLD:g}"
    return threshold, None


def edges_search(names: Sequence[str], depth: Sequence[float], threshold: float) -> str:
    """The query string that restores the view: ``?models=a,b&depth=0.5,1&threshold=0.1``."""
    rest = urlencode({"depth": f"{depth[0]:g},{depth[1]:g}", "threshold": f"{threshold:g}"}, safe=",", quote_via=quote)
    return f"{runs_search(names)}&{rest}"


# -- the data of one run ---------------------------------------------------------------------------
class RunEdges(NamedTuple):
    """What the page draws of one run, read from its cached statistics, clusters and edges."""

    name: str
    layer_names: list[str]
    relative_depth: list[float]
    fractions: list[dict[str, Any]]  # per layer: its incoming edges' sign statistics
    cluster_sizes: list[list[int]]  # per layer: neurons in each cluster, by cluster id
    positive: dict[int, np.ndarray]  # layer i → (k_i, k_{i-1}) positive mass from layer i-1
    negative: dict[int, np.ndarray]


def load_run_edges(source: Any, run: str) -> RunEdges:
    """A run's edge data from ``source`` (a RunAnalyzer); raises what the analyzer raises."""
    stats = source.statistics(run)
    clusters = source.clusters(run)
    edges = source.edges(run)
    names = list(edges["layer_names"])
    sizes = [np.bincount(np.asarray(clusters[f"labels/{i}"])).astype(int).tolist() for i in range(len(names))]
    positive, negative = {}, {}
    for index in range(1, len(names)):
        if f"cluster_positive/{index}" in edges:
            positive[index] = np.asarray(edges[f"cluster_positive/{index}"], dtype=float)
            negative[index] = np.asarray(edges[f"cluster_negative/{index}"], dtype=float)
    return RunEdges(
        run, names, [float(d) for d in stats["relative_depth"]], list(edges["fractions"]), sizes, positive, negative
    )


def layers_in_range(data: RunEdges, depth: Sequence[float]) -> list[int]:
    """Indices of the layers whose relative depth lies in ``depth`` (inclusive, robust to rounding)."""
    low, high = depth
    return [i for i, d in enumerate(data.relative_depth) if low - 1e-9 <= d <= high + 1e-9]


# -- the cluster graph -----------------------------------------------------------------------------
class GraphElements(NamedTuple):
    """Cytoscape elements of one run's graph and what the caption says about them."""

    elements: list[dict[str, Any]]
    layers: list[int]  # layer indices shown, input side first
    shown_edges: int
    hidden_edges: int  # below the threshold
    width: float  # extent of the drawing in model pixels, labels included
    height: float


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


def graph_elements(data: RunEdges, depth: Sequence[float], threshold: float) -> GraphElements:
    """Nodes (clusters, one row per layer) and bundled edges of ``data`` for the layers in ``depth``.

    Positions are computed here (cytoscape's ``preset`` layout), so the picture is the same at
    every load: the input side on top, clusters in id order (the Redundancy page's c-numbers).
    Edge mass is normalised per layer pair: in every pair the heaviest edge is drawn at full
    width, so the small masses near the input stay visible next to the large ones of the wide
    layers; an edge lighter than ``threshold`` × that heaviest edge is hidden.
    """
    layers = layers_in_range(data, depth)
    largest = max((n for i in layers for n in data.cluster_sizes[i]), default=1) or 1
    row_widths = {i: len(data.cluster_sizes[i]) * (NODE_WIDTH + NODE_GAP) - NODE_GAP for i in layers}
    widest = max(row_widths.values(), default=0)
    label_x = -widest / 2 - LABEL_GAP
    elements: list[dict[str, Any]] = []
    for row, layer in enumerate(layers):
        y = row * ROW_GAP
        name = data.layer_names[layer]
        fraction = data.fractions[layer].get("positive_mass_fraction") if layer < len(data.fractions) else None
        caption = f"{name}\n{components.percent(fraction, 0)} positive" if fraction is not None else name
        elements.append(
            {
                "data": {"id": f"row{layer}", "label": caption},
                "classes": "layer-label",
                "position": {"x": label_x, "y": y},
                "selectable": False,
                "grabbable": False,
            }
        )
        x = -row_widths[layer] / 2 + NODE_WIDTH / 2
        for cluster, neurons in enumerate(data.cluster_sizes[layer]):
            elements.append(
                {
                    "data": {
                        "id": node_id(layer, cluster),
                        "label": f"{name} · c{cluster} ({neurons})",
                        "run": data.name,
                        "layer": layer,
                        "layer_name": name,
                        "cluster": cluster,
                        "neurons": neurons,
                        "height": round(node_height(neurons, largest), 1),
                    },
                    "classes": "cluster",
                    "position": {"x": round(x, 1), "y": y},
                }
            )
            x += NODE_WIDTH + NODE_GAP
    shown = hidden = 0
    for previous, layer in zip(layers, layers[1:]):
        if layer not in data.positive:
            continue
        masses = {"positive": data.positive[layer], "negative": data.negative[layer]}
        heaviest = max(float(m.max(initial=0.0)) for m in masses.values())
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
    width = widest + LABEL_GAP + LABEL_WIDTH if layers else 0.0
    height = (len(layers) - 1) * ROW_GAP + NODE_MAX_HEIGHT if layers else 0.0
    return GraphElements(elements, layers, shown, hidden, width, height)


def stylesheet() -> list[dict[str, Any]]:
    """Cytoscape styles: grey cluster boxes, green/red edges whose width is in the edge data."""
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
                "text-valign": "center",
                "text-halign": "center",
                "font-size": NODE_FONT,
                "font-family": CYTO_FONT,
                "color": "#212529",
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


def graph_height(width: float, height: float, box_width: float = EXPECTED_BOX_WIDTH) -> int:
    """Box height in screen pixels for a drawing of ``width`` × ``height`` model pixels.

    The preset layout fits the drawing into the box; a box as tall as the drawing will be at the
    zoom the box's (expected) width allows leaves no empty band above and below it.
    """
    if width <= 0 or height <= 0:
        return 200
    zoom = min(MAX_ZOOM, (box_width - 2 * BOX_PADDING) / width)
    return int(min(1400, max(200, height * zoom + 2 * BOX_PADDING + 24)))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def export_buttons(run: str) -> dbc.ButtonGroup:
    return dbc.ButtonGroup(
        [
            dbc.Button(
                fmt.upper(),
                id={"type": EXPORT_TYPE, "run": run, "format": fmt},
                n_clicks=0,
                title=f"Download this graph as {fmt.upper()}",
                color="secondary",
                outline=True,
                size="sm",
            )
            for fmt in components.EXPORT_FORMATS
        ],
        size="sm",
        className="cnncmp-export",
    )


def run_graph_card(data: RunEdges, depth: Sequence[float], threshold: float, colour: str, dataset: str) -> html.Div:
    """One run's graph with its caption, export buttons and the (empty) cluster-detail area."""
    parts = graph_elements(data, depth, threshold)
    header = _run_header(data.name, colour, export_buttons(data.name))
    title = html.Div(f"Neuron clusters and the sign of their edges · {dataset}", className="text-muted small mb-1")
    if not parts.layers:
        body: Any = components.message(
            f"{data.name} has no layer between relative depths {depth[0]:g} and {depth[1]:g}; widen the range.",
            kind="secondary",
        )
    else:
        body = cyto.Cytoscape(
            id={"type": CYTO_TYPE, "run": data.name},
            elements=parts.elements,
            stylesheet=stylesheet(),
            layout={"name": "preset", "fit": True, "padding": BOX_PADDING},
            style={"width": "100%", "height": f"{graph_height(parts.width, parts.height)}px"},
            minZoom=0.2,
            maxZoom=MAX_ZOOM,
            # No wheel zoom or pan: the page scrolls past the graph, and the fit shows it all.
            userZoomingEnabled=False,
            userPanningEnabled=False,
            autoungrabify=True,
            boxSelectionEnabled=False,
            responsive=True,
        )
    first = data.layer_names[parts.layers[0]] if parts.layers else None
    notes = [
        html.Span("■", style={"color": POSITIVE_COLOUR}),
        " positive mass  ",
        html.Span("■", style={"color": NEGATIVE_COLOUR}),
        " negative mass · width ∝ mass, the heaviest edge of "
        f"each layer pair at full width · {parts.shown_edges} edges shown, {parts.hidden_edges} below "
        f"{threshold:.0%} of their pair's heaviest hidden",
    ]
    if first == data.layer_names[0]:
        notes.append(f" · {first}'s edges from the RGB input are in the chart above, not drawn")
    detail = html.Div(
        html.P("Click a cluster to see its class-activation matrix here.", className="text-muted small mb-0"),
        id={"type": DETAIL_TYPE, "run": data.name},
        className="mt-2",
    )
    return html.Div(
        [header, title, body, html.Div(notes, className="small text-muted mt-1"), detail],
        className="cnncmp-edges-run border rounded p-2 mb-4",
    )


def _run_header(name: str, colour: str, extra: Any = None) -> html.Div:
    swatch = html.Span(
        style={
            "display": "inline-block",
            "width": "0.9rem",
            "height": "0.9rem",
            "borderRadius": "2px",
            "backgroundColor": colour,
            "verticalAlign": "-0.05rem",
        },
        className="me-2",
    )
    return html.Div(
        [
            html.H5([swatch, name], className="mb-0 me-auto"),
            html.Span("Download", className="text-muted small me-2") if extra is not None else None,
            extra,
        ],
        className="d-flex align-items-center mb-1",
    )


# -- the edge-sign chart ---------------------------------------------------------------------------
def fractions_figure(
    series: Sequence[RunEdges], colours: Mapping[str, str], depth: Sequence[float], dataset: str
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
        rows = [(d, f) for d, f in zip(data.relative_depth, data.fractions)]
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
                    marker={"size": 6},
                    hovertemplate=f"{data.name}<br>%{{customdata}}<br>%{{y:.1%}} positive<extra></extra>",
                ),
                row=1,
                col=col,
            )
    for col in (1, 2):
        figure.add_hline(y=0.5, line={"color": "#6c757d", "dash": "dot", "width": 1.5}, row=1, col=col)
        figure.add_vrect(
            x0=depth[0], x1=depth[1], fillcolor="#adb5bd", opacity=0.15, line_width=0, layer="below", row=1, col=col
        )
    if not series:
        figure.add_annotation(
            text="No analysed run chosen.",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 16, "color": "#6c757d"},
        )
    values = [v for t in figure.data for v in (t.y or ()) if isinstance(v, (int, float))]
    low = min([0.3, *values]) - 0.02
    high = max([0.7, *values]) + 0.02
    figure.update_xaxes(
        title={"text": "relative depth of the receiving layer (0 = conv1, 1 = output)"},
        range=[-0.03, 1.03],
        tickformat=".1f",
        showgrid=True,
        zeroline=False,
    )
    figure.update_yaxes(range=[low, high], tickformat=".0%", showgrid=True, zeroline=False)
    figure.update_yaxes(title={"text": "positive share"}, col=1)
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=420,
        title={"text": f"Edge signs per layer · {dataset}", "x": 0.01, "xanchor": "left"},
        legend={"title": {"text": "runs"}},
        margin={"l": 70, "r": 20, "t": 90, "b": 60},
        hovermode="closest",
    )
    return figure


# -- a cluster's class-activation matrix -----------------------------------------------------------
def cluster_rows(labels: np.ndarray, row_order: np.ndarray, cluster: int) -> list[int]:
    """The neurons of ``cluster`` in the layer's row order (the order the Redundancy page shows)."""
    labels = np.asarray(labels)
    return [int(r) for r in np.asarray(row_order) if labels[r] == cluster]


def cluster_matrix_figure(
    profiles: np.ndarray,
    rows: Sequence[int],
    class_names: Sequence[str],
    title: str,
    duplicates: np.ndarray | None = None,
) -> go.Figure:
    """Heatmap of the class-activation matrix rows ``rows`` (neurons × classes, as normalised by the analysis)."""
    z = np.asarray(profiles)[list(rows)]
    diverging = bool(z.size and float(z.min()) < 0)  # z-scored profiles: centre the scale at 0
    bound = float(np.abs(z).max()) if z.size and diverging else 1.0
    marks = np.asarray(duplicates) if duplicates is not None else np.zeros(len(profiles), dtype=bool)
    names = [f"n{r}" + (" ≈" if marks[r] else "") for r in rows]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in class_names],
            y=names,
            zmin=-bound if diverging else 0,
            zmax=bound,
            colorscale="RdBu_r" if diverging else "Blues",
            colorbar={"title": {"text": "response"}},
            hovertemplate="neuron %{y}, class %{x}: %{z:.2f}<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        xaxis={"title": {"text": "class"}, "type": "category", "side": "bottom"},
        # Every neuron labelled (dtick 1), smaller type when a big cluster squeezes the rows.
        yaxis={
            "title": {"text": "neuron (≈ near-duplicate)"},
            "autorange": "reversed",
            "type": "category",
            "dtick": 1,
            "tickfont": {"size": 15 if len(names) <= 50 else 10},
        },
        height=int(min(1400, max(280, 160 + 22 * len(names)))),
        margin={"l": 110, "r": 20, "t": 80, "b": 60},
    )
    return figure


def cluster_detail(source: Any, run: str, layer: int, cluster: int, dataset: str) -> html.Div:
    """The class-activation matrix of one cluster, exportable; raises what the analyzer raises."""
    clusters = source.clusters(run)
    stats = source.statistics(run)
    names = stats["layer_names"]
    if not (isinstance(layer, int) and 0 <= layer < len(names)):
        raise ValueError(f"run {run!r} has no layer {layer!r}")
    rows = cluster_rows(clusters[f"labels/{layer}"], clusters[f"row_order/{layer}"], cluster)
    if not rows:
        raise ValueError(f"{names[layer]} of {run!r} has no cluster c{cluster}")
    title = (
        f"{run} · {names[layer]} · c{cluster}: class-activation matrix ({len(rows)} neurons)"
        f"<br><span style='font-size:13px;color:#495057'>{dataset}</span>"
    )
    figure = cluster_matrix_figure(
        clusters[f"profiles/{layer}"], rows, stats["class_names"], title, clusters.get(f"duplicates/{layer}")
    )
    return components.graph(f"edges-cam-{_slug(run)}", figure, filename=f"cam-{run}-{names[layer]}-c{cluster}")


# -- the page --------------------------------------------------------------------------------------
class EdgesParts(NamedTuple):
    """What the layout and the callback both show for one choice of runs and parameters."""

    banner: Any
    figure: go.Figure
    graphs: list[Any]


def edges_parts(
    runs: Sequence[Mapping[str, Any]], chosen: Sequence[str], depth: Sequence[float], threshold: float, source: Any
) -> EdgesParts:
    """Banner, edge-sign chart and one graph card per chosen run (a message where a run has no data)."""
    colours = run_colours([str(r.get("name")) for r in runs])
    wanted = set(chosen)
    selected = [r for r in runs if r.get("name") in wanted]
    dataset = components.dataset_label(selected)
    series: list[RunEdges] = []
    cards: list[Any] = []
    for run in selected:
        name = str(run["name"])
        if run.get("status") == "broken":
            cards.append(
                components.message(
                    str(run.get("problem") or "unreadable run"), kind="danger", title=f"{name} is broken"
                )
            )
            continue
        try:
            data = load_run_edges(source, name)
        except PAGE_ERRORS as exc:
            cards.append(components.problem_message(exc, title=f"{name}: no edge data to show"))
            continue
        series.append(data)
        cards.append(run_graph_card(data, depth, threshold, colours.get(name, "#888888"), dataset))
    if not selected:
        cards.append(components.message("No run chosen: tick at least one run above.", kind="secondary"))
    return EdgesParts(components.dataset_banner(selected), fractions_figure(series, colours, depth, dataset), cards)


def controls(
    runs: Sequence[Mapping[str, Any]], chosen: Sequence[str], depth: Sequence[float], threshold: float
) -> html.Div:
    options = [
        {"label": f"{r['name']} (broken)" if r.get("status") == "broken" else str(r["name"]), "value": str(r["name"])}
        for r in runs
    ]
    depth_marks = {v: f"{v:g}" for v in (0, 0.25, 0.5, 0.75, 1)}
    threshold_marks = {v: f"{v:.0%}" for v in (0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)}
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Runs", className="fw-semibold me-3"),
                    dbc.Checklist(
                        id=PICKER_ID,
                        options=options,
                        value=list(chosen),
                        inline=True,
                        switch=True,
                        className="cnncmp-picker",
                    ),
                ],
                className="d-flex flex-wrap align-items-baseline mb-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Label(
                                "Layers drawn (relative depth: 0 = conv1, 1 = output)",
                                htmlFor=DEPTH_ID,
                                className="fw-semibold",
                            ),
                            dcc.RangeSlider(
                                id=DEPTH_ID,
                                min=0,
                                max=1,
                                step=0.05,
                                value=list(depth),
                                marks=depth_marks,
                                allowCross=False,
                                tooltip={"placement": "bottom"},
                            ),
                        ],
                        md=7,
                    ),
                    dbc.Col(
                        [
                            html.Label(
                                "Hide edges lighter than (share of the pair's heaviest)",
                                htmlFor=THRESHOLD_ID,
                                className="fw-semibold",
                            ),
                            dcc.Slider(
                                id=THRESHOLD_ID,
                                min=0,
                                max=MAX_THRESHOLD,
                                step=0.05,
                                value=threshold,
                                marks=threshold_marks,
                                tooltip={"placement": "bottom"},
                            ),
                        ],
                        md=5,
                    ),
                ],
                className="mb-3 g-4",
            ),
        ]
    )


def layout(models: Any = None, depth: Any = None, threshold: Any = None, **_other_query: Any) -> html.Div:
    """The page for ``/edges?models=a,b&depth=0.5,1&threshold=0.1``; bad values get a message and a default."""
    settings = current_settings()
    runs_dir = settings.runs_dir
    heading = components.page_heading(
        "Edges",
        "How low-level clusters of neurons feed high-level ones: the weight between clusters of adjacent "
        "layers, split into excitatory (green) and inhibitory (red) mass, after CNNVis (R4).",
    )
    try:
        runs = read_runs(runs_dir)
        if not runs:
            return html.Div([heading, components.no_runs_message(runs_dir, title=None, id="edges-empty")])
        selection = parse_runs(models, [r["name"] for r in runs])
        depth_range, depth_problem = parse_depth(depth)
        threshold_value, threshold_problem = parse_threshold(threshold)
        problems = [p for p in (depth_problem, threshold_problem) if p]
        param_message = (
            components.message(
                [html.Ul([html.Li(p) for p in problems], className="mb-1"), "Showing the default instead."],
                kind="warning",
                title="Some settings in this link were not understood",
            )
            if problems
            else None
        )
        parts = edges_parts(runs, selection.names, depth_range, threshold_value, analyzer(settings))
        return html.Div(
            [
                heading,
                dcc.Location(id=URL_ID, refresh=False),
                link_message(selection, runs_dir, LINK_MESSAGE_ID),
                html.Div(param_message, id=PARAM_MESSAGE_ID),
                html.Div(parts.banner, id=BANNER_ID),
                controls(runs, selection.names, depth_range, threshold_value),
                components.graph(FRACTIONS_ID, parts.figure, filename="edge-signs"),
                html.Div(parts.graphs, id=GRAPHS_ID),
            ]
        )
    except Exception as exc:
        log.exception("edges page failed for models=%r depth=%r threshold=%r", models, depth, threshold)
        return components.page_failure(heading, exc, id="edges-error")


def register_callbacks(app: dash.Dash) -> None:
    """Runs, depth range and threshold redraw the page and the URL; a clicked cluster shows its matrix."""

    @app.callback(
        Output(BANNER_ID, "children"),
        Output(FRACTIONS_ID, "figure"),
        Output(GRAPHS_ID, "children"),
        Output(URL_ID, "search"),
        Output(PARAM_MESSAGE_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(DEPTH_ID, "value"),
        Input(THRESHOLD_ID, "value"),
        prevent_initial_call=True,  # layout() already drew the first view; keep the link as typed
    )
    def show_edges(chosen: list[str] | None, depth: list[float] | None, threshold: float | None):
        settings = current_settings()
        try:
            runs = read_runs(settings.runs_dir)
            chosen = picked_names(chosen)
            depth_range, _ = parse_depth(",".join(str(v) for v in depth) if depth else None)
            threshold_value, _ = parse_threshold(threshold)
            parts = edges_parts(runs, chosen, depth_range, threshold_value, analyzer(settings))
            return (parts.banner, parts.figure, parts.graphs, edges_search(chosen, depth_range, threshold_value), None)
        except Exception:
            log.exception("edges update failed for %r %r %r", chosen, depth, threshold)
            error = components.message("These runs could not be read; the server log has the details.", kind="danger")
            return no_update, no_update, error, no_update, no_update

    @app.callback(
        Output({"type": DETAIL_TYPE, "run": MATCH}, "children"),
        Input({"type": CYTO_TYPE, "run": MATCH}, "tapNodeData"),
        prevent_initial_call=True,
    )
    def show_cluster(node: dict | None):
        if not isinstance(node, dict) or "cluster" not in node:
            return no_update
        run = str(node.get("run"))
        try:
            rows = read_runs(current_settings().runs_dir)
            dataset = components.dataset_label([r for r in rows if r.get("name") == run])
            return cluster_detail(analyzer(), run, node.get("layer"), node.get("cluster"), dataset)
        except PAGE_ERRORS as exc:
            return components.message(str(exc), kind="warning")
        except Exception:
            log.exception("cluster detail failed for %r", node)
            return components.message("This cluster could not be shown; the server log has the details.", kind="danger")

    @app.callback(
        Output({"type": CYTO_TYPE, "run": MATCH}, "generateImage"),
        Input({"type": EXPORT_TYPE, "run": MATCH, "format": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def export_graph(_clicks: list[int]):
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(_clicks or []):
            return no_update
        fmt = trigger.get("format")
        options = {"full": True, "bg": "#ffffff", "scale": 2} if fmt == "png" else {"full": True, "bg": "#ffffff"}
        return {"type": fmt, "action": "download", "filename": f"edges-{trigger.get('run')}", "options": options}
