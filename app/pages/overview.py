"""Models page (the Overview): the chosen runs side by side — models table, learning curves, per-class error, confusion.

The link holds the view (``/models?runs=base-demo-digits,deep-demo-digits&confusion=deep-demo-digits``); without
``runs`` the page shows the largest finished set of one profile and dataset (:func:`app.selection.default_runs`).
Figures are drawn by :mod:`app.figures.overview`, the table by :mod:`app.tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from analysis.frames import runs_frame
from analysis.lru import LRU
from analysis.pipeline import RunAnalyzer
from analysis.runs.store import RunStatus
from app import components
from app.analysis_access import class_errors
from app.figures.overview import confusion_figure, learning_curves_figure, per_class_figure
from app.page import PageContext, drawn, guarded_callback, page_context, page_layout
from app.query import last
from app.selection import (
    link_message,
    picked_names,
    query_selection,
    read_histories,
    run_colours,
    runs_search,
)
from app.tables import models_table

dash.register_page(__name__, path="/models", name="Models", title=f"Models · {components.PRODUCT_NAME}", order=0)

GRAPH_ID = "overview-learning-curves"
PICKER_ID = "overview-models"
URL_ID = "overview-url"
BANNER_ID = "overview-banner"
TABLE_ID = "overview-table"
MODELS_TABLE_ID = "overview-models-table"
LINK_MESSAGE_ID = "overview-link-message"
PER_CLASS_ID = "overview-per-class"
CONFUSION_ID = "overview-confusion"
CONFUSION_PICKER_ID = "overview-confusion-run"
NOT_ANALYSED_ID = "overview-not-analysed-box"

HEADING = components.page_heading(
    "Models", "The chosen runs side by side: size, cost and error, and how their errors fell while training."
)
NO_RUN_TICKED = "No run ticked: tick at least one run above."

_DRAWN: LRU = LRU(max_items=32)  # the parts drawn, keyed on the choice and the runs' and cache's stamps


# -- the parts -----------------------------------------------------------------------------------------
class OverviewParts(NamedTuple):
    """What the layout and the callback both show for one choice of runs."""

    banner: Any
    table: Any
    figure: go.Figure
    per_class: go.Figure
    analysed: tuple[str, ...]
    not_analysed: Any


def overview_parts(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str], source: RunAnalyzer) -> OverviewParts:
    """Banner, table and figures for the runs ``chosen`` (names) among ``runs`` (all rows, in order), read
    through ``source`` (the page's cached-only analyzer)."""
    runs_dir = source.store.artifacts.url
    colours = run_colours([str(r.get("name")) for r in runs])
    wanted = set(chosen)
    selected = [r for r in runs if r.get("name") in wanted]
    readable = [r["name"] for r in selected if r.get("status") != RunStatus.BROKEN]
    histories, problems = read_histories(runs_dir, readable)
    frame = runs_frame([r["name"] for r in selected], analyzer=source)
    shown = [
        {**run, "status": RunStatus.BROKEN, "problem": problems[run["name"]]} if run["name"] in problems else run
        for run in selected
    ]
    plotted = [r for r in shown if r.get("status") != RunStatus.BROKEN]
    errors, missing = class_errors([r["name"] for r in plotted], source)
    not_analysed = None
    if missing:
        not_analysed = components.message(
            [
                html.Span("Per-class errors and confusion need the analysis of: "),
                html.Span(", ".join(missing)),
                html.Span(". "),
                dcc.Link("Analyse them on the Jobs page", href=components.jobs_href(missing)),
            ],
            kind="info",
            id="overview-not-analysed",
        )
    if not selected:
        empty = NO_RUN_TICKED
    elif missing and not errors:
        empty = "None of the ticked runs is analysed yet: analyse them on the Jobs page"
    else:
        empty = "The ticked runs have no readable test statistics"
    return OverviewParts(
        banner=components.dataset_banner(shown),
        table=models_table(frame, colours, MODELS_TABLE_ID),
        figure=learning_curves_figure(plotted, histories, colours),
        per_class=per_class_figure(errors, colours, components.dataset_label(plotted), empty),
        analysed=tuple(errors),
        not_analysed=not_analysed,
    )


def drawn_parts(chosen: Sequence[str]) -> OverviewParts:
    """:func:`overview_parts`, redrawn only when the choice, a run's files or the analysis cache change."""
    context = page_context()
    return drawn(
        _DRAWN, context.settings, None, tuple(chosen), lambda: overview_parts(context.runs, chosen, context.analyzer)
    )


def confusion_choice(wanted: Any, analysed: Sequence[str]) -> str | None:
    """The run whose confusion matrix is shown: the one asked for when analysed, else the first."""
    wanted = last(wanted)
    if isinstance(wanted, str) and wanted in analysed:
        return wanted
    return analysed[0] if analysed else None


def confusion_of(name: str | None, analysed: Sequence[str]) -> go.Figure:
    if name is None:
        return confusion_figure(None, None, NO_RUN_TICKED if not analysed else "Pick an analysed run")
    errors, _missing = class_errors([name])
    return confusion_figure(name, errors.get(name))


# -- layout and callbacks --------------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    """The page for ``/?runs=a,b&confusion=a``; other query parameters are ignored, bad values get a message."""

    def build(context: PageContext) -> list[Any]:
        selection = query_selection(query, context.runs, context.settings.runs_dir)
        parts = drawn_parts(selection.names)
        confusion = confusion_choice(query.get("confusion"), parts.analysed)
        return [
            dcc.Location(id=URL_ID, refresh=False),
            link_message(selection, context.settings.runs_dir, LINK_MESSAGE_ID),
            html.Div(parts.banner, id=BANNER_ID),
            html.Div(
                [
                    html.Span("Runs", className="fw-semibold me-3"),
                    components.run_picker(PICKER_ID, context.runs, selection.names),
                ],
                className="d-flex flex-wrap align-items-baseline mb-3",
            ),
            html.Div(parts.table, id=TABLE_ID),
            components.graph(GRAPH_ID, parts.figure, filename="learning-curves"),
            html.Div(parts.not_analysed, id=NOT_ANALYSED_ID),
            dbc.Row(
                [
                    dbc.Col(components.graph(PER_CLASS_ID, parts.per_class, filename="per-class-error"), lg=7),
                    dbc.Col(
                        [
                            dbc.Select(
                                id=CONFUSION_PICKER_ID,
                                options=[{"label": n, "value": n} for n in parts.analysed],
                                value=confusion,
                                className="mb-2",
                            ),
                            components.graph(
                                CONFUSION_ID, confusion_of(confusion, parts.analysed), filename="confusion"
                            ),
                        ],
                        lg=5,
                    ),
                ],
                className="mt-3",
            ),
        ]

    return page_layout("overview", HEADING, build, query)


def register_callbacks(app: dash.Dash) -> None:
    """Picking runs redraws banner, table and figures; the choice of runs and confusion run go into the URL."""

    @guarded_callback(
        app,
        Output(BANNER_ID, "children"),
        Output(TABLE_ID, "children"),
        Output(GRAPH_ID, "figure"),
        Output(PER_CLASS_ID, "figure"),
        Output(NOT_ANALYSED_ID, "children"),
        Output(CONFUSION_PICKER_ID, "options"),
        Output(CONFUSION_PICKER_ID, "value"),
        Input(PICKER_ID, "value"),
        Input(CONFUSION_PICKER_ID, "value"),
        what="This overview",
        message=1,
        prevent_initial_call=True,  # layout() already drew the first view; keep the link as typed
    )
    def show_chosen_runs(chosen: Any, confusion: Any):
        parts = drawn_parts(picked_names(chosen))
        options = [{"label": n, "value": n} for n in parts.analysed]
        value = confusion_choice(confusion, parts.analysed)
        return parts.banner, parts.table, parts.figure, parts.per_class, parts.not_analysed, options, value

    @guarded_callback(
        app,
        Output(CONFUSION_ID, "figure"),
        Output(URL_ID, "search"),
        Input(CONFUSION_PICKER_ID, "value"),
        Input(PICKER_ID, "value"),
        what="The confusion matrix",
        prevent_initial_call=True,
    )
    def show_confusion(name: Any, chosen: Any):
        names = picked_names(chosen)
        analysed = drawn_parts(names).analysed
        confusion = confusion_choice(name, analysed)
        return confusion_of(confusion, analysed), runs_search(names, confusion=confusion)
