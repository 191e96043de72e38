"""The Evolution page's view model: its link, the snapshot slider's stops, and what the figures are drawn from.

The link: ``/evolution?runs=a,b&epoch=7&metric=grad_norm`` (``models=`` is read as ``runs=``).

The snapshot slider runs over the *positions* of the analysed snapshot epochs (0, 1, 2, … with
step 1), its marks labelled with the epochs: the arrow keys then move from one analysed snapshot to
the next, whatever the spacing of the epochs, and no value between two snapshots (the 14.9 a
step-less slider reached) can be chosen. :func:`epoch_at` turns any value a request sends back into
an analysed epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from analysis.runs.store import RunStatus
from app import components
from app.analysis_access import PAGE_ERRORS
from app.figures.evolution import (
    DEFAULT_METRIC,
    HEALTH_METRICS,
    health_figure,
    over_training_figure,
    per_layer_figure,
)
from app.query import Parsed, parse_choice, parse_count
from app.selection import read_histories, run_colours, runs_search

SEVERITY_COLOURS = {"error": "danger", "warning": "warning", "info": "info"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


# -- the link --------------------------------------------------------------------------------------
def parse_epoch(value: Any) -> Parsed:
    """``epoch``: a whole number ≥ 0 (the nearest analysed snapshot is shown); absent or blank: the last."""
    return parse_count(value, "epoch", None, minimum=0)


def parse_metric(value: Any) -> Parsed:
    """``metric``: the training-health figure of the heatmaps (``dead_fraction``, ``grad_norm``, ``weight_norm``)."""
    return parse_choice(value, "metric", list(HEALTH_METRICS), DEFAULT_METRIC)


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
    listed = ", ".join(map(str, epochs))
    return chosen, f"epoch={wanted} has no analysed snapshot (snapshots: {listed}); showing epoch {chosen}."


def evolution_search(names: Sequence[str], epoch: int | None, metric: str = DEFAULT_METRIC) -> str:
    """The query string that restores the view: ``?runs=a,b&epoch=7&metric=grad_norm``."""
    return runs_search(names, epoch=epoch, metric=metric)


# -- the snapshot slider ---------------------------------------------------------------------------
def slider_marks(epochs: Sequence[int]) -> dict[int, str]:
    """One mark per analysed snapshot, at its position, labelled with its epoch."""
    return {index: str(epoch) for index, epoch in enumerate(epochs)}


def slider_position(epoch: int | None, epochs: Sequence[int]) -> int | None:
    """The slider position of the analysed snapshot nearest ``epoch``."""
    nearest = nearest_snapshot(epochs, epoch) if epoch is not None else None
    return None if nearest is None else list(epochs).index(nearest)


def epoch_at(position: Any, epochs: Sequence[int]) -> int | None:
    """The analysed epoch at a slider position; any number is rounded and kept in range, anything else is None."""
    if not epochs or isinstance(position, bool) or not isinstance(position, (int, float)):
        return None
    if not math.isfinite(position):
        return None
    return int(epochs[min(len(epochs) - 1, max(0, round(position)))])


def analysed_epochs(source: Any, names: Sequence[str]) -> list[int]:
    """Every analysed snapshot epoch of the named runs (a run not analysed, or unreadable, adds none)."""
    epochs: set[int] = set()
    for name in names:
        try:
            epochs.update(int(row["epoch"]) for row in source.evolution(name))
        except (*PAGE_ERRORS, OSError):
            continue
    return sorted(epochs)


# -- the anomalies, in words -----------------------------------------------------------------------
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
        epoch = f"epoch {anomaly['epoch']}" if anomaly.get("epoch") is not None else None
        where = [part for part in (epoch, anomaly.get("layer")) if part]
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


# -- what the page shows ---------------------------------------------------------------------------
class EvolutionParts(NamedTuple):
    """Everything the page shows for one choice of runs, snapshot and health figure."""

    banner: Any
    training: go.Figure
    layers: go.Figure
    health: go.Figure
    anomalies: Any
    messages: list[Any]


def _no_snapshots(name: str) -> Any:
    return components.message(
        [
            html.Strong(f"{name}: "),
            "no snapshots were saved while it trained, so there is nothing to follow over epochs.",
        ],
        kind="secondary",
        className="py-2",
    )


def evolution_parts(
    runs: Sequence[Mapping[str, Any]], runs_dir: Any, source: Any, chosen: Sequence[str], epoch: Any, metric: Any
) -> EvolutionParts:
    """Banner, figures, anomalies and per-run messages for the runs ``chosen`` at snapshot ``epoch`` (an epoch)."""
    metric = parse_metric(metric).value
    wanted = set(chosen)
    picked = [r for r in runs if r["name"] in wanted]
    names = [r["name"] for r in picked if r.get("status") != RunStatus.BROKEN]
    colours = run_colours([r["name"] for r in runs])
    label = components.dataset_label(picked)
    messages: list[Any] = [
        components.message(
            [html.Strong(f"{r['name']}: "), str(r.get("problem") or "broken")], kind="warning", className="py-2"
        )
        for r in picked
        if r.get("status") == RunStatus.BROKEN
    ]
    histories, problems = read_histories(runs_dir, names)
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
            anomalies[name] = source.health(name)
        except (*PAGE_ERRORS, OSError) as exc:
            anomalies[name] = exc
        try:
            rows = source.evolution(name)
        except PAGE_ERRORS as exc:
            messages.append(components.problem_message(exc, name))
            continue
        if not rows:
            messages.append(_no_snapshots(name))
            continue
        evolutions[name] = rows
        if number is not None:
            at = nearest_snapshot([r["epoch"] for r in rows], number)
            snapshots[name] = next(r for r in rows if r["epoch"] == at)
        try:
            depths[name] = [float(d) for d in source.statistics(name)["relative_depth"]]
        except PAGE_ERRORS:
            pass  # evenly spaced depths are the fallback
    shown_histories = {n: histories[n] for n in names if n in histories}
    at_text = f"epoch {number}" if number is not None else "no analysed snapshot"
    empty = "No analysed snapshot to show for the chosen runs: analyse their snapshots on the Jobs page."
    return EvolutionParts(
        banner=components.dataset_banner(picked),
        training=over_training_figure(shown_histories, evolutions, colours, number, label),
        layers=per_layer_figure(snapshots, depths, colours, f"Per layer at {at_text}", label, empty),
        health=health_figure(shown_histories, metric, colours, number, label),
        anomalies=anomaly_list(anomalies, colours),
        messages=messages,
    )
