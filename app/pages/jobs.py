"""Jobs page: train models of the family, or analyse runs, from the browser — with progress, a log and a stop button.

The work runs as one Dash background callback (see :mod:`app.background`): locally in a child
process of the web server, with Celery workers when ``REDIS_URL`` is set. The callback only
calls :func:`execute_job`, which calls :func:`analysis.jobs.train_job` or
:func:`analysis.jobs.analyze_job` and turns their reports into the progress bar and the log.
Stop is cooperative: the job ends after the current epoch or analysis step, and a stopped
training resumes when started again.

``/jobs?runs=a,b`` preselects runs for analysis (the other pages' "not analysed yet" messages
link here); the choice is written back into the URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from analysis.data.datasets import CIFAR10_FOLDER, DATASET_NAMES, auto_choice, cifar10_available
from analysis.data.fashion_mnist import DEBIAN_PACKAGE, find_fashion_mnist
from analysis.jobs import JOB_COMPLETE, JOB_ERRORS, JOB_FAILED, JOB_STOPPED, analyze_job, train_job
from analysis.runs.store import RunStatus
from analysis.training.profiles import PROFILES
from app import components
from app.analysis_access import analyzer
from app.background import MissingDependencyError, backend_problems, stop_flags
from app.config import Settings, current_settings
from app.page import PageContext, guarded_callback, page_context, page_layout
from app.query import runs_value
from app.selection import link_message, parse_runs, picked_names, read_runs, runs_search
from model_zoo import get_spec, model_names

PATH = "/jobs"
dash.register_page(__name__, path=PATH, name="Jobs", title=f"Jobs · {components.PRODUCT_NAME}", order=6)

log = logging.getLogger(__name__)

URL_ID = "jobs-url"
TOKEN_ID = "jobs-token"
BANNER_ID = "jobs-banner"
LINK_MESSAGE_ID = "jobs-link-message"
MODELS_ID = "jobs-models"
PROFILE_ID = "jobs-profile"
PROFILE_HELP_ID = "jobs-profile-help"
DATASET_ID = "jobs-dataset"
EPOCHS_ID = "jobs-epochs"
TRAIN_ID = "jobs-train"
RUNS_ID = "jobs-runs"
ANALYSE_ID = "jobs-analyse"
BAR_ID = "jobs-progress"
STEP_ID = "jobs-step"
LOG_ID = "jobs-log"
CANCEL_ID = "jobs-cancel"
CANCEL_NOTE_ID = "jobs-cancel-note"
STATUS_ID = "jobs-status"
RUNS_HINT_ID = "jobs-runs-hint"

DEFAULT_PROFILE = "demo"
DEFAULT_DATASET = "auto"
LOG_LINES = 200  # the log area keeps the last lines only: a long training sends one per epoch per model
POLL_MS = 500

DATASET_HELP = {
    "auto": "CIFAR-10 when its folder is in the data folder, else Fashion-MNIST when installed, else digits",
    "cifar10": "the real CIFAR-10 (32×32 colour, 10 classes)",
    "fashion-mnist": "70,000 photos of clothing, 28×28 grey: offline, harder than digits, not CIFAR-10",
    "digits": "scikit-learn's 8×8 digits scaled to 32×32: offline, not CIFAR-10",
    "synthetic": "coloured stripes: seconds to train, for smoke checks",
}
BACKEND_ID = "jobs-backend"
HEADING = components.page_heading(
    "Jobs",
    "Train models of the family or analyse runs without a terminal. The work runs in the background: "
    "follow it here, stop it, and start it again to resume.",
)


# -- the forms -------------------------------------------------------------------------------------
def model_options() -> list[dict[str, Any]]:
    """One checkbox per registered model: its title, with the registry name beside it."""
    options = []
    for name in model_names():
        spec = get_spec(name)
        label = html.Span(
            [spec.title or name, html.Small(name, className="text-muted ms-1")], title=spec.description or ""
        )
        options.append({"label": label, "value": name})
    return options


def describe_profile(name: str) -> str:
    """One line on a training profile: epochs, widths, data and what it is for."""
    profile = PROFILES.get(name)
    if profile is None:
        return ""
    images = (
        f"up to {profile.max_train_images:,} training images"
        if profile.max_train_images
        else "the whole training split"
    )
    return f"{profile.epochs} epochs · widths × {profile.width_scale:g} · {images} — {profile.description}"


def dataset_options(data_dir: Path) -> list[dict[str, Any]]:
    """The datasets to train on; CIFAR-10 and Fashion-MNIST say when their files are missing (they stay choosable,
    so training on one explains where to put it). An image folder is named on the command line (``--data-dir``)."""
    have_cifar = cifar10_available(data_dir)
    options = []
    for name in DATASET_NAMES:
        if name == "imagefolder":
            continue
        hint = DATASET_HELP.get(name, "")
        if name == "cifar10" and not have_cifar:
            hint = f"not found: needs {data_dir / CIFAR10_FOLDER}"
        elif name == "fashion-mnist" and find_fashion_mnist(data_dir) is None:
            hint = f"not found: apt-get install {DEBIAN_PACKAGE}"
        elif name == "auto":
            hint = f"{hint} (now: {auto_choice(data_dir)[0]})"
        options.append({"label": html.Span([name, html.Small(f" {hint}", className="text-muted")]), "value": name})
    return options


def run_badges(run: Mapping[str, Any], analysed: bool) -> list[Any]:
    """Badges of a run in the analysis list: its training status when not complete, and analysed or not."""
    badges: list[Any] = []
    status = RunStatus.of(run)
    if status in (RunStatus.TRAINING, RunStatus.INTERRUPTED):
        text = f"{status} {run.get('epochs', 0)}/{run.get('epochs_planned', '?')}"
    else:
        text = status.value
    if status is not RunStatus.COMPLETE:
        badge = components.status_badge(run, text)
        badges.append(html.Span(badge, className="ms-1", title=str(run.get("problem") or "")))
    if status is not RunStatus.BROKEN:
        badges.append(
            dbc.Badge(
                "analysed" if analysed else "not analysed",
                color="success" if analysed else "light",
                text_color=None if analysed else "dark",
                className="ms-2 border" if not analysed else "ms-2",
            )
        )
    return badges


def analysed_runs(runs: Sequence[Mapping[str, Any]], settings: Settings) -> set[str]:
    """Names of the runs whose final statistics, clusters and edges are all cached."""
    cached = analyzer(settings)
    found = set()
    for run in runs:
        if RunStatus.of(run) is RunStatus.BROKEN:
            continue
        try:
            if cached.is_analyzed(str(run["name"])):
                found.add(str(run["name"]))
        except Exception as exc:  # noqa: BLE001 - one unreadable run must not hide the others
            log.warning("cannot tell whether %s is analysed: %s", run.get("name"), exc)
    return found


def run_options(runs: Sequence[Mapping[str, Any]], analysed: set[str]) -> list[dict[str, Any]]:
    """The analysis list: one checkbox per run with its badges; broken runs cannot be chosen."""
    options = []
    for run in runs:
        name = str(run["name"])
        label = html.Span(
            [html.Span(name, className="fw-semibold"), *run_badges(run, name in analysed)],
            title=str(run.get("dataset_description") or run.get("dataset") or ""),
        )
        options.append({"label": label, "value": name, "disabled": RunStatus.of(run) is RunStatus.BROKEN})
    return options


# -- running a job ---------------------------------------------------------------------------------
class JobForm(NamedTuple):
    """What the page sends to a job: the train form and the runs ticked for analysis."""

    models: tuple[str, ...] = ()
    profile: str = DEFAULT_PROFILE
    dataset: str = DEFAULT_DATASET
    epochs: Any = None
    runs: tuple[str, ...] = ()


class JobOutcome(NamedTuple):
    """What a finished job shows: the message, the refreshed analysis list, the runs ticked in it, its hint."""

    status: Any
    options: list[dict[str, Any]]
    value: list[str]
    hint: str


def progress_reporter(
    send: Callable[[tuple], None], lines: int = LOG_LINES, clock: Callable[[], dt.datetime] = dt.datetime.now
) -> Callable[[float | None, str], None]:
    """A ``report(fraction, text)`` for the jobs that sends (bar value, bar label, step, log) to the page;
    a ``None`` fraction leaves the bar where it was."""
    log_lines: deque[str] = deque(maxlen=lines)
    last = [0.0]

    def report(fraction: float | None, text: str) -> None:
        fraction = last[0] if fraction is None else min(1.0, max(0.0, float(fraction)))
        last[0] = fraction
        log_lines.append(f"{clock():%H:%M:%S}  {text}")
        send((round(100 * fraction, 1), f"{100 * fraction:.0f} %", text, "\n".join(log_lines)))

    return report


def _code_list(names: Sequence[str]) -> list[Any]:
    pieces: list[Any] = []
    for index, name in enumerate(names):
        pieces += [", "] if index else []
        pieces.append(html.Code(name))
    return pieces


def outcome_message(result: Mapping[str, Any]) -> dbc.Alert:
    """The message for a job's result dict (see :mod:`analysis.jobs`), with a link to compare the runs."""
    runs = list(result.get("runs") or [])
    stopped = result.get("status") == JOB_STOPPED
    failed = result.get("failed") or {}
    kind = "danger" if result.get("status") == JOB_FAILED else "warning" if stopped or failed else "success"
    body: list[Any] = []
    if result.get("kind") == "train":
        title = "Training stopped" if stopped else "Training finished"
        rows = [
            html.Li(
                [
                    html.Code(r["name"]),
                    f": {r.get('status')}, epoch {r.get('epochs_done')}/"
                    f"{r.get('epochs_planned')}, test error {components.percent(r.get('test_error'))}",
                ]
            )
            for r in result.get("results") or []
        ]
        if stopped:
            body.append(
                html.P(
                    "Stopped after the last finished epoch: start the same training again to resume.", className="mb-1"
                )
            )
        body.append(html.Ul(rows, className="mb-1") if rows else html.P("Nothing was trained.", className="mb-1"))
        if runs and not stopped:
            body.append(
                html.P("They are ticked under “Analyse runs”: analyse them to see their insides.", className="mb-1")
            )
    else:
        title = {JOB_STOPPED: "Analysis stopped", JOB_FAILED: "Analysis failed"}.get(
            str(result.get("status")), "Analysis finished"
        )
        if stopped:
            body.append(
                html.P(
                    "Stopped; finished analyses stay cached, so starting again goes on where it stopped.",
                    className="mb-1",
                )
            )
        body.append(html.P(["Analysed: ", *_code_list(runs)] if runs else "No run was analysed.", className="mb-1"))
        if failed:
            body.append(
                html.Ul(
                    [html.Li([html.Code(name), f" could not be analysed: {why}"]) for name, why in failed.items()],
                    className="mb-1",
                )
            )
    if runs:
        link = dcc.Link("Review", href="/" + runs_search(runs), className=f"text-{kind}-emphasis fw-bold")
        body.append(html.P(["Compare them on the ", link, "."], className="mb-0"))
    return components.message(body, kind=kind, title=title, id="jobs-outcome")


