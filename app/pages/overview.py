"""Overview page: the chosen runs side by side — a models table and their learning curves overlaid.

The URL's query string holds the choice (``/?models=base-demo-digits,deep-demo-digits``), so a
link rebuilds the view. Reading and figure building are plain functions below (tested without a
browser); the one callback only calls :func:`overview_parts` and returns what it built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import dash
import dash_bootstrap_components as dbc
import plotly.colors
import plotly.graph_objects as go
from dash import Input, Output, dcc, html, no_update

from analysis.runs import BrokenRunError, RunNameError, RunStore, check_run_name
from app import components
from app.config import current_settings

dash.register_page(__name__, path="/", name="Overview", title=f"Overview · {components.PRODUCT_NAME}", order=0)

log = logging.getLogger(__name__)

GRAPH_ID = "overview-learning-curves"
PICKER_ID = "overview-models"
URL_ID = "overview-url"
BANNER_ID = "overview-banner"
TABLE_ID = "overview-table"
LINK_MESSAGE_ID = "overview-link-message"

#: One colour per run, fixed by the run's place among all runs so it survives a change of choice.
RUN_COLOURS = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Dark2
STATUS_COLOURS = {"complete": "success", "training": "primary", "imported": "info", "stopped": "warning",
                  "broken": "danger"}
TABLE_COLUMNS = (
    ("run", "Run", None),
    ("model", "Model", None),
    ("depth", "Depth", "conv + FC layers"),
    ("width", "Width", "family width multiplier × profile width scale"),
    ("params", "Params", "trainable parameters"),
    ("flops", "FLOPs", "multiply-adds of one 32×32 forward pass"),
    ("train_error", "Train error", "on the whole training split, after the last epoch"),
    ("test_error", "Test error", "on the test split, after the last epoch"),
    ("gap", "Gap", "test error − train error, in percentage points"),
    ("train_time", "Train time", "wall time of the training epochs"),
    ("dataset", "Dataset", None),
    ("status", "Status", None),
)


# -- reading the runs folder -----------------------------------------------------------------------
def broken_row(name: str, problem: str) -> dict[str, Any]:
    return {"name": name, "model": None, "dataset": None, "epochs": 0, "train_error": None, "test_error": None,
            "status": "broken", "problem": problem}


def read_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every run in ``runs_dir`` as a summary row plus ``title`` and ``fc_layers``; never raises for a bad run.

    A run whose files cannot be read comes back with ``status`` ``broken`` and ``problem`` saying why;
    a missing or unreadable folder is no runs.
    """
    store = RunStore(runs_dir)
    try:
        names = store.names()
    except OSError as exc:
        log.warning("cannot list runs in %s: %s", runs_dir, exc)
        return []
    rows = []
    for name in names:
        try:
            row = store.summary(name)
            if row.get("status") != "broken":
                meta = store.read_meta(name)
                row.update(title=meta.get("title"), fc_layers=meta.get("fc_layers"),
                           n_train=meta.get("n_train"), n_test=meta.get("n_test"))
        except Exception as exc:  # noqa: BLE001 - one bad run must not take the page down
            log.warning("run %s is unreadable: %s", name, exc)
            row = broken_row(name, str(exc) or type(exc).__name__)
        if not isinstance(row.get("status"), str):
            row["status"] = "broken"
            row.setdefault("problem", "run.json has no status")
        rows.append(row)
    return rows


