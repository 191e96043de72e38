"""Overview page: the chosen runs side by side — a models table and their learning curves overlaid.

The URL's query string holds the choice (``/?models=base-demo-digits,deep-demo-digits``), so a
link rebuilds the view. Reading and figure building are plain functions below (tested without a
browser); the one callback only calls :func:`overview_parts` and returns what it built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, dcc, html, no_update

from analysis.lru import LRU
from app import components
from app.analysis_access import PAGE_ERRORS, analyzer
from app.config import current_settings
from app.figures.common import FIGURE_FONT
from app.selection import (
    cache_stamp,
    link_message,
    parse_runs,
    picked_names,
    read_histories,
    read_runs,
    run_colours,
    runs_search,
    runs_stamp,
)

dash.register_page(__name__, path="/", name="Overview", title=f"Overview · {components.PRODUCT_NAME}", order=0)

log = logging.getLogger(__name__)

GRAPH_ID = "overview-learning-curves"
PICKER_ID = "overview-models"
URL_ID = "overview-url"
BANNER_ID = "overview-banner"
TABLE_ID = "overview-table"
LINK_MESSAGE_ID = "overview-link-message"
PER_CLASS_ID = "overview-per-class"
CONFUSION_ID = "overview-confusion"
CONFUSION_PICKER_ID = "overview-confusion-run"
NOT_ANALYSED_ID = "overview-not-analysed-box"

STATUS_COLOURS = {
    "complete": "success",
    "training": "primary",
    "imported": "info",
    "stopped": "warning",
    "interrupted": "warning",
    "broken": "danger",
}
TABLE_COLUMNS = (
    ("run", "Run", None),
    ("model", "Model", None),
    ("depth", "Depth", "conv + FC layers"),
    ("width", "Width", "family width multiplier × profile width scale"),
    ("params", "Params", "trainable parameters"),
    ("flops", "FLOPs", "of one 32×32 forward pass (torch's counter: 2 per multiply-add)"),
    ("train_error", "Train error", "on the whole training split, after the last epoch"),
    ("test_error", "Test error", "on the test split, after the last epoch"),
    ("gap", "Gap", "test error − train error, in percentage points"),
    ("train_time", "Train time", "wall time of the training epochs"),
    ("dataset", "Dataset", None),
    ("status", "Status", None),
)


# -- the models table ------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fraction(value: float) -> str:
    fraction = Fraction(value).limit_denominator(64)
    if abs(float(fraction) - value) > 1e-9:
        return f"{value:g}"
    return str(fraction.numerator) if fraction.denominator == 1 else f"{fraction.numerator}/{fraction.denominator}"


def table_record(run: Mapping[str, Any]) -> dict[str, str]:
    """One run as the table's formatted cells (plain strings: easy to test, easy to export)."""
    conv, fc = _number(run.get("conv_layers")), _number(run.get("fc_layers"))
    if conv is not None and fc is not None:
        depth = f"{int(conv + fc)} ({int(conv)} conv + {int(fc)} FC)"
    elif conv is not None:
        depth = f"{int(conv)} conv"
    else:
        depth = "–"
    width, scale = _number(run.get("width")), _number(run.get("width_scale"))
    width_text = f"{_fraction(width)} × {_fraction(scale)}" if width and scale else "–"
    train, test = _number(run.get("train_error")), _number(run.get("test_error"))
    status = str(run.get("status") or "broken")
    if status in ("training", "interrupted"):
        status = f"{status} (epoch {run.get('epochs', 0)}/{run.get('epochs_planned', '?')})"
    return {
        "run": str(run.get("name")),
        "model": str(run.get("title") or run.get("model") or "–"),
        "depth": depth,
        "width": width_text,
        "params": components.human_count(run.get("params")),
        "flops": components.human_count(run.get("flops"), "FLOPs"),
        "train_error": components.percent(train),
        "test_error": components.percent(test),
        "gap": components.percentage_points(test - train) if train is not None and test is not None else "–",
        "train_time": components.duration(run.get("train_seconds")),
        "dataset": str(run.get("dataset") or "–"),
        "status": status,
        "problem": str(run.get("problem") or ""),
    }