def error_message(exc: BaseException, kind: str) -> dbc.Alert:
    """A job that could not start or failed: the error's own words (they say what to do)."""
    what = "Training" if kind == "train" else "Analysis"
    if isinstance(exc, (*JOB_ERRORS, MissingDependencyError)):
        return components.message(str(exc), kind="danger", title=f"{what} refused", id="jobs-error")
    return components.message(
        [f"{type(exc).__name__}: {exc}. ", "The server log has the details."],
        kind="danger",
        title=f"{what} failed",
        id="jobs-error",
    )


def execute_job(
    kind: str, form: JobForm, settings: Settings, send: Callable[[tuple], None], cancelled: Callable[[], bool]
) -> JobOutcome:
    """Run one job (``train`` or ``analyze``) on ``settings`` and say how it ended; never raises."""
    report = progress_reporter(send)
    chosen = list(form.runs)
    try:
        if kind == "train":
            result = train_job(
                settings.runs_dir,
                list(form.models),
                form.profile,
                form.dataset,
                settings.data_dir,
                form.epochs,
                report=report,
                cancelled=cancelled,
            )
            chosen = list(dict.fromkeys([*result["runs"], *chosen])) if result["status"] == JOB_COMPLETE else chosen
        else:
            result = analyze_job(
                settings.runs_dir,
                settings.analysis_cache,
                list(form.runs),
                settings.data_dir,
                report=report,
                cancelled=cancelled,
            )
        status = outcome_message(result)
    except Exception as exc:
        if not isinstance(exc, JOB_ERRORS):
            log.exception("%s job failed for %r", kind, form)
        report(None, f"failed: {exc}")
        status = error_message(exc, kind)
    try:
        runs = read_runs(settings.runs_dir)
        names = {str(r["name"]) for r in runs}
        return JobOutcome(
            status,
            run_options(runs, analysed_runs(runs, settings)),
            [name for name in chosen if name in names],
            runs_hint(runs),
        )
    except Exception:
        log.exception("cannot refresh the runs list after the %s job", kind)
        return JobOutcome(status, no_update, no_update, no_update)


