"""Evolution page: how the chosen runs changed over training, and whether their training was healthy.

After Zeiler & Fergus (2014: features across training snapshots) and CNNVis' R5 (debugging a
failing training): errors, mean near-duplicate fraction and positive-edge fraction over the
snapshots; the per-layer picture at one snapshot (layers aligned by relative depth); per-layer
dead units and gradient norms per epoch from the training history, with the anomalies the
analysis flags written out in words.

The URL holds the view (``/evolution?models=a,b&epoch=7``). Figures are built by the plain
functions below (tested without a browser); the callbacks only read the runs and call them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update
from plotly.subplots import make_subplots

from analysis.lru import LRU
from app import components
from app.analysis_access import PAGE_ERRORS, analyzer
from app.config import current_settings
from app.figures.common import FIGURE_FONT, empty_figure
from app.query import split_names
from app.selection import (
    cache_stamp,
    link_message,
    parse_runs,
    picked_names,
    read_histories,
    read_runs,
    run_colours,
    runs_stamp,
)

dash.register_page(
    __name__, path="/evolution", name="Evolution", title=f"Evolution · {components.PRODUCT_NAME}", order=5
)

log = logging.getLogger(__name__)

URL_ID = "evolution-url"
BANNER_ID = "evolution-banner"
LINK_MESSAGE_ID = "evolution-link-message"
QUERY_MESSAGE_ID = "evolution-query-message"
PICKER_ID = "evolution-models"
EPOCH_ID = "evolution-epoch"
METRIC_ID = "evolution-health-metric"
MESSAGES_ID = "evolution-messages"
TRAINING_GRAPH_ID = "evolution-over-training"
LAYERS_GRAPH_ID = "evolution-per-layer"
HEALTH_GRAPH_ID = "evolution-health"
ANOMALIES_ID = "evolution-anomalies"
JOBS_PATH = "/jobs"

#: Health figures per epoch and layer, as the trainer records them in history.jsonl.
HEALTH_METRICS = {
    "dead_fraction": "dead-unit fraction",
    "grad_norm": "gradient norm",
    "weight_norm": "weight norm",
}
DEFAULT_METRIC = "dead_fraction"
LOG_SCALED = {"grad_norm", "weight_norm"}  # norms span decades: coloured by log10
SEVERITY_COLOURS = {"error": "danger", "warning": "warning", "info": "info"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
PANEL_COLUMNS = 4
CHOSEN_EPOCH_COLOUR = "#f39c12"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [v for v in (_number(x) for x in values) if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


# -- the URL ---------------------------------------------------------------------------------------
def parse_epoch(value: Any) -> tuple[int | None, str | None]:
    """The ``epoch`` query value as a whole number ≥ 0, or ``None`` and why it was refused."""
    if value is None:
        return None, None
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    text = str(value).strip()
    if text.isdigit():
        return int(text), None
    return None, f"epoch={text:.40} is not an epoch number (1, 2, …)."


def nearest_snapshot(epochs: Sequence[int], epoch: int) -> int | None:
    """The snapshot epoch nearest ``epoch`` (the earlier on a tie); ``None`` without snapshots."""
    return min(epochs, key=lambda e: (abs(e - epoch), e)) if epochs else None


def choose_epoch(epochs: Sequence[int], wanted: int | None) -> tuple[int | None, str | None]:
    """The snapshot to show: ``wanted`` if it is one, else the nearest (saying so); default the last."""
    if not epochs:
        return None, None
    if wanted is None:
        return max(epochs), None
    if wanted in epochs:
        return wanted, None
    chosen = nearest_snapshot(epochs, wanted)
    return chosen, f"epoch={wanted} has no snapshot (snapshots: {', '.join(map(str, epochs))}); showing epoch {chosen}."


def evolution_search(models: Sequence[str], epoch: int | None) -> str:
    """The query string that restores the view: ``?models=a,b&epoch=7``."""
    query = {"models": ",".join(models)}
    if epoch is not None:
        query["epoch"] = str(int(epoch))
    return "?" + urlencode(query, safe=",", quote_via=quote)


def snapshot_marks(epochs: Sequence[int]) -> dict[int, str]:
    return {int(e): str(e) for e in epochs}


# -- the figures -----------------------------------------------------------------------------------
def _epoch_line(figure: go.Figure, epoch: int | None, rows: int, columns: int) -> None:
    if epoch is None:
        return
    for row in range(1, rows + 1):
        for column in range(1, columns + 1):
            figure.add_vline(
                x=epoch, line={"color": CHOSEN_EPOCH_COLOUR, "width": 2, "dash": "dot"}, row=row, col=column
            )


def over_training_figure(
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    evolutions: Mapping[str, Sequence[Mapping[str, Any]]],
    colours: Mapping[str, str],
    epoch: int | None,
    title: str,
) -> go.Figure:
    """Three panels over epochs, one colour per run: errors (every epoch), then the mean over layers of
    the near-duplicate fraction and of the positive-edge fraction (at each snapshot)."""
    if not histories and not evolutions:
        return empty_figure("Pick at least one run above.")
    figure = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.07,
        subplot_titles=(
            "error (test solid, train dashed)",
            "near-duplicate fraction, mean over layers",
            "positive-edge fraction, mean over layers",
        ),
    )
    for run in dict.fromkeys([*histories, *evolutions]):
        colour = colours.get(run, "#888888")
        rows = [r for r in histories.get(run, ()) if _number(r.get("epoch")) is not None]
        first = True
        for key, style in (("test_error", "solid"), ("train_error", "dash")):
            if not rows:
                break
            figure.add_trace(
                go.Scatter(
                    x=[r["epoch"] for r in rows],
                    y=[_number(r.get(key)) for r in rows],
                    mode="lines",
                    name=run,
                    legendgroup=run,
                    showlegend=first,
                    line={"color": colour, "dash": style, "width": 2.5},
                    hovertemplate=f"{run}<br>{key.replace('_', ' ')} %{{y:.1%}} at epoch %{{x}}<extra></extra>",
                ),
                row=1,
                col=1,
            )
            first = False
        snapshots = list(evolutions.get(run, ()))
        for column, key in ((2, "near_duplicate_fraction"), (3, "positive_edge_fraction")):
            if not snapshots:
                continue
            figure.add_trace(
                go.Scatter(
                    x=[s["epoch"] for s in snapshots],
                    y=[_mean(s.get(key) or []) for s in snapshots],
                    mode="lines+markers",
                    name=run,
                    legendgroup=run,
                    showlegend=first,
                    line={"color": colour, "width": 2.5},
                    marker={"size": 8},
                    hovertemplate=f"{run}<br>{key.replace('_', ' ')} %{{y:.1%}} at epoch %{{x}}<extra></extra>",
                ),
                row=1,
                col=column,
            )
            first = False
    _epoch_line(figure, epoch, 1, 3)
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    figure.update_xaxes(title_text="epoch", tickformat="d")
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        legend={"title": {"text": "runs"}},
        height=430,
        margin={"l": 60, "r": 20, "t": 100, "b": 60},
        hovermode="closest",
    )
    return figure


def per_layer_figure(
    snapshots: Mapping[str, Mapping[str, Any]],
    depths: Mapping[str, Sequence[float]],
    colours: Mapping[str, str],
    title: str,
) -> go.Figure:
    """At one snapshot: near-duplicate and positive-edge fraction per layer, layers placed by relative depth.

    Lines over relative depth, not grouped bars: the runs have different numbers of layers, and
    depth is what makes the layer of a shallow and a deep run comparable.
    """
    if not snapshots:
        return empty_figure("No analysed snapshot to show for the chosen runs.")
    figure = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.08,
        subplot_titles=("near-duplicate fraction (redundant neurons)", "positive-edge fraction (incoming weights > 0)"),
    )
    for run, row in snapshots.items():
        colour = colours.get(run, "#888888")
        layers = list(row.get("layers") or [])
        x = list(depths.get(run) or [i / max(1, len(layers) - 1) for i in range(len(layers))])
        label = f"{run} (epoch {row['epoch']})"
        for column, key in ((1, "near_duplicate_fraction"), (2, "positive_edge_fraction")):
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=[_number(v) for v in row.get(key) or []],
                    mode="lines+markers",
                    name=label,
                    legendgroup=run,
                    showlegend=column == 1,
                    customdata=layers,
                    line={"color": colour, "width": 2},
                    marker={"size": 8},
                    hovertemplate=f"{run} · %{{customdata}} (depth %{{x:.2f}})<br>%{{y:.1%}}<extra></extra>",
                ),
                row=1,
                col=column,
            )
    figure.add_hline(y=0.5, line={"color": "#adb5bd", "dash": "dot"}, row=1, col=2)
    figure.update_yaxes(tickformat=".0%", range=[0, 1.02])
    figure.update_xaxes(title_text="relative depth (0 input side, 1 output)", range=[-0.03, 1.03])
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        legend={"title": {"text": "runs"}},
        height=430,
        margin={"l": 60, "r": 20, "t": 100, "b": 60},
        hovermode="closest",
    )
    return figure


def health_matrix(history: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[str], list[int], np.ndarray]:
    """Layers (input side first) × epochs of one health figure; NaN where the history has none."""
    rows = [r for r in history if _number(r.get("epoch")) is not None and isinstance(r.get("health"), dict)]
    layers: list[str] = []
    for row in rows:
        for name in row["health"]:
            if name not in layers:
                layers.append(name)
    epochs = [int(r["epoch"]) for r in rows]
    z = np.full((len(layers), len(rows)), np.nan)
    for j, row in enumerate(rows):
        for i, name in enumerate(layers):
            figures = row["health"].get(name)
            value = _number(figures.get(metric)) if isinstance(figures, dict) else None
            if value is not None:
                z[i, j] = value
    return layers, epochs, z


def health_figure(
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    metric: str,
    colours: Mapping[str, str],
    epoch: int | None,
    title: str,
) -> go.Figure:
    """Per run a heatmap, layers (rows, input side on top) × epochs, of one health figure; one colour bar."""
    metric = metric if isinstance(metric, str) and metric in HEALTH_METRICS else DEFAULT_METRIC
    matrices = {run: health_matrix(rows, metric) for run, rows in histories.items()}
    matrices = {run: m for run, m in matrices.items() if m[0] and m[1]}
    if not matrices:
        return empty_figure("No training-health records in the chosen runs' histories.")
    columns = max(1, min(len(matrices), PANEL_COLUMNS))
    rows = math.ceil(len(matrices) / columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[f"<b>{run}</b>" for run in matrices],
        horizontal_spacing=0.06,
        vertical_spacing=0.16 if rows > 1 else 0.05,
    )
    logged = metric in LOG_SCALED
    shown = []
    for index, (run, (layers, epochs, z)) in enumerate(matrices.items()):
        with np.errstate(divide="ignore", invalid="ignore"):
            colour_values = np.where(z > 0, np.log10(z), np.nan) if logged else z
        shown.append(colour_values)
        row, column = divmod(index, columns)
        figure.add_trace(
            go.Heatmap(
                z=colour_values,
                x=epochs,
                y=layers,
                customdata=z,
                coloraxis="coloraxis",
                name=run,
                xgap=1,
                ygap=1,
                hovertemplate=(
                    f"{run} · %{{y}} · epoch %{{x}}<br>{HEALTH_METRICS[metric]} "
                    + ("%{customdata:.3g}" if logged else "%{customdata:.0%}")
                    + "<extra></extra>"
                ),
            ),
            row=row + 1,
            col=column + 1,
        )
        if epoch is not None and epoch in epochs:
            figure.add_vrect(
                x0=epoch - 0.5,
                x1=epoch + 0.5,
                line={"color": CHOSEN_EPOCH_COLOUR, "width": 2},
                row=row + 1,
                col=column + 1,
            )
    for annotation, run in zip(figure.layout.annotations, matrices):
        annotation.font = {"size": 14, "color": colours.get(run, "#212529")}
    figure.update_yaxes(autorange="reversed", tickfont={"size": 11})
    figure.update_xaxes(title_text="epoch", tickformat="d")
    if logged:
        finite = np.concatenate([v[np.isfinite(v)].ravel() for v in shown]) if shown else np.array([])
        low, high = (math.floor(finite.min()), math.ceil(finite.max())) if finite.size else (-3, 1)
        high = max(high, low + 1)
        ticks = list(range(low, high + 1))
        colour_axis = {
            "colorscale": "Viridis",
            "cmin": low,
            "cmax": high,
            "colorbar": {
                "title": {"text": f"{HEALTH_METRICS[metric]}<br>(log scale)"},
                "tickvals": ticks,
                "ticktext": [f"1e{t}" for t in ticks],
            },
        }
    else:
        colour_axis = {
            "colorscale": "Reds",
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": HEALTH_METRICS[metric]}, "tickformat": ".0%"},
        }
    colour_axis["colorbar"].update(thickness=14, len=0.8)
    figure.update_layout(
        template="plotly_white",
        font=FIGURE_FONT,
        coloraxis=colour_axis,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        height=110 + rows * 360,
        margin={"l": 70, "r": 20, "t": 100, "b": 50},
    )
    return figure


def anomaly_list(
    anomalies: Mapping[str, Sequence[Mapping[str, Any]] | BaseException], colours: Mapping[str, str]
) -> html.Div:
    """Per run, the flagged anomalies in words with a severity badge, the worst first."""
    if not anomalies:
        return html.Div()
    cards = []
    for run, found in anomalies.items():
        heading = html.Div(run, className="fw-semibold mb-1", style={"color": colours.get(run, "#212529")})
        if isinstance(found, BaseException):
            body = [heading, html.Div(f"The history could not be read: {found}", className="text-danger")]
        elif not found:
            body = [heading, html.Div([dbc.Badge("ok", color="success", className="me-2"), "no anomaly flagged"])]
        else:
            body = [heading, _anomaly_items(found)]
        cards.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(body, className="py-2 px-3"),
                    className="h-100",
                    style={"borderLeft": f"4px solid {colours.get(run, '#adb5bd')}"},
                ),
                md=6,
                xl=3,
                className="mb-3",
            )
        )
    return html.Div(dbc.Row(cards))


def _anomaly_items(found: Sequence[Mapping[str, Any]]) -> html.Ul:
    """The anomalies of one run, the worst first, each with a severity badge."""
    items = []
    for anomaly in sorted(found, key=lambda a: SEVERITY_ORDER.get(str(a.get("severity")), 3)):
        severity = str(anomaly.get("severity") or "info")
        where = [
            part
            for part in (
                f"epoch {anomaly['epoch']}" if anomaly.get("epoch") is not None else None,
                anomaly.get("layer"),
            )
            if part
        ]
        items.append(
            html.Li(
                [
                    dbc.Badge(
                        severity,
                        color=SEVERITY_COLOURS.get(severity, "secondary"),
                        className="me-2",
                        style={"minWidth": "4.5rem"},
                    ),
                    str(anomaly.get("message") or anomaly.get("kind") or ""),
                    html.Span(f" ({', '.join(map(str, where))})" if where else "", className="text-muted small"),
                ],
                className="mb-1",
            )
        )
    return html.Ul(items, className="list-unstyled mb-0")


# -- what the callback builds ----------------------------------------------------------------------
class EvolutionParts(NamedTuple):
    """Everything the page shows for one choice of runs and snapshot."""

    banner: Any
    training: go.Figure
    layers: go.Figure
    health: go.Figure
    anomalies: Any
    messages: list[Any]


def union_epochs(names: Sequence[str]) -> list[int]:
    """Every snapshot epoch of the named runs (a run whose folder cannot be listed adds none)."""
    store = analyzer().store
    epochs: set[int] = set()
    for name in names:
        try:
            epochs.update(store.snapshot_epochs(name))
        except (*PAGE_ERRORS, OSError):
            continue
    return sorted(epochs)


def evolution_parts(models: Any, epoch: Any, metric: Any) -> EvolutionParts:
    """Banner, figures, anomalies and per-run messages for the chosen runs at snapshot ``epoch``."""
    metric = metric if isinstance(metric, str) and metric in HEALTH_METRICS else DEFAULT_METRIC
    runs_dir = current_settings().runs_dir
    runs = read_runs(runs_dir)
    wanted = set(picked_names(models))
    chosen = [r for r in runs if r["name"] in wanted]
    names = [r["name"] for r in chosen if r.get("status") != "broken"]
    colours = run_colours([r["name"] for r in runs])
    label = components.dataset_label(chosen)
    messages: list[Any] = [
        components.message(
            [html.Strong(f"{r['name']}: "), str(r.get("problem") or "broken")], kind="warning", className="py-2"
        )
        for r in chosen
        if r.get("status") == "broken"
    ]
    histories, problems = read_histories(runs_dir, names)
    a = analyzer()
    evolutions: dict[str, list[dict[str, Any]]] = {}
    snapshots: dict[str, dict[str, Any]] = {}
    depths: dict[str, list[float]] = {}
    anomalies: dict[str, Any] = {}
    number = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None
    for name in names:
        if name in problems:
            anomalies[name] = ValueError(problems[name])
            continue
        try:
            anomalies[name] = a.health(name)
        except (*PAGE_ERRORS, OSError) as exc:
            anomalies[name] = exc
        try:
            rows = a.evolution(name)
        except PAGE_ERRORS as exc:
            messages.append(components.problem_message(exc, name))
            continue
        if not rows:
            messages.append(
                components.message(
                    [
                        html.Strong(f"{name}: "),
                        "no snapshots were saved while it trained, so there is nothing to follow over epochs.",
                    ],
                    kind="secondary",
                    className="py-2",
                )
            )
            continue
        evolutions[name] = rows
        if number is not None:
            at = nearest_snapshot([r["epoch"] for r in rows], number)
            snapshots[name] = next(r for r in rows if r["epoch"] == at)
        try:
            depths[name] = [float(d) for d in a.statistics(name)["relative_depth"]]
        except PAGE_ERRORS:
            pass  # evenly spaced depths are the fallback
    shown_histories = {n: histories[n] for n in names if n in histories}
    at_text = f"epoch {number}" if number is not None else "no snapshot"
    return EvolutionParts(
        banner=components.dataset_banner(chosen),
        training=over_training_figure(shown_histories, evolutions, colours, number, f"Over training · {label}"),
        layers=per_layer_figure(snapshots, depths, colours, f"Per layer at {at_text} · {label}"),
        health=health_figure(
            shown_histories,
            metric,
            colours,
            number,
            f"Training health: {HEALTH_METRICS[metric]} per layer and epoch · {label}",
        ),
        anomalies=anomaly_list(anomalies, colours),
        messages=messages,
    )


# -- the page --------------------------------------------------------------------------------------
def picker(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str]) -> dbc.Checklist:
    options = [
        {"label": f"{r['name']} (broken)" if r.get("status") == "broken" else r["name"], "value": r["name"]}
        for r in runs
    ]
    return dbc.Checklist(id=PICKER_ID, options=options, value=list(chosen), inline=True, switch=True)


def epoch_slider(epochs: Sequence[int], value: int | None) -> dcc.Slider:
    """Only snapshot epochs can be picked (``step=None``: the marks are the stops)."""
    low, high = (min(epochs), max(epochs)) if epochs else (0, 1)
    return dcc.Slider(
        id=EPOCH_ID,
        min=low,
        max=high,
        step=None,
        marks=snapshot_marks(epochs),
        value=value,
        included=False,
        disabled=not epochs,
    )


def layout(models: Any = None, epoch: Any = None, **_other_query: Any) -> html.Div:
    """The page for ``/evolution?models=a,b&epoch=7``; bad values get a message, unknown ones are ignored."""
    runs_dir = current_settings().runs_dir
    heading = components.page_heading(
        "Evolution & training health",
        "How the chosen runs changed over training — errors, redundancy and edge signs at each snapshot — "
        "and whether training was healthy: dead units and gradient norms per layer, anomalies in words.",
    )
    try:
        runs = read_runs(runs_dir)
        if not runs:
            return html.Div(
                [heading, components.no_runs_message(runs_dir, title="Nothing to follow", id="evolution-empty")]
            )
        selection = parse_runs(models, [r["name"] for r in runs])
        usable = [r["name"] for r in runs if r["name"] in selection.names and r.get("status") != "broken"]
        wanted, problem = parse_epoch(epoch)
        epochs = union_epochs(usable)
        chosen_epoch, nearest_problem = choose_epoch(epochs, wanted)
        problems = [p for p in (problem, nearest_problem) if p]
        if wanted is not None and not epochs:
            problems.append(f"epoch={wanted}: the chosen runs saved no snapshots.")
        query_message = None
        if problems:
            query_message = components.message(
                html.Ul([html.Li(p) for p in problems], className="mb-0"),
                kind="warning",
                title="Parts of this link were not understood",
                id=QUERY_MESSAGE_ID,
            )
        chosen = [r for r in runs if r["name"] in selection.names]
        return html.Div(
            [
                heading,
                dcc.Location(id=URL_ID, refresh=False),
                link_message(selection, runs_dir, LINK_MESSAGE_ID),
                query_message,
                html.Div(components.dataset_banner(chosen), id=BANNER_ID),
                html.Div(
                    [html.Span("Runs", className="fw-semibold me-3"), picker(runs, selection.names)],
                    className="d-flex flex-wrap align-items-baseline mb-3",
                ),
                html.Div(
                    [
                        html.Span("Snapshot epoch", className="fw-semibold me-3 text-nowrap"),
                        html.Div(
                            epoch_slider(epochs, chosen_epoch), className="flex-grow-1", style={"maxWidth": "40rem"}
                        ),
                        html.Span("the dotted line in the figures", className="text-muted small ms-3"),
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
                html.Div(
                    [
                        html.Span("Show", className="fw-semibold me-3"),
                        dbc.RadioItems(
                            id=METRIC_ID,
                            options=[{"label": text, "value": key} for key, text in HEALTH_METRICS.items()],
                            value=DEFAULT_METRIC,
                            inline=True,
                        ),
                        html.Span("recorded on a probe batch after each epoch", className="text-muted small ms-2"),
                    ],
                    className="d-flex align-items-center flex-wrap mb-2",
                ),
                components.graph(HEALTH_GRAPH_ID, empty_figure("Loading…"), filename="training-health"),
                html.H5("Flagged anomalies"),
                html.Div(id=ANOMALIES_ID),
            ]
        )
    except Exception as exc:
        log.exception("evolution page failed for models=%r epoch=%r", models, epoch)
        return components.page_failure(heading, exc, id="evolution-error")


_DRAWN: LRU = LRU(max_items=32)  # figures drawn, keyed on their inputs and the runs' stamps


def register_callbacks(app: dash.Dash) -> None:
    """Runs → the snapshot slider; runs, snapshot and health figure → the figures; all → the URL."""

    @app.callback(
        Output(EPOCH_ID, "marks"),
        Output(EPOCH_ID, "min"),
        Output(EPOCH_ID, "max"),
        Output(EPOCH_ID, "value"),
        Output(EPOCH_ID, "disabled"),
        Input(PICKER_ID, "value"),
        State(EPOCH_ID, "value"),
        prevent_initial_call=True,  # layout() set the slider from the link
    )
    def snapshots_of_chosen(models: Any, current: Any):
        try:
            names = picked_names(models)
            epochs = union_epochs(names)
        except Exception:
            log.exception("evolution slider failed for %r", models)
            return no_update, no_update, no_update, no_update, no_update
        if not epochs:
            return {}, 0, 1, None, True
        value, _ = choose_epoch(epochs, current if isinstance(current, int) else None)
        return snapshot_marks(epochs), min(epochs), max(epochs), value, False

    @app.callback(
        Output(BANNER_ID, "children"),
        Output(TRAINING_GRAPH_ID, "figure"),
        Output(LAYERS_GRAPH_ID, "figure"),
        Output(HEALTH_GRAPH_ID, "figure"),
        Output(ANOMALIES_ID, "children"),
        Output(MESSAGES_ID, "children"),
        Input(PICKER_ID, "value"),
        Input(EPOCH_ID, "value"),
        Input(METRIC_ID, "value"),
    )
    def show_evolution(models: Any, epoch: Any, metric: Any):
        try:
            settings = current_settings()
            names = tuple(picked_names(models))
            # Figures are rebuilt only when the choice or a chosen run's files change.
            key = (
                str(settings.runs_dir),
                settings.analysis_cache,
                names,
                repr(epoch),
                repr(metric),
                runs_stamp(settings.runs_dir, names),
                cache_stamp(settings),
            )
            parts = _DRAWN.get_or_compute(key, lambda: evolution_parts(models, epoch, metric))
            return (parts.banner, parts.training, parts.layers, parts.health, parts.anomalies, parts.messages or None)
        except Exception:
            log.exception("evolution update failed for %r at %r", models, epoch)
            text = "These runs could not be read; the server log has the details."
            return (
                no_update,
                empty_figure(text),
                empty_figure(text),
                empty_figure(text),
                None,
                components.message(text, kind="danger"),
            )

    @app.callback(
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        Input(EPOCH_ID, "value"),
        prevent_initial_call=True,  # keep the link as typed until the view changes
    )
    def write_url(models: Any, epoch: Any):
        names = split_names(picked_names(models))
        return evolution_search(names, epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None)
