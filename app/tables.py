"""The models table: one row per run, its cells formatted once for the page, the report and exports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from analysis.runs.store import RunStatus
from app import components

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
    status = RunStatus.of(run).value
    if status in (RunStatus.TRAINING, RunStatus.INTERRUPTED):
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
                badge = components.status_badge(run, record["status"])
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