# -- the page --------------------------------------------------------------------------------------
def train_card(settings: Settings) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.H4("Train models", className="mb-0")),
            dbc.CardBody(
                [
                    dbc.Label("Models", html_for=MODELS_ID, className="fw-semibold"),
                    dbc.Checklist(
                        id=MODELS_ID,
                        options=model_options(),
                        value=[],
                        inline=True,
                        switch=True,
                        className="cnncmp-picker mb-3",
                    ),
                    dbc.Label("Profile", html_for=PROFILE_ID, className="fw-semibold"),
                    dbc.RadioItems(
                        id=PROFILE_ID,
                        options=[{"label": name, "value": name} for name in PROFILES],
                        value=DEFAULT_PROFILE,
                        inline=True,
                    ),
                    html.Div(describe_profile(DEFAULT_PROFILE), id=PROFILE_HELP_ID, className="small text-muted mb-3"),
                    dbc.Label("Dataset", html_for=DATASET_ID, className="fw-semibold"),
                    dbc.RadioItems(
                        id=DATASET_ID,
                        options=dataset_options(Path(settings.data_dir)),
                        value=DEFAULT_DATASET,
                        className="mb-3",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Epochs", html_for=EPOCHS_ID, className="fw-semibold"),
                                    dbc.Input(
                                        id=EPOCHS_ID,
                                        type="number",
                                        min=1,
                                        step=1,
                                        placeholder=f"profile's ({PROFILES[DEFAULT_PROFILE].epochs})",
                                    ),
                                ],
                                width=5,
                            ),
                            dbc.Col(
                                dbc.Button("Train", id=TRAIN_ID, color="primary", n_clicks=0, className="w-100"),
                                width=4,
                                className="ms-auto d-flex align-items-end",
                            ),
                        ],
                        className="g-2",
                    ),
                    html.P(
                        [
                            "A run is named ",
                            html.Code("MODEL-PROFILE-DATASET"),
                            "; training one that exists resumes it (or keeps it when complete).",
                        ],
                        className="small text-muted mt-2 mb-0",
                    ),
                ]
            ),
        ],
        className="h-100",
    )


