"""Review page (the landing page): the meeting's answers for the chosen runs, each with its evidence.

Which member to keep (the recommendation, and test error with intervals against cost, Pareto front),
what is redundant and what removing it costs (the findings and the per-run ablation chart), whether a
difference is real (McNemar, in the findings and the diff) and what changed between two members.

The link holds the view: ``/?runs=a,b,c&cost=params&ablation=a&diff=a,b``. Parts are built by
:mod:`app.review_view`, figures by :mod:`app.figures.review`, numbers by
:meth:`analysis.pipeline.RunAnalyzer.review`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from analysis.lru import LRU
from app import components, tables
from app.page import PageContext, drawn, guarded_callback, page_context, page_layout
from app.query import last, parse_choice, problems_of, split_names
from app.review_view import ReviewParts, ablation_view, diff_view, review_parts
from app.selection import link_message, picked_names, query_selection, runs_search

dash.register_page(__name__, path="/", name="Review", title=f"Review · {components.PRODUCT_NAME}", order=-1)

HEADING = components.page_heading(
    "Review",
    "Which member to keep, what in it is redundant and what removing it costs, and which differences are real.",
)
COSTS = ("flops", "params")
PICKER_ID = "review-runs"
URL_ID = "review-url"
BANNER_ID = "review-banner"
RECOMMENDATION_ID = "review-recommendation"
PARETO_ID = "review-pareto"
COST_ID = "review-cost"
FINDINGS_ID = "review-findings"
FINDINGS_CSV_ID = "review-findings-csv"
FINDINGS_TABLE = "review-findings-table"  # the CSV button's table id
ABLATION_TABLE_BOX_ID = "review-ablation-table-box"
NOT_REVIEWED_ID = "review-not-reviewed-box"
ABLATION_PICKER_ID = "review-ablation-run"
ABLATION_ID = "review-ablation"
DIFF_A_ID = "review-diff-a"
DIFF_B_ID = "review-diff-b"
DIFF_ID = "review-diff"
LINK_MESSAGE_ID = "review-link-message"
QUERY_MESSAGE_ID = "review-query-message"

_DRAWN: LRU = LRU(max_items=32)  # the parts drawn, keyed on the choice and the runs' and cache's stamps


def drawn_parts(chosen: Sequence[str], cost: str) -> ReviewParts:
    """:func:`review_parts`, rebuilt only when the choice, a run's files or the analysis cache change."""
    context = page_context()
    return drawn(
        _DRAWN,
        context.settings,
        None,
        (tuple(chosen), cost),
        lambda: review_parts(context.runs, chosen, context.analyzer, cost),
    )


def pick(wanted: Any, among: Sequence[str], fallback: int = 0) -> str | None:
    """``wanted`` when it is one of ``among``, else the ``fallback``-th of them (or none)."""
    wanted = last(wanted)
    if isinstance(wanted, str) and wanted in among:
        return wanted
    return among[fallback] if len(among) > fallback else (among[0] if among else None)


def diff_pair(value: Any, among: Sequence[str]) -> tuple[str | None, str | None]:
    """The two runs of ``diff=a,b``; by default the recommended order's first two runs."""
    names = split_names(value)
    first = pick(names[0] if names else None, among, 0)
    second = pick(names[1] if len(names) > 1 else None, [n for n in among if n != first] or among, 0)
    return first, second


def options(names: Sequence[str]) -> list[dict[str, str]]:
    return [{"label": name, "value": name} for name in names]


def _select(id: str, names: Sequence[str], value: str | None) -> dbc.Select:  # noqa: A002 - Dash's name
    return dbc.Select(id=id, options=options(names), value=value, className="w-auto d-inline-block me-2")


def layout(**query: Any) -> html.Div:
    """The page for ``/?runs=a,b&cost=flops&ablation=a&diff=a,b``; bad values get a message naming the key."""

    def build(context: PageContext) -> list[Any]:
        selection = query_selection(query, context.runs, context.settings.runs_dir)
        cost = parse_choice(query.get("cost"), "cost", COSTS, "flops")
        parts = drawn_parts(selection.names, cost.value)
        ablation_run = pick(query.get("ablation"), parts.reviewed)
        diff_a, diff_b = diff_pair(query.get("diff"), parts.compared)
        label = components.dataset_label([r for r in context.runs if r.get("name") in parts.compared])
        ablation_chart, ablation_table = ablation_view(context.analyzer, ablation_run, label)
        return [
            dcc.Location(id=URL_ID, refresh=False),
            link_message(selection, context.settings.runs_dir, LINK_MESSAGE_ID),
            components.query_message(problems_of(cost), QUERY_MESSAGE_ID),
            html.Div(parts.banner, id=BANNER_ID),
            html.Div(
                [
                    html.Span("Runs", className="fw-semibold me-3"),
                    components.run_picker(PICKER_ID, context.runs, selection.names),
                ],
                className="d-flex flex-wrap align-items-baseline mb-3",
            ),
            html.Div(parts.not_reviewed, id=NOT_REVIEWED_ID),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            # The verdict and its evidence share the first screen with the findings.
                            html.Div(parts.recommendation, id=RECOMMENDATION_ID),
                            dbc.RadioItems(
                                id=COST_ID,
                                options=[
                                    {"label": "against FLOPs", "value": "flops"},
                                    {"label": "against parameters", "value": "params"},
                                ],
                                value=cost.value,
                                inline=True,
                                className="mb-1",
                            ),
                            components.graph(PARETO_ID, parts.pareto, filename="review-pareto"),
                        ],
                        lg=6,
                    ),
                    dbc.Col(
                        [
                            html.Div(
                                [html.H4("Findings", className="mb-0 me-auto"), tables.csv_button(FINDINGS_TABLE)],
                                className="d-flex align-items-center mb-2",
                            ),
                            html.Div(
                                tables.csv_data(FINDINGS_TABLE, parts.findings_csv, "findings"), id=FINDINGS_CSV_ID
                            ),
                            html.Div(
                                parts.findings,
                                id=FINDINGS_ID,
                                # Beside the Pareto plot on the first screen: the list scrolls, not the page.
                                style={"maxHeight": "760px", "overflowY": "auto"},
                                className="border-top border-bottom",
                            ),
                        ],
                        lg=6,
                    ),
                ],
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H4("What removing the redundant neurons costs", className="mb-2"),
                            html.Div(
                                [
                                    html.Span("Run ", className="me-2"),
                                    _select(ABLATION_PICKER_ID, parts.reviewed, ablation_run),
                                ],
                                className="mb-1",
                            ),
                            components.graph(ABLATION_ID, ablation_chart, filename="review-ablation"),
                            html.Div(ablation_table, id=ABLATION_TABLE_BOX_ID),
                        ],
                        lg=6,
                    ),
                    dbc.Col(
                        [
                            html.H4("What changed between two members", className="mb-2"),
                            html.Div(
                                [
                                    _select(DIFF_A_ID, parts.compared, diff_a),
                                    html.Span("against", className="me-2"),
                                    _select(DIFF_B_ID, parts.compared, diff_b),
                                ],
                                className="mb-2",
                            ),
                            html.Div(diff_view(context.analyzer, diff_a, diff_b, parts.spreads), id=DIFF_ID),
                        ],
                        lg=6,
                    ),
                ]
            ),
        ]

    return page_layout("review", HEADING, build, query)