def models_table(runs: Sequence[Mapping[str, Any]], colours: Mapping[str, str]) -> dbc.Table | dbc.Alert:
    """The models table of the chosen runs; broken runs show their problem under the status."""
    if not runs:
        return components.message("No run chosen: tick at least one run above.", kind="secondary")
    header = html.Thead(
        html.Tr(
            [
                html.Th(label, title=hint, className="text-end text-nowrap" if key in _NUMERIC else "text-nowrap")
                for key, label, hint in TABLE_COLUMNS
            ]
        )
    )
    body = []
    for run in runs:
        record = table_record(run)
        name = record["run"]
        cells = []
        for key, _, _ in TABLE_COLUMNS:
            if key == "run":
                swatch = html.Span(
                    className="cnncmp-swatch me-2", style={**_SWATCH, "backgroundColor": colours.get(name, "#888")}
                )
                cells.append(html.Td([swatch, name], className="text-nowrap fw-semibold"))
            elif key == "status":
                base = str(run.get("status") or "broken")
                badge = dbc.Badge(record["status"], color=STATUS_COLOURS.get(base, "secondary"), className="me-1")
                problem = (
                    html.Div(record["problem"], className="small text-danger text-wrap") if record["problem"] else None
                )
                cells.append(html.Td([badge, problem], style={"maxWidth": "22rem"}))
            elif key == "dataset":
                cells.append(html.Td(record["dataset"], title=str(run.get("dataset_description") or "")))
            elif key == "model":
                cells.append(html.Td(record["model"], title=str(run.get("model") or ""), className="text-nowrap"))
            else:
                cells.append(
                    html.Td(record[key], className="text-end text-nowrap" if key in _NUMERIC else "text-nowrap")
                )
        body.append(html.Tr(cells, id={"type": "overview-row", "run": name}))
    return dbc.Table(
        [header, html.Tbody(body)], hover=True, responsive=True, size="sm", className="cnncmp-models align-middle mb-4"
    )


_SWATCH = {
    "display": "inline-block",
    "width": "0.8rem",
    "height": "0.8rem",
    "borderRadius": "2px",
    "verticalAlign": "-0.05rem",
}
_NUMERIC = {"params", "flops", "train_error", "test_error", "gap", "train_time"}


# -- the learning curves ---------------------------------------------------------------------------
def learning_curves_figure(
    runs: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    colours: Mapping[str, str],
) -> go.Figure:
    """Train (dashed) and test (solid) error per epoch of each run, one colour per run.

    The title names the dataset, since an exported figure travels without the page's banner.
    """
    figure = go.Figure()
    waiting = []
    for run in runs:
        name = str(run.get("name"))
        rows = [r for r in histories.get(name, ()) if _number(r.get("epoch")) is not None]
        if not rows:
            waiting.append(name)
            continue
        colour = colours.get(name, "#888888")
        epochs = [r["epoch"] for r in rows]
        for key, dash_style, label in (("test_error", "solid", "test"), ("train_error", "dash", "train")):
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[_number(r.get(key)) for r in rows],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=key == "test_error",
                    line={"color": colour, "dash": dash_style, "width": 2.5 if key == "test_error" else 2},
                    marker={"size": 5},
                    hovertemplate=f"{name}<br>{label} error %{{y:.1%}} at epoch %{{x}}<extra></extra>",
                )
            )
    if figure.data:
        for dash_style, label in (("solid", "test error"), ("dash", "train error")):
            figure.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    name=label,
                    legendgroup="_key",
                    line={"color": "#6c757d", "dash": dash_style, "width": 2},
                    hoverinfo="skip",
                )
            )
    notes = []
    if not runs:
        notes.append("Pick at least one run above.")
    if waiting:
        notes.append("No epoch recorded yet: " + ", ".join(waiting))
    for index, text in enumerate(notes):
        figure.add_annotation(
            text=text,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5 - 0.08 * index,
            showarrow=False,
            font={"size": 16, "color": "#6c757d"},
        )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": f"Learning curves · {components.dataset_label(runs)}", "x": 0.01, "xanchor": "left"},
        xaxis={
            "title": {"text": "epoch"},
            "rangemode": "tozero" if not figure.data else "normal",
            "showgrid": True,
            "zeroline": False,
        },
        yaxis={"title": {"text": "error"}, "tickformat": ".0%", "rangemode": "tozero", "showgrid": True},
        legend={"title": {"text": "runs"}, "groupclick": "togglegroup"},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        height=480,
        hovermode="closest",
    )
    epochs_shown = max((len(trace.x) for trace in figure.data if trace.x and trace.x[0] is not None), default=0)
    if epochs_shown <= 20:  # whole epochs only: no tick at 1.5
        figure.update_xaxes(tickmode="linear", tick0=1, dtick=1)
    else:
        figure.update_xaxes(tickformat="d")
    if not figure.data:
        figure.update_xaxes(showticklabels=False, showgrid=False)
        figure.update_yaxes(showticklabels=False, showgrid=False)
    return figure