def runs_hint(runs: Sequence[Mapping[str, Any]]) -> str:
    """What the analysis list says above an empty list (nothing once there are runs)."""
    return "" if runs else "No runs yet: train some on the left; they appear here when training finishes."


def analyse_card(runs: Sequence[Mapping[str, Any]], analysed: set[str], chosen: Sequence[str]) -> dbc.Card:
    body = html.Div(
        [
            html.P(runs_hint(runs), id=RUNS_HINT_ID, className="text-muted mb-2"),
            dbc.Checklist(id=RUNS_ID, options=run_options(runs, analysed), value=list(chosen)),
        ],
        className="cnncmp-job-runs mb-3",
        style={"maxHeight": "22rem", "overflowY": "auto"},
    )
    return dbc.Card(
        [
            dbc.CardHeader(html.H4("Analyse runs", className="mb-0")),
            dbc.CardBody(
                [
                    html.P(
                        "Computes and caches what the pages show: statistics, neuron clusters, edges and CKA, for the "
                        "final weights and every snapshot.",
                        className="small text-muted",
                    ),
                    body,
                    dbc.Button("Analyse", id=ANALYSE_ID, color="primary", n_clicks=0),
                ]
            ),
        ],
        className="h-100",
    )


def progress_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.H4("Progress", className="mb-0 me-auto"),
                        html.Span(id=CANCEL_NOTE_ID, className="text-muted small me-3"),
                        dbc.Button(
                            "Stop",
                            id=CANCEL_ID,
                            color="danger",
                            outline=True,
                            n_clicks=0,
                            disabled=True,
                            title="Stop after the current epoch or analysis step; start the same job again to resume",
                        ),
                    ],
                    className="d-flex align-items-center",
                )
            ),
            dbc.CardBody(
                [
                    html.Div("No job started yet.", id=STEP_ID, className="fs-5 mb-2"),
                    dbc.Progress(id=BAR_ID, value=0, label="", style={"height": "1.6rem"}, className="mb-3 fs-6"),
                    html.Div(id=STATUS_ID),
                    html.Details(
                        [
                            html.Summary("Log", className="fw-semibold"),
                            html.Pre(
                                "The steps of a job appear here.",
                                id=LOG_ID,
                                className="cnncmp-job-log small bg-light border rounded p-2 mt-2 mb-0",
                                style={"maxHeight": "18rem", "overflowY": "auto", "whiteSpace": "pre-wrap"},
                            ),
                        ],
                        open=True,
                    ),
                ]
            ),
        ],
        className="mb-4",
    )


