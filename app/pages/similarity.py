"""Similarity page: linear CKA between the layers of one run, and between the layers of two runs.

Three heatmaps on one colour scale fixed to 0…1: within run A, within run B, and A × B (rows =
layers of A, columns = layers of B). CKA compares representations of the same images, so two runs
evaluated on different data get the analyzer's message instead of the A × B heatmap.

The link holds the view (``/similarity?runs=a,b&debiased=1``: A is the first run, B the second;
``runs=a`` shows A alone). Figures are drawn by :mod:`app.figures.similarity`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from analysis.runs.store import RunNameError, check_run_name
from app import components
from app.analysis_access import PAGE_ERRORS
from app.figures.similarity import cka_figure, cka_title
from app.page import PageContext, guarded_callback, page_context, page_layout
from app.query import SWEEP_KEY, last, parse_flag, problems_of, runs_value, split_names
from app.selection import runs_search, sweep_runs

dash.register_page(
    __name__, path="/similarity", name="Similarity", title=f"Similarity · {components.PRODUCT_NAME}", order=3
)

URL_ID = "similarity-url"
RUN_A_ID = "similarity-a"
RUN_B_ID = "similarity-b"
DEBIASED_ID = "similarity-debiased"
BANNER_ID = "similarity-banner"
PARAM_MESSAGE_ID = "similarity-param-message"
FIGURES_ID = "similarity-figures"
WITHIN_A_ID = "similarity-within-a"
WITHIN_B_ID = "similarity-within-b"
ACROSS_ID = "similarity-across"
NO_RUN = ""  # no second run: only run A's own heatmap
# The B picker's value for "none": dbc.Select keeps "" for its hidden placeholder option, and
# parentheses cannot occur in a run name.
NONE_OPTION = "(none)"

HEADING = components.page_heading(
    "Similarity",
    "How alike the layers' representations of the same images are (linear CKA: 1 = the same up to a "
    "rotation and scale): within one run, and between two runs.",
)


# -- the link ----------------------------------------------------------------------------------------
class Choice(NamedTuple):
    """Runs A and B (B may be :data:`NO_RUN`), the debiased flag, and what in the link was refused."""

    a: str
    b: str
    debiased: bool
    problems: tuple[str, ...] = ()


def _run_problem(name: str, available: Sequence[str]) -> str | None:
    try:
        check_run_name(name)
    except RunNameError:
        return f"runs: {name} is not a run name"
    return None if name in available else f"runs: {name}: no such run"


def parse_choice(runs: Any, debiased: Any, available: Sequence[str]) -> Choice:
    """The view ``runs=a,b&debiased=1`` asks for; a refused name falls back to its default
    (A: the first run; B: the next one). ``runs`` absent: the first two runs."""
    problems: list[str] = []
    names = None if runs is None else split_names(runs)
    chosen: list[str] = []
    for name in names or []:
        problem = _run_problem(name, available)
        if problem:
            problems.append(problem)
        elif name not in chosen:
            chosen.append(name)
    if names is None or not chosen and problems:
        chosen = list(available[:2])
    run_a = chosen[0] if chosen else NO_RUN
    run_b = chosen[1] if len(chosen) > 1 else NO_RUN
    flag = parse_flag(debiased, "debiased")
    return Choice(run_a, run_b, flag.value, (*problems, *problems_of(flag)))


def from_query(query: Mapping[str, Any], available: Sequence[str], runs_dir: str | None = None) -> Choice:
    """The choice of a page's query; ``a=x&b=y`` (the older spelling of ``runs=x,y``) is still read, and
    ``sweep=NAME`` (with ``runs_dir``) compares the sweep's first two trained runs (two seeds of one model)."""
    runs = runs_value(query)
    if runs is None and query.get("a") is not None:
        runs = [str(last(query["a"]))] + ([str(last(query["b"]))] if last(query.get("b")) else [])
    sweep_problem = None
    if runs is None and query.get(SWEEP_KEY) and runs_dir is not None:
        _, members, sweep_problem = sweep_runs(query.get(SWEEP_KEY), runs_dir)
        runs = [name for name in members if name in available][:2] or None
    choice = parse_choice(runs, query.get("debiased"), available)
    return choice._replace(problems=(sweep_problem, *choice.problems)) if sweep_problem else choice


def similarity_search(choice: Choice) -> str:
    """The query string that restores the view: ``?runs=a,b&debiased=1``."""
    return runs_search([name for name in (choice.a, choice.b) if name], debiased=choice.debiased)


# -- the parts -----------------------------------------------------------------------------------------
class SimilarityParts(NamedTuple):
    """What the layout and the callback both show for one choice."""

    banner: Any
    figures: Any


