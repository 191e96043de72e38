"""Pieces every page shares: the dataset banner, messages, exportable graphs and number formats.

Pages compose these instead of copying them, so a change of wording or export format is made
once. Nothing here reads the runs folder: the functions take the rows a page has already read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, dcc, html

from analysis.cache import CacheUnavailableError
from analysis.runs.storage import StorageError
from analysis.runs.store import RunStatus

PRODUCT_NAME = "CNN family comparison"
PRODUCT_TAGLINE = "BaseCNN and its shallower, deeper and wider siblings, after CNNVis (Liu et al., VAST 2016)"

#: The command that fills an empty runs folder with the demo family.
TRAIN_DEMO_COMMAND = "python -m analysis train --model all --profile demo"

EXPORT_BUTTON_TYPE = "cnncmp-export"
EXPORT_FORMATS = ("png", "svg")

#: One Bootstrap colour per run status, wherever a status is shown (models table, Jobs page).
STATUS_COLOURS = {
    RunStatus.COMPLETE: "success",
    RunStatus.TRAINING: "primary",
    RunStatus.IMPORTED: "info",
    RunStatus.STOPPED: "warning",
    RunStatus.INTERRUPTED: "warning",
    RunStatus.BROKEN: "danger",
}


# -- number formats --------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def human_count(value: Any, unit: str = "") -> str:
    """Three significant digits and an SI prefix: ``34710`` → ``34.7 k``; ``2441856``, ``"FLOPs"`` → ``2.44 MFLOPs``."""
    if not _is_number(value):
        return "–"
    magnitude = abs(value)
    for threshold, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= threshold:
            return f"{value / threshold:.3g} {prefix}{unit}"
    return f"{value:g} {unit}".strip()


def percent(value: Any, digits: int = 1) -> str:
    """An error rate in [0, 1] as ``53.7 %``."""
    return f"{100 * value:.{digits}f} %" if _is_number(value) else "–"


def percentage_points(value: Any, digits: int = 1) -> str:
    """A difference of two rates as signed percentage points: ``+0.6 pp``."""
    return f"{100 * value:+.{digits}f} pp" if _is_number(value) else "–"


def duration(seconds: Any) -> str:
    """``27.0`` → ``27 s``; ``252`` → ``4 min 12 s``; ``3720`` → ``1 h 02 min``."""
    if not _is_number(seconds) or seconds < 0:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# -- messages and the dataset banner ---------------------------------------------------------------
def message(
    children: Any,
    kind: str = "info",
    title: str | None = None,
    id: str | None = None,  # noqa: A002 - Dash's name
    className: str = "",
) -> dbc.Alert:
    """An alert for an empty state, a bad link or an error; ``kind`` is a Bootstrap colour."""
    body = [html.H5(title, className="alert-heading")] if title else []
    body += children if isinstance(children, list) else [children]
    kwargs = {"id": id} if id else {}
    return dbc.Alert(body, color=kind, className=f"cnncmp-message {subtle(kind)} {className}".strip(), **kwargs)


def failure_message(what: str, id: str | None = None) -> dbc.Alert:  # noqa: A002 - Dash's name for a component id
    """The one wording of "this broke": ``what`` could not be built, and where the details are."""
    return message(f"{what} could not be built; the server log has the details.", kind="danger", id=id)


def page_failure(heading: Any, exc: BaseException, id: str) -> html.Div:  # noqa: A002 - Dash's name for a component id
    """What a page shows when building it failed: its heading and one danger message.

    When the cause is an unreachable runs store or analysis cache the message names it: during an
    outage "see the server log" helps no one in the room.
    """
    body: list[Any] = ["This page could not be built; the server log has the details."]
    if isinstance(exc, (StorageError, CacheUnavailableError)):
        body.append(html.Div(str(exc), className="small mt-1"))
    return html.Div([heading, message(body, kind="danger", title="Something went wrong", id=id)])


def query_message(problems: Sequence[str], id: str) -> dbc.Alert | None:  # noqa: A002 - Dash's name for a component id
    """The refused parts of a link, each in a sentence naming its key (``None`` when the link was understood)."""
    if not problems:
        return None
    return message(
        [
            html.Ul([html.Li(problem) for problem in problems], className="mb-1"),
            "Showing the default for each instead.",
        ],
        kind="warning",
        title="Parts of this link were not understood",
        id=id,
    )


def subtle(kind: str) -> str:
    """Classes for a pale alert with dark text (Flatly's alerts are saturated, with white text:
    hard to read on a projector, and code inside them turns illegible)."""
    if kind not in ("primary", "secondary", "success", "info", "warning", "danger"):
        return ""
    return f"bg-{kind}-subtle text-{kind}-emphasis border border-{kind}-subtle"


def command(text: str) -> html.Code:
    """A shell command, shown so it can be copied."""
    return html.Code(text, className="user-select-all px-1")


def _profiles(runs: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({str(r["profile"]) for r in runs if r.get("profile")})


def dataset_groups(runs: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Runs grouped by dataset name (``unknown`` when a run does not say), in first-seen order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(str(run.get("dataset") or "unknown"), []).append(run)
    return groups


def _description(runs: Sequence[Mapping[str, Any]], dataset: str) -> str:
    for run in runs:
        if run.get("dataset_description"):
            return str(run["dataset_description"])
    return dataset


def dataset_label(runs: Sequence[Mapping[str, Any]]) -> str:
    """A short name of the data the runs were trained on, for figure titles (exports carry no banner)."""
    groups = dataset_groups(runs)
    if not groups:
        return "no data"
    if len(groups) > 1:
        return "mixed datasets: " + ", ".join(groups)
    ((dataset, members),) = groups.items()
    # "synthetic coloured stripes, 10 classes — not CIFAR-10 (subset: …)" → drop the parenthesis.
    return re.sub(r"\s*\(.*\)\s*$", "", _description(members, dataset)) or dataset


def dataset_banner(runs: Sequence[Mapping[str, Any]], id: str | None = None) -> dbc.Alert:  # noqa: A002 - Dash's name for a component id
    """Names the data the page's figures came from; warns loudly when the runs disagree.

    One dataset: ``Data: <description> · profile demo``. Several: a warning listing which run
    was trained on which, since their errors are not comparable.
    """
    kwargs = {"id": id} if id else {}
    runs = [run for run in runs if run.get("status") != RunStatus.BROKEN]  # a broken run names no data
    groups = dataset_groups(runs)
    if not groups:
        return dbc.Alert("Data: no run chosen.", color="light", className="cnncmp-banner py-2", **kwargs)
    profiles = _profiles(runs)
    profile_text = f" · profile {', '.join(profiles)}" if profiles else ""
    if len(groups) == 1:
        ((dataset, members),) = groups.items()
        description = _description(members, dataset)
        not_cifar = "" if "cifar" in dataset.lower() or "cifar" in description.lower() else " — not CIFAR-10"
        return dbc.Alert(
            [html.Strong("Data: "), f"{description}{not_cifar}", html.Span(profile_text, className="text-muted")],
            color="light",
            className="cnncmp-banner py-2 border border-info border-start-0 border-end-0 "
            "border-top-0 border-3 text-body",
            **kwargs,
        )
    items = [
        html.Li(
            [
                html.Strong(dataset),
                f": {_description(members, dataset)} — ",
                ", ".join(str(m.get("name")) for m in members),
            ]
        )
        for dataset, members in groups.items()
    ]
    return dbc.Alert(
        [
            html.Strong(f"Data: these runs were trained on {len(groups)} different datasets"),
            " — their errors are not comparable." + profile_text,
            html.Ul(items, className="mb-0 mt-1"),
        ],
        color="warning",
        className=f"cnncmp-banner py-2 {subtle('warning')}",
        **kwargs,
    )


# -- graphs that export to PNG and SVG -------------------------------------------------------------
def graph_config(filename: str, fmt: str = "png") -> dict[str, Any]:
    """dcc.Graph config: the modebar camera saves ``fmt`` at twice the on-screen resolution."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": 2 if fmt == "png" else 1},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def export_buttons(graph_id: str, filename: str | None = None) -> dbc.ButtonGroup:
    """One download button per format for the graph ``graph_id``; see :func:`register_callbacks`."""
    return dbc.ButtonGroup(
        [
            dbc.Button(
                fmt.upper(),
                id={"type": EXPORT_BUTTON_TYPE, "graph": graph_id, "format": fmt, "filename": filename or graph_id},
                title=f"Download this figure as {fmt.upper()}",
                color="secondary",
                outline=True,
                size="sm",
                n_clicks=0,
            )
            for fmt in EXPORT_FORMATS
        ],
        size="sm",
        className="cnncmp-export",
    )