def backend_message(problems: Sequence[str]) -> dbc.Alert | None:
    """Why jobs cannot run now (Redis or the runs store down), or nothing when all is reachable."""
    if not problems:
        return None
    return components.message(
        [
            html.Ul([html.Li(problem) for problem in problems], className="mb-2"),
            html.P(
                "Jobs cannot start or report progress until it is back. Pages already analysed still show what "
                "this server holds in memory. Nothing needs a restart: reload this page once it is back.",
                className="mb-0",
            ),
        ],
        kind="danger",
        title="A shared service is unreachable",
        id=BACKEND_ID,
    )


def layout(**query: Any) -> html.Div:
    """The page for ``/jobs?runs=a,b`` (those runs ticked for analysis; ``run=`` is the older spelling)."""
    value = runs_value(query) if runs_value(query) is not None else query.get("run")

    def build(context: PageContext) -> list[Any]:
        settings, runs = context.settings, context.runs
        problems = backend_problems(settings)
        usable = [str(r["name"]) for r in runs if RunStatus.of(r) is not RunStatus.BROKEN]
        choice = parse_runs(value, usable, default=())
        chosen_rows = [r for r in runs if r["name"] in choice.names]
        # With the shared cache down, asking it run by run would only repeat the same timeout.
        analysed = set() if problems else analysed_runs(runs, settings)
        tail = "The others are ticked for analysis below." if choice.names else "No run was ticked for analysis."
        return [
            backend_message(problems),
            dcc.Location(id=URL_ID, refresh=False),
            dcc.Store(id=TOKEN_ID, data=uuid.uuid4().hex),  # names this page's job for its Stop button
            link_message(choice, settings.runs_dir, LINK_MESSAGE_ID, tail),
            html.Div(components.dataset_banner(chosen_rows), id=BANNER_ID),
            dbc.Row(
                [
                    dbc.Col(train_card(settings), lg=6, className="mb-4"),
                    dbc.Col(analyse_card(runs, analysed, choice.names), lg=6, className="mb-4"),
                ]
            ),
            progress_card(),
        ]

    return page_layout("jobs-page", HEADING, build, query, needs_runs=False)


