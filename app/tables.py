"""Page tables: built from the analysis layer's frames (:mod:`analysis.frames`), sortable, downloadable as CSV.

The models table's rows are :func:`analysis.frames.runs_frame`'s numbers, so the page, the Python API and
the CSV export can never disagree; :func:`table_record` formats one row as text for the HTML report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import dash_bootstrap_components as dbc
import pandas as pd
from dash import MATCH, Input, Output, State, dash_table, dcc, html
from dash.dash_table.Format import Format, Scheme, Sign, Symbol

from analysis.runs.store import RunStatus
from analysis.sweeps import seed_spread, spread_of, spread_text
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
    """A finite number, or None (a frame's missing value is NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


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
        "run": str(run.get("run") or run.get("name")),
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


# -- tables built from the analysis layer's frames (one source for the page, the API and the exports) ----
class TableColumn(NamedTuple):
    """One column of a page table: the frame's column, its heading, how numbers show, and a tooltip."""

    key: str
    label: str
    # text | percent (a fraction) | fraction (0…1 as 0.42) | points (a difference of fractions, in pp)
    # | count | flops | seconds
    kind: str = "text"
    hint: str = ""


MODELS_COLUMNS = (
    TableColumn("run", "Run"),
    TableColumn("title", "Model"),
    TableColumn("depth", "Depth", "count", "conv + FC layers"),
    TableColumn("width_text", "Width", "text", "family width multiplier × profile width scale"),
    TableColumn("params", "Params", "count", "trainable parameters"),
    TableColumn("flops", "FLOPs", "flops", "of one 32×32 forward pass (torch's counter: 2 per multiply-add)"),
    TableColumn("train_error", "Train error", "percent", "on the whole training split, after the last epoch"),
    TableColumn("test_error", "Test error", "percent", "on the test split, after the last epoch"),
    TableColumn(
        "seed_spread",
        "Test error across seeds",
        "text",
        "the model's runs that differ only by seed: mean ± standard deviation (pp), and the seeds' range",
    ),
    TableColumn("gap", "Gap", "points", "test error − train error, in percentage points"),
    TableColumn("train_seconds", "Train time", "seconds", "wall time of the training epochs"),
    TableColumn("dataset", "Dataset"),
    TableColumn("status_text", "Status"),
    TableColumn("problem", "Problem", "text", "why a run is broken or interrupted"),
)
CSV_TYPE = "cnncmp-csv"  # pattern-matching ids of the CSV buttons: {"type": CSV_TYPE, "table": table id}


def _format(kind: str) -> dict[str, Any]:
    """A DataTable column's type and number format for ``kind`` (numbers stay numbers, so sorting works)."""
    if kind == "percent":
        return {"type": "numeric", "format": Format(precision=1, scheme=Scheme.percentage)}
    if kind == "points":
        return {
            "type": "numeric",
            "format": Format(
                precision=1, scheme=Scheme.fixed, sign=Sign.positive, symbol=Symbol.yes, symbol_suffix=" pp"
            ),
        }
    if kind == "count":
        return {"type": "numeric", "format": Format(precision=3, scheme=Scheme.decimal_si_prefix)}
    if kind == "fraction":
        return {"type": "numeric", "format": Format(precision=2, scheme=Scheme.fixed)}
    if kind == "flops":
        return {
            "type": "numeric",
            "format": Format(precision=3, scheme=Scheme.decimal_si_prefix, symbol=Symbol.yes, symbol_suffix="FLOPs"),
        }
    if kind == "seconds":
        return {
            "type": "numeric",
            "format": Format(precision=0, scheme=Scheme.fixed, symbol=Symbol.yes, symbol_suffix=" s"),
        }
    return {"type": "text"}


def _cell(value: Any, kind: str) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or value is pd.NA:
        return None
    if kind == "points":
        return 100 * float(value)  # shown in percentage points
    if hasattr(value, "item"):
        return value.item()  # numpy/pandas scalars → JSON
    return value


def models_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The models table's rows from :func:`analysis.frames.runs_frame`: its numbers, plus the texts it shows
    (the width, the status, and the seed spread of a model trained with several seeds)."""
    records = []
    rows = [
        {key: (None if value is pd.NA else value) for key, value in row.items()} for row in frame.to_dict("records")
    ]
    spreads = seed_spread(rows)
    for row in rows:
        text = table_record({**row, "name": row["run"]})
        records.append(
            {
                **{column.key: _cell(row.get(column.key), column.kind) for column in MODELS_COLUMNS},
                "title": row.get("title") or row.get("model") or "–",
                "width_text": text["width"],
                "seed_spread": spread_text(spread_of(spreads, str(row["run"])), label=False),
                "status": row.get("status"),
                "status_text": text["status"],
                "problem": row.get("problem") or "",
            }
        )
    return records


def frame_table(
    table_id: str,
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[TableColumn],
    csv: str,
    filename: str,
    sort_by: Sequence[Mapping[str, str]] = (),
    row_styles: Sequence[Mapping[str, Any]] = (),
    caption: Any = None,
) -> html.Div:
    """A sortable table of ``records`` with a CSV download of the frame it came from (``csv``: its text)."""
    shown = [c for c in columns if any(r.get(c.key) not in (None, "") for r in records) or c.key == "run"]
    header = html.Div(
        [html.Div(caption, className="me-auto small text-muted"), csv_button(table_id)],
        className="d-flex align-items-center mb-1",
    )
    table = dash_table.DataTable(
        id=table_id,
        data=list(records),
        columns=[{"id": c.key, "name": c.label, **_format(c.kind)} for c in shown],
        tooltip_header={c.key: c.hint for c in shown if c.hint},
        sort_action="native",
        sort_by=list(sort_by),
        style_as_list_view=True,
        style_table={"overflowX": "auto"},
        style_header={"fontWeight": "600", "backgroundColor": "#f8f9fa", "fontSize": "15px"},
        style_cell={
            "fontFamily": "inherit",
            "fontSize": "15px",
            "padding": "6px 10px",
            "textAlign": "left",
            "whiteSpace": "normal",
            "height": "auto",
            "maxWidth": "22rem",
        },
        style_cell_conditional=[{"if": {"column_type": "numeric"}, "textAlign": "right"}],
        style_data_conditional=list(row_styles),
    )
    return html.Div([header, table, *csv_data(table_id, csv, filename)], className="cnncmp-table mb-4")


def csv_button(table_id: str) -> dbc.Button:
    """The CSV button of the table (or list) ``table_id``; :func:`csv_data` holds what it downloads."""
    return dbc.Button(
        "CSV",
        id={"type": CSV_TYPE, "table": table_id},
        n_clicks=0,
        color="secondary",
        outline=True,
        size="sm",
        title="Download this table as CSV (every column of the frame, full precision)",
    )


def csv_data(table_id: str, csv: str, filename: str) -> list[Any]:
    """The frame's CSV text and the download it goes to, for :func:`csv_button` of the same ``table_id``."""
    return [
        dcc.Store(id={"type": CSV_TYPE + "-data", "table": table_id}, data={"csv": csv, "filename": filename}),
        dcc.Download(id={"type": CSV_TYPE + "-download", "table": table_id}),
    ]


ABLATION_COLUMNS = (
    TableColumn("layer", "Layer", "text", "'all': every layer's near-duplicates taken out at once"),
    TableColumn("n_neurons", "Neurons", "count"),
    TableColumn("n_flagged", "Near-duplicates", "count", "correlated with a kept neuron above the threshold"),
    TableColumn("n_dead", "Dead", "count", "never fire on the evaluation images"),
    TableColumn("params_saved", "Params saved", "count", "parameters the near-duplicates take"),
    TableColumn("merged_error_change", "Merged: Δ test error", "points", "merged into their kept twin, then removed"),
    TableColumn("removed_error_change", "Removed: Δ test error", "points", "output zeroed, batch norm folded"),
    TableColumn("dead_error_change", "Dead removed: Δ", "points", "the dead units removed"),
)


LAYER_COLUMNS = (
    TableColumn("run", "Run"),
    TableColumn("layer", "Layer"),
    TableColumn("relative_depth", "Depth", "fraction", "relative depth: 0 the first layer, 1 the output"),
    TableColumn("n_neurons", "Neurons", "count"),
    TableColumn("n_clusters", "Clusters", "count", "K-Means on centred class profiles, k by silhouette"),
    TableColumn("near_duplicate_fraction", "Near-duplicates", "percent", "neurons with a near-duplicate"),
    TableColumn("normalized_effective_rank", "Eff. rank", "fraction", "effective rank ÷ min(neurons, classes)"),
    TableColumn("positive_edge_fraction", "Positive edges", "percent", "incoming edges that are positive"),
    TableColumn("dead_fraction", "Dead", "percent", "units that never fire on the probe images"),
)


def frame_records(frame: pd.DataFrame, columns: Sequence[TableColumn]) -> list[dict[str, Any]]:
    """The rows of ``frame`` as a table's records: its numbers (missing → empty), only ``columns``."""
    return [
        {c.key: _cell(None if row.get(c.key) is pd.NA else row.get(c.key), c.kind) for c in columns}
        for row in frame.to_dict("records")
        if row.get("analysed") is not False
    ]


def layers_table(frame: pd.DataFrame, table_id: str, filename: str) -> Any:
    """One row per (run, layer) of :func:`analysis.frames.layers_frame`: the numbers behind the per-layer chart."""
    caption = "Per layer, the numbers behind the chart (sortable; CSV has every column of the frame)"
    return frame_table(
        table_id,
        frame_records(frame, LAYER_COLUMNS),
        LAYER_COLUMNS,
        frame.to_csv(index=False),
        filename,
        caption=caption,
    )


def ablation_table(frame: pd.DataFrame, table_id: str, filename: str) -> Any:
    """One run's ablation (:func:`analysis.frames.ablation_frame`) per layer, the whole model last."""
    rows = [
        {
            column.key: _cell(None if row.get(column.key) is pd.NA else row.get(column.key), column.kind)
            for column in ABLATION_COLUMNS
        }
        for row in frame.to_dict("records")
        if row.get("analysed") is not False
    ]
    return frame_table(
        table_id,
        rows,
        ABLATION_COLUMNS,
        frame.to_csv(index=False),
        filename,
        row_styles=[{"if": {"filter_query": '{layer} = "all"'}, "fontWeight": "600"}],
    )


def models_table(frame: pd.DataFrame, colours: Mapping[str, str], table_id: str = "models-table") -> Any:
    """The models table of the runs in ``frame`` (:func:`analysis.frames.runs_frame`), best test error first.

    Each run's name is in its colour; the finished run with the lowest test error is marked. Broken runs show
    their problem. Sortable by any column; the CSV button downloads the frame itself.
    """
    if frame.empty:
        return components.message("No run chosen: tick at least one run above.", kind="secondary")
    records = models_records(frame)
    finished = [r for r in records if r.get("test_error") is not None and r["status"] in ("complete", "imported")]
    best = min(finished, key=lambda r: r["test_error"])["run"] if finished else None
    styles: list[dict[str, Any]] = [
        {"if": {"filter_query": f'{{run}} = "{name}"', "column_id": "run"}, "color": colour, "fontWeight": "600"}
        for name, colour in colours.items()
        if name in {r["run"] for r in records}
    ]
    styles.append({"if": {"filter_query": '{status_text} = "broken"'}, "color": "#b02a37"})
    if best is not None:
        styles.append({"if": {"filter_query": f'{{run}} = "{best}"'}, "backgroundColor": "#e8f4ea"})
        for record in records:
            if record["run"] == best:
                record["status_text"] = f"{record['status_text']} · lowest test error"
    return frame_table(
        table_id,
        records,
        MODELS_COLUMNS,
        frame.to_csv(index=False),
        "models.csv",
        sort_by=[{"column_id": "test_error", "direction": "asc"}],
        row_styles=styles,
        caption="Sorted by test error; click a heading to sort by it.",
    )


_CSV_JS = """
function(clicks, data) {
    if (!clicks || !data) { return window.dash_clientside.no_update; }
    return {content: data.csv, filename: data.filename, type: "text/csv"};
}
"""


def register_callbacks(app: Any) -> None:
    """The CSV download behind every :func:`frame_table` (one clientside callback per app)."""
    app.clientside_callback(
        _CSV_JS,
        Output({"type": CSV_TYPE + "-download", "table": MATCH}, "data"),
        Input({"type": CSV_TYPE, "table": MATCH}, "n_clicks"),
        State({"type": CSV_TYPE + "-data", "table": MATCH}, "data"),
        prevent_initial_call=True,
    )