def register_callbacks(app: dash.Dash) -> None:
    """Picking runs or the cost axis redraws the review; the ablation run and the diff pair redraw their part;
    every choice goes into the URL."""

    @guarded_callback(
        app,
        Output(BANNER_ID, "children"),
        Output(RECOMMENDATION_ID, "children"),
        Output(NOT_REVIEWED_ID, "children"),
        Output(PARETO_ID, "figure"),
        Output(FINDINGS_ID, "children"),
        Output(FINDINGS_CSV_ID, "children"),
        Output(ABLATION_PICKER_ID, "options"),
        Output(ABLATION_PICKER_ID, "value"),
        Output(DIFF_A_ID, "options"),
        Output(DIFF_A_ID, "value"),
        Output(DIFF_B_ID, "options"),
        Output(DIFF_B_ID, "value"),
        Input(PICKER_ID, "value"),
        Input(COST_ID, "value"),
        dash.State(ABLATION_PICKER_ID, "value"),
        dash.State(DIFF_A_ID, "value"),
        dash.State(DIFF_B_ID, "value"),
        what="This review",
        message=1,
        prevent_initial_call=True,  # layout() drew the first view; keep the link as typed
    )
    def show_chosen_runs(chosen: Any, cost: Any, ablation_run: Any, diff_a: Any, diff_b: Any):
        cost = parse_choice(cost, "cost", COSTS, "flops").value
        parts = drawn_parts(picked_names(chosen), cost)
        first, second = diff_pair([diff_a, diff_b] if diff_a and diff_b else None, parts.compared)
        return (
            parts.banner,
            parts.recommendation,
            parts.not_reviewed,
            parts.pareto,
            parts.findings,
            tables.csv_data(FINDINGS_TABLE, parts.findings_csv, "findings"),
            options(parts.reviewed),
            pick(ablation_run, parts.reviewed),
            options(parts.compared),
            first,
            options(parts.compared),
            second,
        )

    @guarded_callback(
        app,
        Output(ABLATION_ID, "figure"),
        Output(ABLATION_TABLE_BOX_ID, "children"),
        Input(ABLATION_PICKER_ID, "value"),
        what="The ablation chart",
        message=1,
        prevent_initial_call=True,
    )
    def show_ablation(run: Any):
        context = page_context()
        label = components.dataset_label([r for r in context.runs if r.get("name") == run])
        return ablation_view(context.analyzer, run if isinstance(run, str) else None, label)

    @guarded_callback(
        app,
        Output(DIFF_ID, "children"),
        Input(DIFF_A_ID, "value"),
        Input(DIFF_B_ID, "value"),
        dash.State(PICKER_ID, "value"),
        dash.State(COST_ID, "value"),
        what="The two-run diff",
        message=0,
        prevent_initial_call=True,
    )
    def show_diff(run_a: Any, run_b: Any, chosen: Any, cost: Any):
        # The review of the chosen runs (drawn already, so memoised) holds the seed spread the diff quotes.
        spreads = drawn_parts(picked_names(chosen), parse_choice(cost, "cost", COSTS, "flops").value).spreads
        return diff_view(
            page_context().analyzer,
            last(run_a) if isinstance(run_a, str) else None,
            run_b if isinstance(run_b, str) else None,
            spreads,
        )

    @guarded_callback(
        app,
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        Input(COST_ID, "value"),
        Input(ABLATION_PICKER_ID, "value"),
        Input(DIFF_A_ID, "value"),
        Input(DIFF_B_ID, "value"),
        what="The link",
        prevent_initial_call=True,
    )
    def write_link(chosen: Any, cost: Any, ablation_run: Any, diff_a: Any, diff_b: Any) -> str:
        params: dict[str, Any] = {"cost": cost if cost in COSTS and cost != "flops" else None}
        if isinstance(ablation_run, str):
            params["ablation"] = ablation_run
        if isinstance(diff_a, str) and isinstance(diff_b, str):
            params["diff"] = [diff_a, diff_b]
        return runs_search(picked_names(chosen), **params)