def register_callbacks(app: dash.Dash) -> None:
    """The job (a background callback), its Stop button, the profile help and the URL."""

    @app.callback(
        Output(STATUS_ID, "children"),
        Output(RUNS_ID, "options"),
        Output(RUNS_ID, "value"),
        Output(RUNS_HINT_ID, "children"),
        Input(TRAIN_ID, "n_clicks"),
        Input(ANALYSE_ID, "n_clicks"),
        State(MODELS_ID, "value"),
        State(PROFILE_ID, "value"),
        State(DATASET_ID, "value"),
        State(EPOCHS_ID, "value"),
        State(RUNS_ID, "value"),
        State(TOKEN_ID, "data"),
        background=True,
        interval=POLL_MS,
        progress=[
            Output(BAR_ID, "value"),
            Output(BAR_ID, "label"),
            Output(STEP_ID, "children"),
            Output(LOG_ID, "children"),
        ],
        running=[
            (Output(TRAIN_ID, "disabled"), True, False),
            (Output(ANALYSE_ID, "disabled"), True, False),
            (Output(CANCEL_ID, "disabled"), False, True),
            (Output(BAR_ID, "animated"), True, False),
            (Output(BAR_ID, "striped"), True, False),
            (Output(CANCEL_NOTE_ID, "children"), "", ""),  # a new job starts unstopped
        ],
        prevent_initial_call=True,
    )
    def run_job(set_progress, _train_clicks, _analyse_clicks, models, profile, dataset, epochs, runs, token):
        # This body runs in the job's process. DiskcacheManager forks the process serving the click, and
        # Flask's app context (a context variable) comes along, so current_settings() are that app's; a
        # Celery worker has none and reads the environment. Not a closure over `app`: Dash keys a
        # background function by its source and outputs, so every app in a process runs the last one made.
        settings = current_settings()
        kind = "train" if ctx.triggered_id == TRAIN_ID else "analyze"
        form = JobForm(
            tuple(picked_names(models)),
            profile or DEFAULT_PROFILE,
            dataset or DEFAULT_DATASET,
            epochs,
            tuple(picked_names(runs)),
        )
        try:
            flags = stop_flags(settings)
            flags.clear(token)
            cancelled = lambda: flags.requested(token)  # noqa: E731 - a one-line predicate, named for the job
        except Exception as exc:  # noqa: BLE001 - no stop flags: the job still runs, only Stop is lost
            log.warning("stop flags unavailable: %s", exc)
            cancelled = lambda: False  # noqa: E731 - the same predicate when there are no flags
        return tuple(execute_job(kind, form, settings, set_progress, cancelled))

    @guarded_callback(
        app,
        Output(CANCEL_NOTE_ID, "children"),
        Input(CANCEL_ID, "n_clicks"),
        State(TOKEN_ID, "data"),
        what="The stop request",
        message=0,
        prevent_initial_call=True,
    )
    def request_stop(_clicks, token):
        stop_flags(current_settings()).request(str(token))
        return "Stopping after the current epoch or analysis step…"

    @guarded_callback(
        app,
        Output(PROFILE_HELP_ID, "children"),
        Output(EPOCHS_ID, "placeholder"),
        Input(PROFILE_ID, "value"),
        what="The profile's description",
        prevent_initial_call=True,
    )
    def show_profile(profile):
        profile = profile if isinstance(profile, str) else ""  # a client may send any JSON; names are strings
        chosen = PROFILES.get(profile)
        return describe_profile(profile), f"profile's ({chosen.epochs})" if chosen else ""

    @guarded_callback(
        app,
        Output(URL_ID, "search"),
        Output(BANNER_ID, "children"),
        Input(RUNS_ID, "value"),
        what="The banner of the ticked runs",
        message=1,
        prevent_initial_call=True,
    )
    def show_chosen_runs(chosen):
        names = picked_names(chosen)
        rows = [r for r in page_context().runs if r["name"] in names]
        return (runs_search(names) if names else ""), components.dataset_banner(rows)