def _heatmap_or_message(
    source: Any, graph_id: str, kind: str, run_a: str, run_b: str | None, debiased: bool, data: str, filename: str
) -> Any:
    try:
        result = source.cka(run_a, run_b, debiased=debiased)
    except PAGE_ERRORS as exc:
        return components.problem_message(exc, title=f"No CKA {kind}")
    title = cka_title(kind, data, int(result.get("n_images", 0)), debiased)
    return components.graph(graph_id, cka_figure(result, title, run_a, run_b or run_a), filename=filename)


def similarity_parts(runs: Sequence[Mapping[str, Any]], choice: Choice, source: Any) -> SimilarityParts:
    """Banner and heatmaps (within A, within B, A × B) for ``choice``; a message where one cannot be drawn."""
    by_name = {str(r.get("name")): r for r in runs}
    chosen = [by_name[n] for n in dict.fromkeys((choice.a, choice.b)) if n in by_name]
    if not choice.a:
        return SimilarityParts(components.dataset_banner([]), components.message("Pick run A above.", kind="secondary"))

    def label(*names: str) -> str:
        return components.dataset_label([by_name[n] for n in names if n in by_name])

    suffix = "-debiased" if choice.debiased else ""
    a, b, debiased = choice.a, choice.b, choice.debiased
    within_a = _heatmap_or_message(source, WITHIN_A_ID, f"within {a}", a, None, debiased, label(a), f"cka-{a}{suffix}")
    if not b:
        figures: Any = dbc.Row(dbc.Col(within_a, xl=8))
    else:
        within_b = _heatmap_or_message(
            source, WITHIN_B_ID, f"within {b}", b, None, debiased, label(b), f"cka-{b}{suffix}"
        )
        across = _heatmap_or_message(
            source, ACROSS_ID, f"{a} × {b}", a, b, debiased, label(a, b), f"cka-{a}-x-{b}{suffix}"
        )
        figures = html.Div(
            [dbc.Row(dbc.Col(across, xl=9)), dbc.Row([dbc.Col(within_a, lg=6), dbc.Col(within_b, lg=6)])]
        )
    return SimilarityParts(components.dataset_banner(chosen), figures)


def controls(runs: Sequence[Mapping[str, Any]], choice: Choice) -> dbc.Row:
    options = components.run_options(runs)
    none = {"label": "— none: run A alone —", "value": NONE_OPTION}

    def column(label: str, control: Any, for_id: str) -> dbc.Col:
        return dbc.Col([dbc.Label(label, html_for=for_id, className="fw-semibold"), control], md=4)

    return dbc.Row(
        [
            column("Run A (rows)", dbc.Select(id=RUN_A_ID, options=options, value=choice.a), RUN_A_ID),
            column(
                "Run B (columns)",
                dbc.Select(id=RUN_B_ID, options=[none, *options], value=choice.b or NONE_OPTION),
                RUN_B_ID,
            ),
            column(
                "Estimator",
                dbc.Switch(
                    id=DEBIASED_ID,
                    label="debiased (unbiased HSIC; fairer with few images)",
                    value=choice.debiased,
                ),
                DEBIASED_ID,
            ),
        ],
        className="mb-3 g-3 align-items-end",
    )


# -- layout and callbacks --------------------------------------------------------------------------------
def layout(**query: Any) -> html.Div:
    """The page for ``/similarity?runs=a,b&debiased=1``; bad values get a message and a default."""

    def build(context: PageContext) -> list[Any]:
        choice = from_query(query, [str(r["name"]) for r in context.runs], context.settings.runs_dir)
        parts = similarity_parts(context.runs, choice, context.analyzer)
        return [
            dcc.Location(id=URL_ID, refresh=False),
            html.Div(components.query_message(choice.problems, id=f"{PARAM_MESSAGE_ID}-body"), id=PARAM_MESSAGE_ID),
            html.Div(parts.banner, id=BANNER_ID),
            controls(context.runs, choice),
            html.Div(parts.figures, id=FIGURES_ID),
        ]

    return page_layout("similarity", HEADING, build, query)


def register_callbacks(app: dash.Dash) -> None:
    """Choosing runs or the estimator redraws the heatmaps and writes the choice into the URL."""

    @guarded_callback(
        app,
        Output(BANNER_ID, "children"),
        Output(FIGURES_ID, "children"),
        Output(URL_ID, "search"),
        Output(PARAM_MESSAGE_ID, "children"),
        Input(RUN_A_ID, "value"),
        Input(RUN_B_ID, "value"),
        Input(DEBIASED_ID, "value"),
        what="The similarity view",
        message=1,
        prevent_initial_call=True,  # layout() already drew the first view; keep the link as typed
    )
    def show_similarity(run_a: Any, run_b: Any, debiased: Any):
        context = page_context()
        picked = [name for name in (run_a, run_b) if isinstance(name, str) and name not in ("", NONE_OPTION)]
        choice = parse_choice(picked, "1" if debiased is True else "0", [str(r["name"]) for r in context.runs])
        parts = similarity_parts(context.runs, choice, context.analyzer)
        return parts.banner, parts.figures, similarity_search(choice), None
