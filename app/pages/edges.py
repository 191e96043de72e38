"""Edges page: CNNVis' edge-sign view (R4) — how low-level neuron clusters feed high-level ones.

Per chosen run a graph (dash-cytoscape) of neuron clusters, one row per layer from the input side
(top) to the output side (bottom); between the clusters of adjacent layers a green edge for the
positive weight mass and a red edge for the negative weight mass, thickness ∝ mass; a dead
cluster is drawn dashed and says so. Above the graphs, the positive edge fraction and positive
mass fraction of every layer's incoming edges, across runs on the relative-depth axis. Clicking a
cluster shows its class-activation matrix.

The link holds the view (``/edges?runs=a,b&depths=0.5,1&threshold=0.1&cluster=a:fc1:c2``, parsed
by :mod:`app.edges_view`); bad values get a message and their default. The graph's elements and
the figures are drawn by :mod:`app.figures.edges`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
import plotly.graph_objects as go
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analysis.runs.store import RunStatus
from app import components
from app.analysis_access import PAGE_ERRORS
from app.edges_view import (
    MAX_THRESHOLD,
    ClusterChoice,
    RunEdges,
    cluster_rows,
    edges_search,
    load_run_edges,
    parse_cluster,
    parse_query,
    parse_threshold,
    slider_range,
)
from app.figures.edges import (
    BOX_PADDING,
    DEAD_COLOUR,
    MAX_ZOOM,
    NEGATIVE_COLOUR,
    POSITIVE_COLOUR,
    cluster_matrix_figure,
    fractions_figure,
    graph_elements,
    graph_height,
    stylesheet,
)
from app.page import PageContext, guarded_callback, page_context, page_layout
from app.selection import link_message, picked_names, query_selection, run_colours

dash.register_page(__name__, path="/edges", name="Edges", title=f"Edges · {components.PRODUCT_NAME}", order=2)

# SVG export of a cytoscape graph needs the cytoscape-svg extension, shipped only in the "extra" bundle.
cyto.load_extra_layouts()

URL_ID = "edges-url"
PICKER_ID = "edges-models"
DEPTH_ID = "edges-depth"
THRESHOLD_ID = "edges-threshold"
CLUSTER_ID = "edges-cluster"  # a store: the clicked cluster as the link writes it (run:layer:c2), or None
BANNER_ID = "edges-banner"
LINK_MESSAGE_ID = "edges-link-message"
PARAM_MESSAGE_ID = "edges-param-message"
FRACTIONS_ID = "edges-fractions"
GRAPHS_ID = "edges-graphs"
CYTO_TYPE = "edges-graph"  # pattern-matching ids: {"type": CYTO_TYPE, "run": name}
DETAIL_TYPE = "edges-detail"
EXPORT_TYPE = "edges-export"
CLICK_HINT = "Click a cluster to see its class-activation matrix here."

HEADING = components.page_heading(
    "Edges",
    "How low-level clusters of neurons feed high-level ones: the weight between clusters of adjacent "
    "layers, split into excitatory (green) and inhibitory (red) mass, after CNNVis (R4).",
)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


# -- a cluster's class-activation matrix -----------------------------------------------------------
def cluster_detail(source: Any, run: str, layer: int | str, cluster: int, dataset: str) -> html.Div:
    """The class-activation matrix of one cluster (``layer`` an index or a name), exportable.

    Raises what the analyzer raises, and ValueError for a layer or cluster the run does not have.
    """
    clusters = source.clusters(run)
    stats = source.statistics(run)
    names = list(stats["layer_names"])
    index = names.index(layer) if isinstance(layer, str) and layer in names else layer
    if not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(names)):
        raise ValueError(f"run {run!r} has no layer {layer!r}; its layers: {', '.join(names)}")
    rows = cluster_rows(clusters[f"labels/{index}"], clusters[f"row_order/{index}"], cluster)
    if not rows:
        raise ValueError(f"{names[index]} of {run!r} has no cluster c{cluster}")
    figure = cluster_matrix_figure(
        clusters[f"profiles/{index}"],
        rows,
        stats["class_names"],
        f"c{cluster} of {names[index]} · {run}: class-activation matrix, {len(rows)} neurons",
        dataset,
        duplicates=clusters.get(f"duplicates/{index}"),
        dead=source.dead_neurons(run, index),
    )
    return components.graph(
        f"edges-cam-{_slug(run)}", figure, filename=f"cam-{run}-{names[index]}-c{cluster}", title=None
    )


def detail_for(source: Any, run: str, choice: ClusterChoice | None, dataset: str) -> Any:
    """What a run's detail area shows: the chosen cluster's matrix when it is this run's, else the hint."""
    if choice is None or choice.run != run:
        return html.P(CLICK_HINT, className="text-muted mb-0")
    try:
        return cluster_detail(source, run, choice.layer, choice.cluster, dataset)
    except PAGE_ERRORS as exc:
        return components.problem_message(exc, title=f"No matrix for {choice.text()}")