def graph(
    id: str,  # noqa: A002 - Dash's name for a component id
    figure: Any,
    filename: str | None = None,
    height: int | None = None,
    title: str | None = None,
) -> html.Div:
    """A figure with PNG and SVG downloads: the modebar camera (PNG) plus a PNG/SVG button pair.

    Plotly's modebar offers one image format, and a custom modebar button needs a JavaScript
    click handler that Dash cannot send as JSON, so the SVG download is an ordinary button that a
    clientside callback turns into ``Plotly.downloadImage(graph, {format: "svg"})``.
    """
    name = filename or id
    style = {"height": f"{height}px"} if height else {}
    header = html.Div(
        [
            html.H5(title, className="mb-0 me-auto") if title else html.Span(className="me-auto"),
            html.Span("Download", className="text-muted small me-2"),
            export_buttons(id, name),
        ],
        className="d-flex align-items-center mb-1",
    )
    return html.Div(
        [header, dcc.Graph(id=id, figure=figure, config=graph_config(name), style=style)],
        className="cnncmp-graph mb-4",
    )


_DOWNLOAD_JS = """
function(nClicks) {
    const dc = window.dash_clientside;
    const ctx = dc.callback_context;
    let id = ctx.triggered_id;
    if (!id && ctx.triggered && ctx.triggered.length) {
        const propId = ctx.triggered[0].prop_id;
        try { id = JSON.parse(propId.slice(0, propId.lastIndexOf("."))); } catch (e) { id = null; }
    }
    if (!nClicks || !id || !window.Plotly) { return dc.no_update; }
    const holder = document.getElementById(id.graph);
    const plot = holder && (holder.classList.contains("js-plotly-plot")
        ? holder : holder.querySelector(".js-plotly-plot"));
    if (!plot) { return dc.no_update; }
    const filename = id.filename || id.graph;
    const size = plot._fullLayout || {};
    window.Plotly.downloadImage(plot, {
        format: id.format, filename: filename, width: size.width, height: size.height,
        scale: id.format === "png" ? 2 : 1,
    });
    return dc.no_update;
}
"""