def read_histories(runs_dir: str | Path, names: Sequence[str]) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Per-epoch rows of each named run, and the problems of the runs whose history could not be read."""
    store = RunStore(runs_dir)
    histories: dict[str, list[dict]] = {}
    problems: dict[str, str] = {}
    for name in names:
        try:
            histories[name] = [row for row in store.read_history(name) if isinstance(row, dict)]
        except (BrokenRunError, RunNameError, OSError, UnicodeDecodeError) as exc:
            problems[name] = str(exc)
    return histories, problems


# -- the choice of runs, from the URL and back -----------------------------------------------------
# NamedTuples, not dataclasses: Dash executes page files before putting them in sys.modules, and
# @dataclass looks its module up there (for string annotations), failing with AttributeError.
class Selection(NamedTuple):
    """The runs a link asks for: the ones shown, and the names that were refused and why."""

    names: tuple[str, ...]
    invalid: tuple[str, ...] = ()  # not a run name at all (``../../etc/passwd``)
    missing: tuple[str, ...] = ()  # a fine name, but no such run
    fell_back: bool = False  # nothing usable was asked for, so every run is shown

    @property
    def refused(self) -> tuple[str, ...]:
        return self.invalid + self.missing


def split_names(value: Any) -> list[str]:
    """``"a,b"``, ``["a", "b,c"]`` (a repeated parameter) → ``["a", "b", "c"]``; blanks dropped."""
    parts = value if isinstance(value, (list, tuple)) else [value]
    names = []
    for part in parts:
        if part is None:
            continue
        for name in str(part).split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def parse_models(value: Any, available: Sequence[str]) -> Selection:
    """The runs named by the ``models`` query value, checked against ``available``.

    No ``models`` parameter: every run. ``models=`` (empty): none. Only refused names: every run,
    with ``fell_back`` set so the page can say so.
    """
    if value is None:
        return Selection(tuple(available))
    chosen, invalid, missing = [], [], []
    for name in split_names(value):
        try:
            check_run_name(name)
        except RunNameError:
            invalid.append(name)
            continue
        (chosen if name in available else missing).append(name)
    if not chosen and (invalid or missing):
        return Selection(tuple(available), tuple(invalid), tuple(missing), fell_back=True)
    return Selection(tuple(chosen), tuple(invalid), tuple(missing))


def models_search(names: Sequence[str]) -> str:
    """The query string that restores ``names``: ``?models=a,b`` (``+`` and the like escaped)."""
    return "?" + urlencode({"models": ",".join(names)}, safe=",", quote_via=quote)


def link_message(selection: Selection, runs_dir: Path) -> dbc.Alert | None:
    """An alert naming the refused parts of the link, or ``None`` when the whole link was understood."""
    if not selection.refused:
        return None
    parts: list[Any] = []
    if selection.invalid:
        parts.append(html.Li(["Not run names: ", _quoted(selection.invalid),
                              " (a run name is letters, digits, '_', '.', '+' or '-')."]))
    if selection.missing:
        parts.append(html.Li(["No such runs in ", html.Code(str(runs_dir)), ": ", _quoted(selection.missing), "."]))
    tail = "Showing every run instead." if selection.fell_back else "Showing the others."
    return components.message([html.Ul(parts, className="mb-1"), tail], kind="warning",
                              title="Some runs in this link were not found", id=LINK_MESSAGE_ID)


def _quoted(names: Sequence[str]) -> html.Span:
    pieces: list[Any] = []
    for index, name in enumerate(names):
        if index:
            pieces.append(", ")
        pieces.append(html.Code(name))
    return html.Span(pieces)


# -- the models table ------------------------------------------------------------------------------
def run_colours(names: Sequence[str]) -> dict[str, str]:
    return {name: RUN_COLOURS[index % len(RUN_COLOURS)] for index, name in enumerate(names)}


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
    if status == "training":
        status = f"training (epoch {run.get('epochs', 0)}/{run.get('epochs_planned', '?')})"
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
    header = html.Thead(html.Tr([
        html.Th(label, title=hint, className="text-end text-nowrap" if key in _NUMERIC else "text-nowrap")
        for key, label, hint in TABLE_COLUMNS
    ]))
    body = []
    for run in runs:
        record = table_record(run)
        name = record["run"]
        cells = []
        for key, _, _ in TABLE_COLUMNS:
            if key == "run":
                swatch = html.Span(className="cnncmp-swatch me-2", style={**_SWATCH, "backgroundColor": colours.get(name, "#888")})
                cells.append(html.Td([swatch, name], className="text-nowrap fw-semibold"))
            elif key == "status":
                base = str(run.get("status") or "broken")
                badge = dbc.Badge(record["status"], color=STATUS_COLOURS.get(base, "secondary"), className="me-1")
                problem = html.Div(record["problem"], className="small text-danger text-wrap") if record["problem"] else None
                cells.append(html.Td([badge, problem], style={"maxWidth": "22rem"}))
            elif key == "dataset":
                cells.append(html.Td(record["dataset"], title=str(run.get("dataset_description") or "")))
            elif key == "model":
                cells.append(html.Td(record["model"], title=str(run.get("model") or ""), className="text-nowrap"))
            else:
                cells.append(html.Td(record[key], className="text-end text-nowrap" if key in _NUMERIC else "text-nowrap"))
        body.append(html.Tr(cells, id={"type": "overview-row", "run": name}))
    return dbc.Table([header, html.Tbody(body)], hover=True, responsive=True, size="sm",
                     className="cnncmp-models align-middle mb-4")


_SWATCH = {"display": "inline-block", "width": "0.8rem", "height": "0.8rem", "borderRadius": "2px",
           "verticalAlign": "-0.05rem"}
_NUMERIC = {"params", "flops", "train_error", "test_error", "gap", "train_time"}


# -- the learning curves ---------------------------------------------------------------------------
def learning_curves_figure(
    runs: Sequence[Mapping[str, Any]], histories: Mapping[str, Sequence[Mapping[str, Any]]],
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
            figure.add_trace(go.Scatter(
                x=epochs, y=[_number(r.get(key)) for r in rows], mode="lines+markers",
                name=name, legendgroup=name, showlegend=key == "test_error",
                line={"color": colour, "dash": dash_style, "width": 2.5 if key == "test_error" else 2},
                marker={"size": 5}, hovertemplate=f"{name}<br>{label} error %{{y:.1%}} at epoch %{{x}}<extra></extra>",
            ))
    if figure.data:
        for dash_style, label in (("solid", "test error"), ("dash", "train error")):
            figure.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label, legendgroup="_key",
                                        line={"color": "#6c757d", "dash": dash_style, "width": 2},
                                        hoverinfo="skip"))
    notes = []
    if not runs:
        notes.append("Pick at least one run above.")
    if waiting:
        notes.append("No epoch recorded yet: " + ", ".join(waiting))
    for index, text in enumerate(notes):
        figure.add_annotation(text=text, xref="paper", yref="paper", x=0.5, y=0.5 - 0.08 * index,
                              showarrow=False, font={"size": 16, "color": "#6c757d"})
    figure.update_layout(
        template="plotly_white",
        font=components.FIGURE_FONT,
        title={"text": f"Learning curves · {components.dataset_label(runs)}", "x": 0.01, "xanchor": "left"},
        xaxis={"title": {"text": "epoch"}, "rangemode": "tozero" if not figure.data else "normal",
               "showgrid": True, "zeroline": False},
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


# -- the page --------------------------------------------------------------------------------------
class OverviewParts(NamedTuple):
    """What the layout and the callback both show for one choice of runs."""

    banner: Any
    table: Any
    figure: go.Figure


def overview_parts(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str], runs_dir: Path) -> OverviewParts:
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
    return OverviewParts(
        banner=components.dataset_banner(shown),
        table=models_table(shown, colours),
        figure=learning_curves_figure(plotted, histories, colours),
    )


def empty_state(runs_dir: Path) -> html.Div:
    where = "does not exist yet" if not runs_dir.is_dir() else "holds no runs yet"
    return components.message(
        [
            html.P(["The runs folder ", html.Code(str(runs_dir)), f" {where}. Train the demo family "
                    "(BaseCNN and its shallower, deeper and wider siblings; minutes on 2 CPU cores) with"]),
            html.Pre(components.command(components.TRAIN_DEMO_COMMAND), className="mb-2"),
            html.P(["then reload this page. Runs elsewhere? Start the dashboard with ",
                    html.Code("CNNCMP_RUNS_DIR=/path/to/runs"), "."], className="mb-0"),
        ],
        kind="info", title="No runs to compare yet", id="overview-empty",
    )


def picker(runs: Sequence[Mapping[str, Any]], chosen: Sequence[str]) -> dbc.Checklist:
    options = []
    for run in runs:
        name = str(run["name"])
        label = f"{name} (broken)" if run.get("status") == "broken" else name
        options.append({"label": label, "value": name})
    return dbc.Checklist(id=PICKER_ID, options=options, value=list(chosen), inline=True, switch=True,
                         className="cnncmp-picker")


def layout(models: Any = None, **_other_query: Any) -> html.Div:
    """The page for ``/?models=a,b``; other query parameters are ignored, bad values get a message."""
    settings = current_settings()
    runs_dir = Path(settings.runs_dir)
    heading = html.Div([
        html.H2("Overview", className="mb-0"),
        html.P("The chosen runs side by side: size, cost and error, and how their errors fell while training.",
               className="text-muted mb-3"),
    ])
    try:
        runs = read_runs(runs_dir)
        if not runs:
            return html.Div([heading, empty_state(runs_dir)])
        selection = parse_models(models, [r["name"] for r in runs])
        parts = overview_parts(runs, selection.names, runs_dir)
        return html.Div([
            heading,
            dcc.Location(id=URL_ID, refresh=False),
            link_message(selection, runs_dir),
            html.Div(parts.banner, id=BANNER_ID),
            html.Div([html.Span("Runs", className="fw-semibold me-3"), picker(runs, selection.names)],
                     className="d-flex flex-wrap align-items-baseline mb-3"),
            html.Div(parts.table, id=TABLE_ID),
            components.graph(GRAPH_ID, parts.figure, filename="learning-curves"),
        ])
    except Exception:  # noqa: BLE001 - a page shows a message, never a 500
        log.exception("overview page failed for models=%r", models)
        return html.Div([heading, components.message(
            ["Something in the runs folder ", html.Code(str(runs_dir)), " could not be read; the server log has "
             "the details."], kind="danger", title="The overview could not be built", id="overview-error")])


def register_callbacks(app: dash.Dash) -> None:
    """Picking runs redraws banner, table and curves, and writes the choice into the URL."""

    @app.callback(
        Output(BANNER_ID, "children"),
        Output(TABLE_ID, "children"),
        Output(GRAPH_ID, "figure"),
        Output(URL_ID, "search"),
        Input(PICKER_ID, "value"),
        prevent_initial_call=True,  # layout() already drew the first view; keep the link as typed
    )
    def show_chosen_runs(chosen: list[str] | None):
        runs_dir = Path(current_settings().runs_dir)
        try:
            runs = read_runs(runs_dir)
            chosen = [name for name in (chosen or []) if isinstance(name, str)]
            parts = overview_parts(runs, chosen, runs_dir)
            return parts.banner, parts.table, parts.figure, models_search(chosen)
        except Exception:  # noqa: BLE001
            log.exception("overview update failed for %r", chosen)
            error = components.message("These runs could not be read; the server log has the details.",
                                       kind="danger")
            return no_update, error, no_update, no_update
