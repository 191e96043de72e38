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

import logging
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html

from analysis.runs.store import RunStatus
from analysis.training.profiles import PROFILES
from app import components
from app.background import backend_problems, stop_flags
from app.config import Settings, current_settings
from app.jobs_view import (
    DEFAULT_DATASET,
    DEFAULT_PROFILE,
    POLL_MS,
    JobForm,
    analysed_runs,
    dataset_options,
    describe_profile,
    execute_job,
    model_options,
    run_options,
    runs_hint,
)
from app.page import PageContext, guarded_callback, page_context, page_layout
from app.query import RUNS_KEY, runs_value
from app.selection import link_message, picked_names, query_selection, runs_search

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

BACKEND_ID = "jobs-backend"
HEADING = components.page_heading(
    "Jobs",
    "Train models of the family or analyse runs without a terminal. The work runs in the background: "
    "follow it here, stop it, and start it again to resume.",
)


# -- the forms -------------------------------------------------------------------------------------
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
    """The page for ``/jobs?runs=a,b`` or ``/jobs?sweep=NAME`` (those runs ticked for analysis; ``run=`` is the older
    spelling)."""
    if runs_value(query) is None and query.get("run") is not None:
        query = {**query, RUNS_KEY: query["run"]}

    def build(context: PageContext) -> list[Any]:
        settings, runs = context.settings, context.runs
        problems = backend_problems(settings)
        usable = [str(r["name"]) for r in runs if RunStatus.of(r) is not RunStatus.BROKEN]
        choice = query_selection(query, runs, settings.runs_dir, available=usable, default=())
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
