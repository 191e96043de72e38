"""Redundancy page: CNNVis' cluster matrices of the chosen runs side by side, redundancy per layer, cluster edits.

One layer per run, chosen by relative depth (each run snaps to its nearest layer) or by name when
one run is shown. Each run's card carries its redundancy numbers at that layer (the most redundant
run is marked) and its class-activation matrix: rows (neurons) grouped by cluster, one class order
for all columns, a near-duplicate ≈ column and one colour scale for every run; any cluster can
switch to its learned-features mosaic. Clusters can be edited (move a neuron, merge, split, undo)
with stable ids, and the matrix and numbers follow. The link holds the whole view
(``/redundancy?runs=a,b&depth=0.5&view=matrix&edits=a:conv5:m12.3-j1.0``; see
:mod:`app.redundancy_view`, which reads it and builds what is shown; the cards are drawn by
:mod:`app.redundancy_panels`, the figures by :mod:`app.figures.redundancy`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analysis.frames import layers_frame
from app import components, tables
from app.figures.redundancy import metrics_figure
from app.page import PageContext, guarded_callback, page_context, page_layout
from app.redundancy_panels import (
    EDIT_HINT_ID,
    EDIT_RUN_ID,
    EDITS_LIST_ID,
    FEATURES_TYPE,
    FEEDBACK_ID,
    MATRIX_TYPE,
    MERGE_FROM_ID,
    MERGE_ID,
    MERGE_INTO_ID,
    MOVE_ID,
    MOVE_TO_ID,
    NEURON_ID,
    RESET_ID,
    SPLIT_CLUSTER_ID,
    SPLIT_ID,
    SPLIT_PARTS_ID,
    UNDO_ID,
    duplicate_caption,
    edit_card,
    edits_summary,
    feedback_line,
    grid_style,
    run_panel,
)
from app.redundancy_state import (
    EditForm,
    LayerControl,
    edit_options,
    initial_state,
    layer_control,
    next_state,
    sent_state,
)
from app.redundancy_view import (
    DEFAULT_DEPTH,
    edit_steps,
    most_redundant,
    panel_views,
    resolve,
    run_metrics,
    state_search,
    with_figures,
)
from app.selection import link_message, run_colours

if TYPE_CHECKING:  # the type only: the analyzer comes from app.analysis_access
    from analysis.pipeline import RunAnalyzer

dash.register_page(
    __name__, path="/redundancy", name="Redundancy", title=f"Redundancy · {components.PRODUCT_NAME}", order=1
)

URL_ID = "redundancy-url"
STORE_ID = "redundancy-state"
BANNER_ID = "redundancy-banner"
LINK_MESSAGE_ID = "redundancy-link-message"
QUERY_MESSAGE_ID = "redundancy-query-message"
PICKER_ID = "redundancy-runs"
DEPTH_ID = "redundancy-depth"
LAYER_ID = "redundancy-layer"
VIEW_ID = "redundancy-view"
PANELS_ID = "redundancy-panels"
METRICS_ID = "redundancy-metrics"
LAYERS_BOX_ID = "redundancy-layers"
LAYERS_TABLE_ID = "redundancy-layers-table"
METRICS_HEIGHT = 300  # px: with the controls above, the chart and the cards' numbers fit a 1600×1000 screen
#: The control of :func:`app.redundancy_view.next_state` each component changes.
CONTROL_OF = {
    PICKER_ID: "runs",
    DEPTH_ID: "depth",
    LAYER_ID: "layer",
    VIEW_ID: "view",
    MOVE_ID: "move",
    MERGE_ID: "merge",
    SPLIT_ID: "split",
    UNDO_ID: "undo",
    RESET_ID: "reset",
}

VALUE_CONTROLS = (PICKER_ID, DEPTH_ID, LAYER_ID, VIEW_ID)
BUTTONS = (MOVE_ID, MERGE_ID, SPLIT_ID, UNDO_ID, RESET_ID)
FORM = (EDIT_RUN_ID, NEURON_ID, MOVE_TO_ID, MERGE_FROM_ID, MERGE_INTO_ID, SPLIT_CLUSTER_ID, SPLIT_PARTS_ID)

HEADING = components.page_heading(
    "Redundancy",
    "Which run spends its neurons on the same thing: redundancy per layer, then each run's numbers and its "
    "neurons × classes matrix, clustered.",
)


# -- what a state shows ------------------------------------------------------------------------------------
class RedundancyParts(NamedTuple):
    """Everything the layout and the render callback show for one state."""

    banner: Any
    panels: Any
    metrics: Any
    edit_runs: list[dict]
    edits_list: Any
    layers: Any  # the per-layer numbers as a table (analysis.frames.layers_frame), with its CSV


def _depth_shown(state: Mapping[str, Any], n_shown: int) -> float | None:
    """The depth the runs are aligned at; ``None`` when one run shows a layer chosen by name."""
    return None if state.get("layer") and n_shown == 1 else float(state.get("depth", DEFAULT_DEPTH))


def redundancy_parts(
    state: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], analyzer: RunAnalyzer
) -> RedundancyParts:
    """Banner, run cards, metrics figure, edit-run choices and edits in words for ``state``."""
    colours = run_colours([str(r.get("name")) for r in runs])
    rows = {str(r.get("name")): r for r in runs}
    shown = resolve(state, runs, analyzer)
    chosen_rows = [rows[s.run] for s in shown]
    views = panel_views(shown, state, analyzer)
    mosaic = state.get("view") == "mosaic"
    features = {d.shown.run: d.view.cluster_ids for d in views if mosaic and d.view is not None}
    data = with_figures(views, runs, analyzer, features)
    depth = _depth_shown(state, len(shown))
    leader = most_redundant([d.view for d in data if d.view is not None])
    panels = [
        run_panel(d, colours.get(d.shown.run, "#888"), depth, features.get(d.shown.run, ()), d.shown.run == leader)
        for d in data
    ]
    series = [run_metrics(analyzer, d.shown, d.view) for d in data if d.view is not None]
    grid: Any = (
        html.Div(panels, style=grid_style(len(panels)))
        if shown
        else components.message("No run chosen: tick at least one run above.", kind="secondary")
    )
    label = components.dataset_label(chosen_rows)
    return RedundancyParts(
        banner=components.dataset_banner(chosen_rows),
        panels=grid,
        metrics=metrics_figure(series, colours, depth, label, leader, height=METRICS_HEIGHT),
        edit_runs=[{"label": s.run, "value": s.run} for s in shown if s.problem is None],
        edits_list=edits_summary(edit_steps(state.get("edits") or {}, shown, analyzer)),
        layers=tables.layers_table(
            layers_frame([s.run for s in shown if s.problem is None], analyzer=analyzer), LAYERS_TABLE_ID, "layers"
        ),
    )


def matrix_for(
    state: Mapping[str, Any],
    run: str,
    features: Collection[int],
    runs: Sequence[Mapping[str, Any]],
    analyzer: RunAnalyzer,
) -> dict:
    """One run's matrix figure with ``features`` clusters as mosaics, on the page's shared colour scale."""
    views = panel_views(resolve(state, runs, analyzer), state, analyzer)
    if not any(d.view is not None and d.shown.run == run for d in views):
        raise PreventUpdate  # a request for a run that is not shown: nothing of it to redraw
    wanted = {run: [int(c) for c in features if isinstance(c, int) and not isinstance(c, bool)]}
    drawn = with_figures(views, runs, analyzer, wanted)
    return next(d.figure for d in drawn if d.shown.run == run)


# -- the controls ------------------------------------------------------------------------------------------
def controls(runs: Sequence[Mapping[str, Any]], state: Mapping[str, Any], layer: LayerControl) -> dbc.Card:
    def column(label: str, control: Any, width: int) -> dbc.Col:
        return dbc.Col([html.Div(label, className="fw-semibold small"), control], lg=width)

    depth = dcc.Slider(
        id=DEPTH_ID,
        min=0,
        max=1,
        step=0.01,
        value=float(state["depth"]),
        marks={0: "0 input side", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1 output"},
        tooltip={"placement": "bottom", "always_visible": False},
        updatemode="mouseup",
    )
    by_name = dcc.Dropdown(
        id=LAYER_ID,
        options=layer.options,
        value=layer.value,
        disabled=layer.disabled,
        clearable=False,
        placeholder="choose one run to pick its layer by name",
    )
    view = dbc.RadioItems(
        id=VIEW_ID,
        value=state["view"],
        inline=True,
        options=[{"label": "matrices", "value": "matrix"}, {"label": "learned features", "value": "mosaic"}],
    )
    picker = components.run_picker(PICKER_ID, runs, state["runs"])
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [html.Span("Runs", className="fw-semibold me-3"), picker],
                    className="d-flex flex-wrap align-items-baseline mb-1",
                ),
                dbc.Row(
                    [
                        column("Layer by relative depth (each run takes its nearest layer)", depth, 6),
                        column("Layer by name (one run)", by_name, 3),
                        column("Show clusters as", view, 3),
                    ],
                    className="g-3",
                ),
            ],
            className="py-2",
        ),
        className="mb-2",
    )


# -- layout and callbacks --------------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    """The page for ``/redundancy?runs=…&depth=…&view=…&edits=…``; bad values get a message and a default."""

    def build(context: PageContext) -> list[Any]:
        runs, analyzer = context.runs, context.analyzer
        state, selection, problems = initial_state(query, runs, analyzer)
        parts = redundancy_parts(state, runs, analyzer)
        edit_run = next(iter(state["edits"]), None) or (parts.edit_runs[0]["value"] if parts.edit_runs else None)
        return [
            dcc.Location(id=URL_ID, refresh=False),
            dcc.Store(id=STORE_ID, data=state),
            link_message(selection, str(context.settings.runs_dir), LINK_MESSAGE_ID),
            components.query_message(problems, id=QUERY_MESSAGE_ID),
            html.Div(parts.banner, id=BANNER_ID),
            controls(runs, state, layer_control(state, runs, analyzer)),
            dbc.Row(
                [
                    dbc.Col(
                        components.graph(
                            METRICS_ID, parts.metrics, filename="redundancy-per-layer", height=METRICS_HEIGHT
                        ),
                        xl=9,
                    ),
                    dbc.Col(duplicate_caption(analyzer.params.duplicate_threshold), xl=3, className="pt-xl-5"),
                ],
                className="g-2",
            ),
            dcc.Loading(html.Div(parts.panels, id=PANELS_ID, className="mb-4"), delay_show=400),
            edit_card(parts.edit_runs, edit_run, parts.edits_list),
            html.Div(parts.layers, id=LAYERS_BOX_ID, className="mt-4"),
        ]

    return page_layout("redundancy", HEADING, build, query)


def register_callbacks(app: dash.Dash) -> None:
    """Controls change the state; the state draws the cards, metrics and URL; switches redraw one matrix."""

    @guarded_callback(
        app,
        Output(STORE_ID, "data"),
        Output(FEEDBACK_ID, "children"),
        Output(DEPTH_ID, "value"),
        Output(LAYER_ID, "options"),
        Output(LAYER_ID, "value"),
        Output(LAYER_ID, "disabled"),
        *[Input(component, "value") for component in VALUE_CONTROLS],
        *[Input(component, "n_clicks") for component in BUTTONS],
        State(STORE_ID, "data"),
        *[State(component, "value") for component in FORM],
        what="That change",
        message=1,
        prevent_initial_call=True,
    )
    def change_state(*args):
        trigger = ctx.triggered_id
        if trigger not in CONTROL_OF:
            raise PreventUpdate
        values, rest = args[: len(VALUE_CONTROLS)], args[len(VALUE_CONTROLS) + len(BUTTONS) :]
        value = dict(zip(VALUE_CONTROLS, values)).get(trigger)
        context = page_context()
        old = sent_state(rest[0])
        form = EditForm(*rest[1:])
        new, text, kind = next_state(old, CONTROL_OF[trigger], value, form, context.runs, context.analyzer)
        if new is None:
            return no_update, feedback_line(text, kind), no_update, no_update, no_update, no_update
        control = layer_control(new, context.runs, context.analyzer)
        depth_out = new["depth"] if trigger != DEPTH_ID else no_update
        store = new if new != old else no_update
        return store, feedback_line(text, kind), depth_out, control.options, control.value, control.disabled

    @guarded_callback(
        app,
        Output(BANNER_ID, "children"),
        Output(PANELS_ID, "children"),
        Output(METRICS_ID, "figure"),
        Output(URL_ID, "search"),
        Output(EDIT_RUN_ID, "options"),
        Output(EDITS_LIST_ID, "children"),
        Output(LAYERS_BOX_ID, "children"),
        Input(STORE_ID, "data"),
        what="This view",
        message=1,
        prevent_initial_call=True,  # layout() drew the first view; keep the link as typed
    )
    def draw(state):
        state = sent_state(state)
        context = page_context()
        parts = redundancy_parts(state, context.runs, context.analyzer)
        return (
            parts.banner,
            parts.panels,
            parts.metrics,
            state_search(state),
            parts.edit_runs,
            parts.edits_list,
            parts.layers,
        )

    @guarded_callback(
        app,
        Output(MOVE_TO_ID, "options"),
        Output(MERGE_FROM_ID, "options"),
        Output(MERGE_INTO_ID, "options"),
        Output(SPLIT_CLUSTER_ID, "options"),
        Output(NEURON_ID, "max"),
        Output(EDIT_HINT_ID, "children"),
        Input(EDIT_RUN_ID, "value"),
        Input(STORE_ID, "data"),
        what="The edit form",
    )
    def fill_edit_form(run, state):
        context = page_context()
        choices = edit_options(sent_state(state), run if isinstance(run, str) else None, context.runs, context.analyzer)
        hint = [html.Strong(choices.where), choices.hint] if choices.where else choices.hint
        return choices.move_to, choices.clusters, choices.clusters, choices.clusters, choices.neuron_max, hint

    @app.callback(
        Output(EDIT_RUN_ID, "value"),
        Output(NEURON_ID, "value"),
        Input({"type": MATRIX_TYPE, "run": ALL}, "clickData"),
        prevent_initial_call=True,
    )
    def pick_neuron(_clicks):
        trigger = ctx.triggered_id
        click = ctx.triggered[0]["value"] if ctx.triggered else None
        try:  # rows are named by neuron index (Dash drops array-valued customdata from click events)
            neuron = int(click["points"][0]["y"])
        except (TypeError, KeyError, IndexError, ValueError):
            raise PreventUpdate from None
        if not isinstance(trigger, dict):
            raise PreventUpdate
        return trigger["run"], neuron

    @guarded_callback(
        app,
        Output({"type": MATRIX_TYPE, "run": MATCH}, "figure"),
        Input({"type": FEATURES_TYPE, "run": MATCH}, "value"),
        State(STORE_ID, "data"),
        what="The matrix",
        prevent_initial_call=True,
    )
    def switch_clusters(features, state):
        if not isinstance(ctx.triggered_id, dict):  # a request naming no changed input: no run to redraw
            raise PreventUpdate
        context = page_context()
        chosen = features if isinstance(features, list) else []
        return matrix_for(sent_state(state), ctx.triggered_id["run"], chosen, context.runs, context.analyzer)
