"""Evolution page: how the chosen runs changed over training, and whether their training was healthy.

After Zeiler & Fergus (2014: features across training snapshots) and CNNVis' R5 (debugging a
failing training): errors, mean near-duplicate fraction and positive-edge fraction over the
snapshots; the per-layer picture at one snapshot (layers aligned by relative depth); per-layer
dead units and gradient norms per epoch from the training history, with the anomalies the
analysis flags written out in words.

The link holds the view (``/evolution?runs=a,b&epoch=7&metric=grad_norm``, parsed by
:mod:`app.evolution_view`). Figures are drawn by :mod:`app.figures.evolution`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from analysis.lru import LRU
from analysis.runs.store import RunStatus
from app import components
from app import evolution_view as view
from app.figures.common import empty_figure
from app.figures.evolution import HEALTH_METRICS
from app.page import PageContext, drawn, guarded_callback, page_context, page_layout
from app.query import problems_of
from app.selection import link_message, picked_names, query_selection

dash.register_page(
    __name__, path="/evolution", name="Evolution", title=f"Evolution · {components.PRODUCT_NAME}", order=5
)

URL_ID = "evolution-url"
BANNER_ID = "evolution-banner"
LINK_MESSAGE_ID = "evolution-link-message"
QUERY_MESSAGE_ID = "evolution-query-message"
PICKER_ID = "evolution-models"
EPOCH_ID = "evolution-epoch"  # the snapshot slider: positions 0, 1, … of EPOCHS_ID's epochs
EPOCHS_ID = "evolution-epochs"  # a store: the analysed snapshot epochs the slider runs over
METRIC_ID = "evolution-health-metric"
MESSAGES_ID = "evolution-messages"
TRAINING_GRAPH_ID = "evolution-over-training"
LAYERS_GRAPH_ID = "evolution-per-layer"
HEALTH_GRAPH_ID = "evolution-health"
ANOMALIES_ID = "evolution-anomalies"
JOBS_PATH = "/jobs"

HEADING = components.page_heading(
    "Evolution & training health",
    "How the chosen runs changed over training — errors, redundancy and edge signs at each snapshot — "
    "and whether training was healthy: dead units and gradient norms per layer, anomalies in words.",
)

_DRAWN: LRU = LRU(max_items=32)  # figures drawn, keyed on their inputs and the runs' stamps


def usable_names(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str]) -> list[str]:
    """The chosen runs that can be read (a broken run has no snapshots to offer)."""
    wanted = set(chosen)
    return [r["name"] for r in runs if r["name"] in wanted and r.get("status") != RunStatus.BROKEN]


def evolution_parts(models: Any, epoch: Any, metric: Any) -> view.EvolutionParts:
    """:func:`app.evolution_view.evolution_parts` for the app serving the request, redrawn only when the
    choice, a chosen run's files or the analysis cache change."""
    context = page_context()
    settings = context.settings
    names = tuple(picked_names(models))
    return drawn(
        _DRAWN,
        settings,
        names,
        (epoch, metric),
        lambda: view.evolution_parts(context.runs, settings.runs_dir, context.analyzer, names, epoch, metric),
    )


# -- the controls ----------------------------------------------------------------------------------
def epoch_slider(epochs: Sequence[int], epoch: int | None) -> dcc.Slider:
    """One stop per analysed snapshot (step 1 over their positions): the arrow keys go snapshot to snapshot."""
    return dcc.Slider(
        id=EPOCH_ID,
        min=0,
        max=max(1, len(epochs) - 1),
        step=1,
        marks=view.slider_marks(epochs),
        value=view.slider_position(epoch, epochs),
        included=False,
        disabled=not epochs,
        allow_direct_input=False,  # a typed value is a position, not an epoch: the marks name the epochs
    )


