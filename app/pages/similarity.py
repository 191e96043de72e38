"""Similarity page: linear CKA between the layers of one run, and between the layers of two runs.

Three heatmaps on one colour scale fixed to 0…1: within run A, within run B, and A × B (rows =
layers of A, columns = layers of B). CKA compares representations of the same images, so two runs
evaluated on different data get the analyzer's message instead of the A × B heatmap.

The URL holds the state (``/similarity?a=base-demo-digits&b=deep-demo-digits&debiased=1``; ``b=``
means no second run); bad values get a message and their default. The figure builders are plain
functions (tested without a browser); the callback only calls :func:`similarity_parts`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, dcc, html, no_update

from analysis.runs.store import RunNameError, check_run_name
from app import components
from app.analysis_access import PAGE_ERRORS, analyzer
from app.config import current_settings
from app.selection import read_runs

dash.register_page(
    __name__, path="/similarity", name="Similarity", title=f"Similarity · {components.PRODUCT_NAME}", order=3
)

log = logging.getLogger(__name__)

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
NO_RUN = ""  # the B choice "none": only run A's own heatmap (``b=`` in the URL)
# The B picker's value for "none": dbc.Select keeps "" for its hidden placeholder option, and
# parentheses cannot occur in a run name.
NONE_OPTION = "(none)"

COLOURSCALE = "Viridis"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
TEXT_LIMIT = 14  # cells get their value printed up to this many layers a side


# -- reading the query string ----------------------------------------------------------------------
class Choice(NamedTuple):
    """Runs A and B (B may be :data:`NO_RUN`), the debiased flag, and what in the link was refused."""

    a: str
    b: str
    debiased: bool
    problems: tuple[str, ...] = ()


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, (list, tuple)) and value else value


def _check_run(key: str, value: Any, available: Sequence[str]) -> str | None:
    """The problem with ``value`` as a run name, or ``None``."""
    name = str(value).strip()
    try:
        check_run_name(name)
    except RunNameError:
        return f"{key}={name} is not a run name"
    if name not in available:
        return f"{key}={name}: no such run"
    return None


def parse_choice(a: Any, b: Any, debiased: Any, available: Sequence[str]) -> Choice:
    """The view a link asks for; a refused value falls back to its default (A: the first run; B: the next one)."""
    problems: list[str] = []
    run_a = available[0] if available else NO_RUN
    a = _last(a)
    if a is not None:
        problem = _check_run("a", a, available)
        if problem:
            problems.append(problem)
        else:
            run_a = str(a).strip()
    others = [name for name in available if name != run_a]
    run_b = others[0] if others else NO_RUN
    b = _last(b)
    if b is not None:
        if str(b).strip() == NO_RUN:
            run_b = NO_RUN
        else:
            problem = _check_run("b", b, available)
            if problem:
                problems.append(problem)
            else:
                run_b = str(b).strip()
    flag = False
    debiased = _last(debiased)
    if debiased is not None:
        word = str(debiased).strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            flag = word in TRUE_WORDS
        else:
            problems.append(f"debiased={debiased} is not one of 1, 0, true, false")
    return Choice(run_a, run_b, flag, tuple(problems))


def similarity_search(a: str, b: str, debiased: bool) -> str:
    """The query string that restores the view: ``?a=x&b=y&debiased=1`` (``b=`` for no second run)."""
    return "?" + urlencode({"a": a, "b": b, "debiased": int(bool(debiased))}, quote_via=quote)


# -- the heatmaps ----------------------------------------------------------------------------------
def cka_figure(result: Mapping[str, Any], title: str, row_run: str, column_run: str) -> go.Figure:
    """Heatmap of a CKA result (``matrix``, ``rows``, ``columns``) on the fixed 0…1 colour scale.

    Debiased CKA can dip below 0: the hover shows the value, the colour clips at 0. Layers run
    from the input (top, left) to the output; a within-run heatmap is drawn square.
    """
    matrix = np.asarray(result["matrix"], dtype=float)
    rows, columns = [str(r) for r in result["rows"]], [str(c) for c in result["columns"]]
    small = len(rows) <= TEXT_LIMIT and len(columns) <= TEXT_LIMIT
    heatmap = go.Heatmap(
        z=matrix,
        x=columns,
        y=rows,
        zmin=0,
        zmax=1,
        colorscale=COLOURSCALE,
        colorbar={"title": {"text": "CKA"}, "tickvals": [0, 0.25, 0.5, 0.75, 1]},
        hovertemplate=f"{row_run} %{{y}} × {column_run} %{{x}}<br>CKA %{{z:.3f}}<extra></extra>",
        xgap=1,
        ygap=1,
    )
    if small:
        heatmap.update(texttemplate="%{z:.2f}", textfont={"size": 12})
    figure = go.Figure(heatmap)
    cell = 34 if small else 24
    height = int(min(900, max(420, 170 + cell * len(rows))))
    figure.update_layout(
        template="plotly_white",
        font=components.FIGURE_FONT,
        height=height,
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        xaxis={"title": {"text": f"{column_run} layer"}, "type": "category", "tickangle": -45},
        yaxis={"title": {"text": f"{row_run} layer"}, "type": "category", "autorange": "reversed"},
        margin={"l": 90, "r": 20, "t": 70, "b": 90},
    )
    if row_run == column_run:
        figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
        figure.update_xaxes(constrain="domain")
    return figure


def cka_title(kind: str, dataset: str, n_images: int, debiased: bool) -> str:
    """``Linear CKA within base · <dataset> · 256 test images`` (exports carry no banner)."""
    flavour = "debiased linear CKA" if debiased else "linear CKA"
    return (
        f"{flavour[0].upper()}{flavour[1:]} {kind}"
        f"<br><span style='font-size:13px;color:#495057'>{dataset} · {n_images} test images</span>"
    )


# -- the page --------------------------------------------------------------------------------------
class SimilarityParts(NamedTuple):
    """What the layout and the callback both show for one choice."""

    banner: Any
    figures: Any


def _heatmap_or_message(
    source: Any, graph_id: str, kind: str, run_a: str, run_b: str | None, debiased: bool, dataset: str, filename: str
) -> Any:
    try:
        result = source.cka(run_a, run_b, debiased=debiased)
    except PAGE_ERRORS as exc:
        return components.problem_message(exc, title=f"No CKA {kind}")
    title = cka_title(kind, dataset, int(result.get("n_images", 0)), debiased)
    figure = cka_figure(result, title, run_a, run_b or run_a)
    return components.graph(graph_id, figure, filename=filename)


def similarity_parts(runs: Sequence[Mapping[str, Any]], choice: Choice, source: Any) -> SimilarityParts:
    """Banner and heatmaps (within A, within B, A × B) for ``choice``; a message where one cannot be drawn."""
    by_name = {str(r.get("name")): r for r in runs}
    chosen = [by_name[n] for n in dict.fromkeys((choice.a, choice.b)) if n in by_name]
    if not choice.a:
        return SimilarityParts(components.dataset_banner([]), components.message("Pick run A above.", kind="secondary"))

    def label(*names: str) -> str:
        return components.dataset_label([by_name[n] for n in names if n in by_name])

    suffix = "-debiased" if choice.debiased else ""
    within_a = _heatmap_or_message(
        source,
        WITHIN_A_ID,
        f"within {choice.a}",
        choice.a,
        None,
        choice.debiased,
        label(choice.a),
        f"cka-{choice.a}{suffix}",
    )
    if not choice.b:
        figures = dbc.Row(dbc.Col(within_a, xl=8))
    else:
        within_b = _heatmap_or_message(
            source,
            WITHIN_B_ID,
            f"within {choice.b}",
            choice.b,
            None,
            choice.debiased,
            label(choice.b),
            f"cka-{choice.b}{suffix}",
        )
        across = _heatmap_or_message(
            source,
            ACROSS_ID,
            f"{choice.a} × {choice.b}",
            choice.a,
            choice.b,
            choice.debiased,
            label(choice.a, choice.b),
            f"cka-{choice.a}-x-{choice.b}{suffix}",
        )
        figures = html.Div(
            [
                dbc.Row(dbc.Col(across, xl=9)),
                dbc.Row([dbc.Col(within_a, lg=6), dbc.Col(within_b, lg=6)]),
            ]
        )
    return SimilarityParts(components.dataset_banner(chosen), figures)


def controls(runs: Sequence[Mapping[str, Any]], choice: Choice) -> dbc.Row:
    options = [
        {"label": f"{r['name']} (broken)" if r.get("status") == "broken" else str(r["name"]), "value": str(r["name"])}
        for r in runs
    ]
    return dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Run A (rows)", html_for=RUN_A_ID, className="fw-semibold"),
                    dbc.Select(id=RUN_A_ID, options=options, value=choice.a),
                ],
                md=4,
            ),
            dbc.Col(
                [
                    dbc.Label("Run B (columns)", html_for=RUN_B_ID, className="fw-semibold"),
                    dbc.Select(
                        id=RUN_B_ID,
                        options=[{"label": "— none: run A alone —", "value": NONE_OPTION}, *options],
                        value=choice.b or NONE_OPTION,
                    ),
                ],
                md=4,
            ),
            dbc.Col(
                [
                    dbc.Label("Estimator", html_for=DEBIASED_ID, className="fw-semibold"),
                    dbc.Switch(
                        id=DEBIASED_ID, label="debiased (unbiased HSIC; fairer with few images)", value=choice.debiased
                    ),
                ],
                md=4,
                className="d-flex flex-column",
            ),
        ],
        className="mb-3 g-3 align-items-end",
    )


def layout(a: Any = None, b: Any = None, debiased: Any = None, **_other_query: Any) -> html.Div:
    """The page for ``/similarity?a=x&b=y&debiased=1``; bad values get a message and a default."""
    settings = current_settings()
    runs_dir = settings.runs_dir
    heading = html.Div(
        [
            html.H2("Similarity", className="mb-0"),
            html.P(
                "How alike the layers' representations of the same images are (linear CKA: 1 = the same up to a "
                "rotation and scale): within one run, and between two runs.",
                className="text-muted mb-3",
            ),
        ]
    )
    try:
        runs = read_runs(runs_dir)
        if not runs:
            return html.Div([heading, components.no_runs_message(runs_dir, title=None, id="similarity-empty")])
        choice = parse_choice(a, b, debiased, [str(r["name"]) for r in runs])
        param_message = (
            components.message(
                [html.Ul([html.Li(p) for p in choice.problems], className="mb-1"), "Showing the default instead."],
                kind="warning",
                title="Some settings in this link were not understood",
            )
            if choice.problems
            else None
        )
        parts = similarity_parts(runs, choice, analyzer(settings))
        return html.Div(
            [
                heading,
                dcc.Location(id=URL_ID, refresh=False),
                html.Div(param_message, id=PARAM_MESSAGE_ID),
                html.Div(parts.banner, id=BANNER_ID),
                controls(runs, choice),
                html.Div(parts.figures, id=FIGURES_ID),
            ]
        )
    except Exception as exc:
        log.exception("similarity page failed for a=%r b=%r debiased=%r", a, b, debiased)
        return components.page_failure(
            heading,
            "The similarity page could not be built",
            "The similarity view could not be built; the server log has the details.",
            exc,
            "similarity-error",
        )


def register_callbacks(app: dash.Dash) -> None:
    """Choosing runs or the estimator redraws the heatmaps and writes the choice into the URL."""

    @app.callback(
        Output(BANNER_ID, "children"),
        Output(FIGURES_ID, "children"),
        Output(URL_ID, "search"),
        Output(PARAM_MESSAGE_ID, "children"),
        Input(RUN_A_ID, "value"),
        Input(RUN_B_ID, "value"),
        Input(DEBIASED_ID, "value"),
        prevent_initial_call=True,  # layout() already drew the first view; keep the link as typed
    )
    def show_similarity(run_a: str | None, run_b: str | None, debiased: bool | None):
        settings = current_settings()
        try:
            runs = read_runs(settings.runs_dir)
            run_b = NO_RUN if run_b in (None, NONE_OPTION) else run_b
            choice = parse_choice(run_a, run_b, "1" if debiased else "0", [str(r["name"]) for r in runs])
            parts = similarity_parts(runs, choice, analyzer(settings))
            return parts.banner, parts.figures, similarity_search(choice.a, choice.b, choice.debiased), None
        except Exception:
            log.exception("similarity update failed for %r %r %r", run_a, run_b, debiased)
            error = components.message("These runs could not be read; the server log has the details.", kind="danger")
            return no_update, error, no_update, no_update
