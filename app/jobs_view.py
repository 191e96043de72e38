"""The Jobs page's view model: the form's choices, a job's outcome in words, and the job itself.

:func:`execute_job` is all the background callback runs: it calls :func:`analysis.jobs.train_job`
or :func:`analysis.jobs.analyze_job` and turns their reports into the progress bar and the log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import dash_bootstrap_components as dbc
from dash import dcc, html, no_update

from analysis.data.datasets import CIFAR10_FOLDER, DATASET_NAMES, auto_choice, cifar10_available
from analysis.data.fashion_mnist import DEBIAN_PACKAGE, find_fashion_mnist
from analysis.jobs import JOB_COMPLETE, JOB_ERRORS, JOB_FAILED, JOB_STOPPED, analyze_job, train_job
from analysis.runs.store import RunStatus
from analysis.training.profiles import PROFILES
from app import components
from app.analysis_access import analyzer
from app.background import MissingDependencyError
from app.config import Settings
from app.selection import read_runs, runs_search
from model_zoo import get_spec, model_names

PATH = "/jobs"

log = logging.getLogger(__name__)

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


def runs_hint(runs: Sequence[Mapping[str, Any]]) -> str:
    """What the analysis list says above an empty list (nothing once there are runs)."""
    return "" if runs else "No runs yet: train some on the left; they appear here when training finishes."