def metric_choice(metric: str) -> html.Div:
    return html.Div(
        [
            html.Span("Show", className="fw-semibold me-3"),
            dbc.RadioItems(
                id=METRIC_ID,
                options=[{"label": text, "value": key} for key, text in HEALTH_METRICS.items()],
                value=metric,
                inline=True,
            ),
            html.Span("recorded on a probe batch after each epoch", className="text-muted small ms-2"),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )


# -- layout and callbacks --------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    """The page for ``/evolution?runs=a,b&epoch=7&metric=grad_norm``; bad values get a message and a default."""

    def build(context: PageContext) -> list[Any]:
        selection = query_selection(query, context.runs, context.settings.runs_dir)
        wanted, metric = view.parse_epoch(query.get("epoch")), view.parse_metric(query.get("metric"))
        epochs = view.analysed_epochs(context.analyzer, usable_names(context.runs, selection.names))
        epoch, nearest_problem = view.choose_epoch(epochs, wanted.value)
        problems = [*problems_of(wanted, metric), *([nearest_problem] if nearest_problem else [])]
        if wanted.value is not None and not epochs:
            problems.append(f"epoch={wanted.value}: the chosen runs have no analysed snapshot.")
        chosen = [r for r in context.runs if r["name"] in selection.names]
        return [
            dcc.Location(id=URL_ID, refresh=False),
            dcc.Store(id=EPOCHS_ID, data=epochs),
            link_message(selection, context.settings.runs_dir, LINK_MESSAGE_ID),
            components.query_message(problems, id=QUERY_MESSAGE_ID),
            html.Div(components.dataset_banner(chosen), id=BANNER_ID),
            html.Div(
                [
                    html.Span("Runs", className="fw-semibold me-3"),
                    components.run_picker(PICKER_ID, context.runs, selection.names),
                ],
                className="d-flex flex-wrap align-items-baseline mb-3",
            ),
            html.Div(
                [
                    html.Label("Snapshot epoch", htmlFor=EPOCH_ID, className="fw-semibold me-3 text-nowrap"),
                    html.Div(epoch_slider(epochs, epoch), className="flex-grow-1", style={"maxWidth": "40rem"}),
                    html.Span(
                        "analysed snapshots; ← → step through them · the dotted line in the figures",
                        className="text-muted small ms-3",
                    ),
                ],
                className="d-flex align-items-center mb-3",
            ),
            html.Div(id=MESSAGES_ID),
            dcc.Loading(
                [
                    components.graph(TRAINING_GRAPH_ID, empty_figure("Loading…"), filename="over-training"),
                    components.graph(LAYERS_GRAPH_ID, empty_figure("Loading…"), filename="per-layer-at-snapshot"),
                ],
                delay_show=400,
            ),
            html.H4("Training health", className="mt-2"),
            metric_choice(metric.value),
            components.graph(HEALTH_GRAPH_ID, empty_figure("Loading…"), filename="training-health"),
            html.H5("Flagged anomalies"),
            html.Div(id=ANOMALIES_ID),
        ]

    return page_layout("evolution", HEADING, build, query)


def register_callbacks(app: dash.Dash) -> None:
    """Runs → the slider's snapshots; runs, snapshot and health figure → the figures and the URL."""

    @guarded_callback(
        app,
        Output(EPOCHS_ID, "data"),
        Output(EPOCH_ID, "marks"),
        Output(EPOCH_ID, "max"),
        Output(EPOCH_ID, "value"),
        Output(EPOCH_ID, "disabled"),
        Input(PICKER_ID, "value"),
        State(EPOCH_ID, "value"),
        State(EPOCHS_ID, "data"),
        what="The snapshot slider",
        prevent_initial_call=True,  # layout() set the slider from the link
    )
    def snapshots_of_chosen(models: Any, position: Any, shown: Any):
        context = page_context()
        epochs = view.analysed_epochs(context.analyzer, usable_names(context.runs, picked_names(models)))
        if not epochs:
            return [], {}, 1, None, True
        current = view.epoch_at(position, _epochs(shown))
        epoch, _ = view.choose_epoch(epochs, current)
        return epochs, view.slider_marks(epochs), max(1, len(epochs) - 1), view.slider_position(epoch, epochs), False

    @guarded_callback(
        app,
        Output(BANNER_ID, "children"),
        Output(TRAINING_GRAPH_ID, "figure"),
        Output(LAYERS_GRAPH_ID, "figure"),
        Output(HEALTH_GRAPH_ID, "figure"),
        Output(ANOMALIES_ID, "children"),
        Output(MESSAGES_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(EPOCH_ID, "value"),
        Input(METRIC_ID, "value"),
        State(EPOCHS_ID, "data"),
        what="The evolution figures",
        message=5,
    )
    def show_evolution(models: Any, position: Any, metric: Any, epochs: Any):
        epoch = view.epoch_at(position, _epochs(epochs))
        parts = evolution_parts(models, epoch, metric)
        return parts.banner, parts.training, parts.layers, parts.health, parts.anomalies, parts.messages or None

    @guarded_callback(
        app,
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        Input(EPOCH_ID, "value"),
        Input(METRIC_ID, "value"),
        State(EPOCHS_ID, "data"),
        what="The link",
        prevent_initial_call=True,  # keep the link as typed until the view changes
    )
    def write_url(models: Any, position: Any, metric: Any, epochs: Any):
        epoch = view.epoch_at(position, _epochs(epochs))
        return view.evolution_search(picked_names(models), epoch, view.parse_metric(metric).value)


def _epochs(value: Any) -> list[int]:
    """The epochs store as a request sends it: its whole numbers, anything else dropped."""
    if not isinstance(value, list):
        return []
    return [int(e) for e in value if isinstance(e, int) and not isinstance(e, bool)]