# -- one run's card --------------------------------------------------------------------------------
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


def _run_header(name: str, colour: str) -> html.Div:
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
            html.Span("Download", className="text-muted small me-2"),
            export_buttons(name),
        ],
        className="d-flex align-items-center mb-1",
    )


def run_graph_card(
    data: RunEdges,
    depths: Sequence[float],
    threshold: float,
    colour: str,
    dataset: str,
    detail: Any = None,
    selected: ClusterChoice | None = None,
) -> html.Div:
    """One run's graph with its caption and legend, export buttons and the cluster-detail area."""
    parts = graph_elements(data, depths, threshold, selected)
    title = html.Div(f"Neuron clusters and the sign of their edges · {dataset}", className="text-muted mb-1")
    if not parts.layers:
        body: Any = components.message(
            f"{data.name} has no layer between relative depths {depths[0]:g} and {depths[1]:g}; widen the range.",
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
    notes: list[Any] = [
        html.Span("■", style={"color": POSITIVE_COLOUR}),
        " positive mass  ",
        html.Span("■", style={"color": NEGATIVE_COLOUR}),
        " negative mass  ",
        html.Span("┅", style={"color": DEAD_COLOUR, "fontWeight": "bold"}),
        " dead: its neurons never fire on the test images (“3 dead”: some do not)",
        f" · width ∝ mass, the heaviest edge of each layer pair at full width · {parts.shown_edges} edges shown, "
        f"{parts.hidden_edges} below {threshold:.0%} of their pair's heaviest hidden",
    ]
    if parts.dead_clusters:
        notes.append(html.Strong(f" · {parts.dead_clusters} dead cluster{'s' * (parts.dead_clusters != 1)} shown"))
    if first == data.layer_names[0]:
        notes.append(f" · {first}'s edges from the RGB input are in the chart above, not drawn")
    return html.Div(
        [
            _run_header(data.name, colour),
            title,
            body,
            html.Div(notes, className="text-muted mt-1"),
            html.Div(
                detail if detail is not None else html.P(CLICK_HINT, className="text-muted mb-0"),
                id={"type": DETAIL_TYPE, "run": data.name},
                className="mt-2",
            ),
        ],
        className="cnncmp-edges-run border rounded p-2 mb-4",
    )


# -- the parts -------------------------------------------------------------------------------------
class EdgesParts(NamedTuple):
    """What the layout and the callback both show for one choice of runs and parameters."""

    banner: Any
    figure: go.Figure
    graphs: list[Any]


def edges_parts(
    runs: Sequence[Mapping[str, Any]],
    chosen: Sequence[str],
    depths: Sequence[float],
    threshold: float,
    source: Any,
    cluster: ClusterChoice | None = None,
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
        if run.get("status") == RunStatus.BROKEN:
            problem = str(run.get("problem") or "unreadable run")
            cards.append(components.message(problem, kind="danger", title=f"{name} is broken"))
            continue
        try:
            data = load_run_edges(source, name)
        except PAGE_ERRORS as exc:
            cards.append(components.problem_message(exc, title=f"{name}: no edge data to show"))
            continue
        series.append(data)
        label = components.dataset_label([run])
        detail = detail_for(source, name, cluster, label)
        cards.append(run_graph_card(data, depths, threshold, colours.get(name, "#888888"), dataset, detail, cluster))
    if not selected:
        cards.append(components.message("No run chosen: tick at least one run above.", kind="secondary"))
    return EdgesParts(components.dataset_banner(selected), fractions_figure(series, colours, depths, dataset), cards)


def controls(
    runs: Sequence[Mapping[str, Any]], chosen: Sequence[str], depths: Sequence[float], threshold: float
) -> html.Div:
    def labelled(text: str, control: Any, for_id: str, width: int) -> dbc.Col:
        return dbc.Col([html.Label(text, htmlFor=for_id, className="fw-semibold"), control], md=width)

    depth_slider = dcc.RangeSlider(
        id=DEPTH_ID,
        min=0,
        max=1,
        step=0.05,
        value=list(depths),
        marks={v: f"{v:g}" for v in (0, 0.25, 0.5, 0.75, 1)},
        allowCross=False,
        tooltip={"placement": "bottom"},
    )
    threshold_slider = dcc.Slider(
        id=THRESHOLD_ID,
        min=0,
        max=MAX_THRESHOLD,
        step=0.05,
        value=threshold,
        marks={v: f"{v:.0%}" for v in (0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)},
        tooltip={"placement": "bottom"},
    )
    picker = components.run_picker(PICKER_ID, runs, chosen)
    return html.Div(
        [
            html.Div(
                [html.Span("Runs", className="fw-semibold me-3"), picker],
                className="d-flex flex-wrap align-items-baseline mb-2",
            ),
            dbc.Row(
                [
                    labelled("Layers drawn (relative depth: 0 = conv1, 1 = output)", depth_slider, DEPTH_ID, 7),
                    labelled(
                        "Hide edges lighter than (share of the pair's heaviest)", threshold_slider, THRESHOLD_ID, 5
                    ),
                ],
                className="mb-3 g-4",
            ),
        ]
    )


# -- layout and callbacks --------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    """The page for ``/edges?runs=a,b&depths=0.5,1&threshold=0.1&cluster=a:fc1:c2``; bad values get a message."""

    def build(context: PageContext) -> list[Any]:
        selection = query_selection(query, context.runs, context.settings.runs_dir)
        asked = parse_query(query)
        problems = list(asked.problems)
        if asked.cluster is not None and asked.cluster.run not in selection.names:
            problems.append(f"cluster={asked.cluster.text()}: run {asked.cluster.run} is not shown; tick it first.")
        parts = edges_parts(
            context.runs, selection.names, asked.depths, asked.threshold, context.analyzer, asked.cluster
        )
        shown = asked.cluster if asked.cluster is not None and asked.cluster.run in selection.names else None
        return [
            dcc.Location(id=URL_ID, refresh=False),
            dcc.Store(id=CLUSTER_ID, data=shown.text() if shown else None),
            link_message(selection, context.settings.runs_dir, LINK_MESSAGE_ID),
            html.Div(components.query_message(problems, id=f"{PARAM_MESSAGE_ID}-body"), id=PARAM_MESSAGE_ID),
            html.Div(parts.banner, id=BANNER_ID),
            controls(context.runs, selection.names, asked.depths, asked.threshold),
            components.graph(FRACTIONS_ID, parts.figure, filename="edge-signs"),
            html.Div(parts.graphs, id=GRAPHS_ID),
        ]

    return page_layout("edges", HEADING, build, query)


def register_callbacks(app: dash.Dash) -> None:
    """Runs, depth range and threshold redraw the page; a clicked cluster shows its matrix; all go into the URL."""

    @guarded_callback(
        app,
        Output(BANNER_ID, "children"),
        Output(FRACTIONS_ID, "figure"),
        Output(GRAPHS_ID, "children"),
        Output(PARAM_MESSAGE_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(DEPTH_ID, "value"),
        Input(THRESHOLD_ID, "value"),
        State(CLUSTER_ID, "data"),
        what="The edge graphs",
        message=2,
        prevent_initial_call=True,  # layout() already drew the first view; keep the link as typed
    )
    def show_edges(chosen: Any, depth: Any, threshold: Any, cluster: Any):
        context = page_context()
        parts = edges_parts(
            context.runs,
            picked_names(chosen),
            slider_range(depth),
            float(parse_threshold(threshold).value),
            context.analyzer,
            parse_cluster(cluster).value,
        )
        return parts.banner, parts.figure, parts.graphs, None

    @guarded_callback(
        app,
        Output(CLUSTER_ID, "data"),
        Output({"type": DETAIL_TYPE, "run": ALL}, "children"),
        Input({"type": CYTO_TYPE, "run": ALL}, "tapNodeData"),
        what="The cluster's matrix",
        prevent_initial_call=True,
    )
    def show_cluster(_taps: Any):
        trigger = ctx.triggered_id
        node = ctx.triggered[0].get("value") if ctx.triggered else None
        # A graph drawn anew fires with no tap: keep the cluster the link or the last click chose.
        if not isinstance(trigger, dict) or not isinstance(node, dict) or "cluster" not in node:
            raise PreventUpdate
        run = str(trigger.get("run"))
        layer, number = node.get("layer_name"), node.get("cluster")
        choice = parse_cluster(f"{run}:{layer}:c{number}").value
        if choice is None:
            raise PreventUpdate
        context = page_context()
        dataset = components.dataset_label([r for r in context.runs if r.get("name") == run])
        details = [
            detail_for(context.analyzer, str(output["id"]["run"]), choice, dataset) for output in ctx.outputs_list[1]
        ]
        return choice.text(), details

    @guarded_callback(
        app,
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        Input(DEPTH_ID, "value"),
        Input(THRESHOLD_ID, "value"),
        Input(CLUSTER_ID, "data"),
        what="The link",
        prevent_initial_call=True,
    )
    def write_url(chosen: Any, depth: Any, threshold: Any, cluster: Any):
        threshold_value = float(parse_threshold(threshold).value)
        return edges_search(picked_names(chosen), slider_range(depth), threshold_value, parse_cluster(cluster).value)

    @guarded_callback(
        app,
        Output({"type": CYTO_TYPE, "run": MATCH}, "generateImage"),
        Input({"type": EXPORT_TYPE, "run": MATCH, "format": ALL}, "n_clicks"),
        what="The graph's download",
        prevent_initial_call=True,
    )
    def export_graph(_clicks: list[int]):
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(_clicks or []):
            return no_update
        fmt = trigger.get("format")
        options = {"full": True, "bg": "#ffffff", "scale": 2} if fmt == "png" else {"full": True, "bg": "#ffffff"}
        return {"type": fmt, "action": "download", "filename": f"edges-{trigger.get('run')}", "options": options}