# -- per-class error and confusion (from the cached analysis) -----------------------------------------
def class_errors(names: Sequence[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per run: its cached test statistics (class names, per-class error, confusion); and why others have none."""
    found: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for name in names:
        try:
            stats = analyzer().statistics(name)
            found[name] = {
                key: stats[key]
                for key in ("class_names", "per_class_error", "test_confusion", "dataset_description", "n_images")
            }
        except PAGE_ERRORS as exc:
            problems[name] = str(exc)
    return found, problems


def per_class_figure(errors: Mapping[str, Mapping[str, Any]], colours: Mapping[str, str], label: str) -> go.Figure:
    """Test error per class, one bar per run in each class group."""
    figure = go.Figure()
    for name, stats in errors.items():
        figure.add_trace(
            go.Bar(
                x=list(stats["class_names"]),
                y=[_number(float(v)) for v in stats["per_class_error"]],
                name=name,
                marker_color=colours.get(name, "#888888"),
                hovertemplate=f"{name}<br>class %{{x}}: %{{y:.1%}} test error<extra></extra>",
            )
        )
    if not errors:
        figure.add_annotation(
            text="No analysed run chosen: analyse runs on the Jobs page",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 16, "color": "#6c757d"},
        )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        barmode="group",
        height=420,
        title={"text": f"Test error per class · {label}", "x": 0.01, "xanchor": "left"},
        yaxis={"title": {"text": "test error"}, "tickformat": ".0%", "rangemode": "tozero"},
        xaxis={"title": {"text": "class"}, "type": "category"},
        legend={"title": {"text": "runs"}},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    return figure


def confusion_figure(name: str | None, stats: Mapping[str, Any] | None) -> go.Figure:
    """The confusion matrix of one run: share of each true class predicted as each class, counts on hover."""
    figure = go.Figure()
    if stats is not None:
        counts = np.asarray(stats["test_confusion"], dtype=float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        classes = list(stats["class_names"])
        figure.add_trace(
            go.Heatmap(
                z=shares,
                x=classes,
                y=classes,
                colorscale="Blues",
                zmin=0,
                zmax=1,
                customdata=counts,
                text=[[f"{v:.0%}" if v >= 0.005 else "" for v in row] for row in shares],
                texttemplate="%{text}",
                colorbar={"title": {"text": "share"}, "tickformat": ".0%"},
                hovertemplate="true %{y} → predicted %{x}: %{z:.1%} (%{customdata:.0f} images)<extra></extra>",
            )
        )
        title = f"Confusion · {name} · {stats['dataset_description']}"
    else:
        title = "Confusion"
        figure.add_annotation(
            text="Pick an analysed run",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 16, "color": "#6c757d"},
        )
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        height=460,
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        xaxis={"title": {"text": "predicted"}, "type": "category"},
        yaxis={"title": {"text": "true class"}, "type": "category", "autorange": "reversed"},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    return figure


# -- the page --------------------------------------------------------------------------------------
class OverviewParts(NamedTuple):
    """What the layout and the callback both show for one choice of runs."""

    banner: Any
    table: Any
    figure: go.Figure
    per_class: go.Figure
    analysed: tuple[str, ...]
    not_analysed: Any


def overview_parts(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str], runs_dir: str) -> OverviewParts:
    """Banner, table and figure for the runs ``chosen`` (names) among ``runs`` (all rows, in order)."""
    colours = run_colours([str(r.get("name")) for r in runs])
    wanted = set(chosen)
    selected = [r for r in runs if r.get("name") in wanted]
    histories, problems = read_histories(runs_dir, [r["name"] for r in selected if r.get("status") != "broken"])
    shown = []
    for run in selected:
        if run["name"] in problems:
            run = {**run, "status": "broken", "problem": problems[run["name"]]}
        shown.append(run)
    plotted = [r for r in shown if r.get("status") != "broken"]
    errors, missing = class_errors([r["name"] for r in plotted])
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
            title=None,
            id="overview-not-analysed",
        )
    return OverviewParts(
        banner=components.dataset_banner(shown),
        table=models_table(shown, colours),
        figure=learning_curves_figure(plotted, histories, colours),
        per_class=per_class_figure(errors, colours, components.dataset_label(plotted)),
        analysed=tuple(errors),
        not_analysed=not_analysed,
    )


def empty_state(runs_dir: str) -> html.Div:
    where = "holds no runs yet"
    return components.message(
        [
            html.P(
                [
                    "The runs folder ",
                    html.Code(str(runs_dir)),
                    f" {where}. Train the demo family "
                    "(BaseCNN and its shallower, deeper and wider siblings; minutes on 2 CPU cores) with",
                ]
            ),
            html.Pre(components.command(components.TRAIN_DEMO_COMMAND), className="mb-2"),
            html.P(
                [
                    "then reload this page. Runs elsewhere? Start the dashboard with ",
                    html.Code("CNNCMP_RUNS_DIR=/path/to/runs"),
                    ".",
                ],
                className="mb-0",
            ),
        ],
        kind="info",
        title="No runs to compare yet",
        id="overview-empty",
    )


def picker(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str]) -> dbc.Checklist:
    options = []
    for run in runs:
        name = str(run["name"])
        label = f"{name} (broken)" if run.get("status") == "broken" else name
        options.append({"label": label, "value": name})
    return dbc.Checklist(
        id=PICKER_ID, options=options, value=list(chosen), inline=True, switch=True, className="cnncmp-picker"
    )


def _confusion_choice(wanted: Any, analysed: Sequence[str]) -> str | None:
    """The run whose confusion matrix is shown: the one asked for when analysed, else the first."""
    if isinstance(wanted, str) and wanted in analysed:
        return wanted
    return analysed[0] if analysed else None


def layout(models: Any = None, confusion: Any = None, **_other_query: Any) -> html.Div:
    """The page for ``/?models=a,b&confusion=a``; other query parameters are ignored, bad values get a message."""
    settings = current_settings()
    runs_dir = settings.runs_dir
    heading = components.page_heading(
        "Overview", "The chosen runs side by side: size, cost and error, and how their errors fell while training."
    )
    try:
        runs = read_runs(runs_dir)
        if not runs:
            return html.Div([heading, empty_state(runs_dir)])
        selection = parse_runs(models, [r["name"] for r in runs])
        parts = overview_parts(runs, selection.names, runs_dir)
        return html.Div(
            [
                heading,
                dcc.Location(id=URL_ID, refresh=False),
                link_message(selection, runs_dir, LINK_MESSAGE_ID),
                html.Div(parts.banner, id=BANNER_ID),
                html.Div(
                    [html.Span("Runs", className="fw-semibold me-3"), picker(runs, selection.names)],
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
                                    value=_confusion_choice(confusion, parts.analysed),
                                    className="mb-2",
                                ),
                                components.graph(CONFUSION_ID, confusion_figure(None, None), filename="confusion"),
                            ],
                            lg=5,
                        ),
                    ],
                    className="mt-3",
                ),
            ]
        )
    except Exception as exc:
        log.exception("overview page failed for models=%r", models)
        return components.page_failure(heading, exc, id="overview-error")


_DRAWN: LRU = LRU(max_items=32)  # figures drawn, keyed on their inputs and the runs' stamps


def register_callbacks(app: dash.Dash) -> None:
    """Picking runs redraws banner, table and curves, and writes the choice into the URL."""

    @app.callback(
        Output(BANNER_ID, "children"),
        Output(TABLE_ID, "children"),
        Output(GRAPH_ID, "figure"),
        Output(PER_CLASS_ID, "figure"),
        Output(NOT_ANALYSED_ID, "children"),
        Output(CONFUSION_PICKER_ID, "options"),
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        prevent_initial_call=True,  # layout() already drew the first view; keep the link as typed
    )
    def show_chosen_runs(chosen: list[str] | None):
        runs_dir = current_settings().runs_dir
        try:
            chosen = picked_names(chosen)
            settings = current_settings()
            # Redrawn only when the choice or a run's files change.
            key = (str(runs_dir), settings.analysis_cache, tuple(chosen), runs_stamp(runs_dir), cache_stamp(settings))
            parts = _DRAWN.get_or_compute(key, lambda: overview_parts(read_runs(runs_dir), chosen, runs_dir))
            options = [{"label": n, "value": n} for n in parts.analysed]
            return (
                parts.banner,
                parts.table,
                parts.figure,
                parts.per_class,
                parts.not_analysed,
                options,
                runs_search(chosen),
            )
        except Exception:
            log.exception("overview update failed for %r", chosen)
            error = components.message("These runs could not be read; the server log has the details.", kind="danger")
            return no_update, error, no_update, no_update, no_update, no_update, no_update

    @app.callback(Output(CONFUSION_ID, "figure"), Input(CONFUSION_PICKER_ID, "value"))
    def show_confusion(name: str | None):
        if not isinstance(name, str) or not name:
            return confusion_figure(None, None)
        errors, _missing = class_errors([name])
        return confusion_figure(name, errors.get(name))