_EXPORT_PATTERN = {"type": EXPORT_BUTTON_TYPE, "graph": MATCH, "format": MATCH, "filename": MATCH}


def register_callbacks(app: Any) -> None:
    """The clientside download callback behind every :func:`export_buttons` pair (one per app)."""
    app.clientside_callback(
        _DOWNLOAD_JS,
        Output(_EXPORT_PATTERN, "title"),
        Input(_EXPORT_PATTERN, "n_clicks"),
        prevent_initial_call=True,
    )


def status_badge(run: Mapping[str, Any], text: str | None = None) -> dbc.Badge:
    """A run's status as a coloured badge (``text`` replaces the status word, e.g. with its epoch)."""
    status = RunStatus.of(run)
    return dbc.Badge(text or status.value, color=STATUS_COLOURS[status], className="me-1")


def run_options(runs: Iterable[Mapping[str, Any]], disable_broken: bool = False) -> list[dict[str, Any]]:
    """Picker options for ``runs``: the name, marked (and optionally disabled) when the run is broken."""
    options = []
    for run in runs:
        name = str(run.get("name"))
        broken = run.get("status") == RunStatus.BROKEN
        option: dict[str, Any] = {"label": f"{name} (broken)" if broken else name, "value": name}
        if disable_broken:
            option["disabled"] = broken
        options.append(option)
    return options


def run_picker(id: str, runs: Iterable[Mapping[str, Any]], chosen: Iterable[str]) -> dbc.Checklist:  # noqa: A002 - Dash's name for a component id
    """The runs switches every comparison page shows: one per run, ``chosen`` ticked."""
    return dbc.Checklist(
        id=id, options=run_options(runs), value=list(chosen), inline=True, switch=True, className="cnncmp-picker"
    )


def jobs_href(runs: str | Sequence[str] | None = None) -> str:
    """The Jobs page, with ``runs`` ticked for analysis."""
    try:
        path = dash.get_relative_path("/jobs")
    except Exception:  # noqa: BLE001 - outside a running app (unit tests)
        path = "/jobs"
    names = [runs] if isinstance(runs, str) else list(runs or [])
    return path + (f"?runs={','.join(names)}" if names else "")


def problem_message(
    problem: BaseException | str,
    run: str | None = None,
    title: str | None = None,
    id: str | None = None,  # noqa: A002 - Dash's name for a component id
) -> dbc.Alert:
    """Why a run (or one of its figures) cannot be shown; a result missing from the cache links to the Jobs page."""
    from analysis.pipeline import NotAnalyzedError

    body: list[Any] = [html.Strong(f"{run}: ")] if run and not title else []
    body.append(str(problem))
    if isinstance(problem, NotAnalyzedError):
        body += [
            " ",
            dcc.Link("Open the Jobs page", href=jobs_href(problem.run), className="fw-semibold link-primary"),
            ".",
        ]
        return message(body, kind="info", title=title, id=id, className="py-2")
    return message(body, kind="warning", title=title, id=id, className="py-2")


def page_heading(title: str, blurb: str) -> html.Div:
    """A page's title and the one-line purpose under it."""
    return html.Div([html.H2(title, className="mb-0"), html.P(blurb, className="text-muted mb-3")])


def no_runs_message(runs_dir: Any, title: str | None = "No runs to compare yet", id: str | None = None) -> dbc.Alert:  # noqa: A002 - Dash's name for a component id
    """The empty state of every page: the runs folder holds no runs yet, the command that trains the demo
    family, and how to point the dashboard at runs elsewhere."""
    return message(
        [
            html.P(
                [
                    "The runs folder ",
                    html.Code(str(runs_dir)),
                    " holds no runs yet. Train the demo family (BaseCNN and its shallower, deeper and wider "
                    "siblings; minutes on 2 CPU cores) with",
                ]
            ),
            html.Pre(command(TRAIN_DEMO_COMMAND), className="mb-2"),
            html.P(
                [
                    "or on the ",
                    dcc.Link("Jobs page", href=jobs_href(), className="fw-semibold link-primary"),
                    ", then reload this page. Runs elsewhere? Start the dashboard with ",
                    html.Code("CNNCMP_RUNS_DIR=/path/to/runs"),
                    ".",
                ],
                className="mb-0",
            ),
        ],
        kind="info",
        title=title,
        id=id,
    )
