"""The choice of runs shared by every page: reading the runs folder, the ``runs`` and ``sweep`` query values, colours.

Pages never raise for a bad run or a bad link: a run whose files cannot be read comes back
``broken`` with its problem, and a link's refused names come back in a :class:`Selection`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import dash_bootstrap_components as dbc
import plotly.colors
from dash import html

from analysis.runs.storage import StorageError
from analysis.runs.store import BrokenRunError, RunNameError, RunStatus, RunStore, broken_summary, check_run_name
from analysis.sweeps import SweepNotFoundError, load_sweep
from app import components
from app.query import RUNS_KEY, SWEEP_KEY, parse_sweep, runs_value, search, split_names

log = logging.getLogger(__name__)

#: One colour per run, fixed by the run's place among all runs so it survives a change of choice.
RUN_COLOURS = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Dark2


# -- reading the runs folder -----------------------------------------------------------------------
def read_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every run in ``runs_dir`` as a summary row plus ``title`` and ``fc_layers``; never raises for a bad run.

    A run whose files cannot be read comes back with ``status`` ``broken`` and ``problem`` saying why;
    a missing or unreadable folder is no runs.
    """
    store = RunStore(runs_dir)
    try:
        names = store.names()
    except StorageError:
        raise  # a bucket that is down is not "no runs": the page says it cannot reach the store
    except OSError as exc:
        log.warning("cannot list runs in %s: %s", runs_dir, exc)
        return []
    rows = []
    for name in names:
        try:
            row = store.summary(name)
            if RunStatus.of(row) is not RunStatus.BROKEN:
                meta = store.read_meta(name)
                row.update(
                    title=meta.get("title"),
                    fc_layers=meta.get("fc_layers"),
                    n_train=meta.get("n_train"),
                    n_test=meta.get("n_test"),
                )
        except Exception as exc:  # noqa: BLE001 - one bad run must not take the page down
            log.warning("run %s is unreadable: %s", name, exc)
            row = broken_summary(name, str(exc) or type(exc).__name__)
        if not isinstance(row.get("status"), str):
            row["status"] = RunStatus.BROKEN
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
    sweep: str | None = None  # the sweep whose runs these are (``sweep=NAME``)
    sweep_problem: str | None = None  # why the link's sweep could not be used
    pending: tuple[str, ...] = ()  # runs the sweep records that are not trained yet

    @property
    def refused(self) -> tuple[str, ...]:
        return self.invalid + self.missing


def picked_names(value: Any) -> list[str]:
    """The run names of a picker's value as a request sends it: strings of a list, anything else none.

    A hand-made request can send a number, a dict or a list of lists where a checklist sends a
    list of names; every callback reads a picker through this instead of iterating what it got.
    """
    if not isinstance(value, (list, tuple)):
        return []
    return [name for name in value if isinstance(name, str)]


def sort_names(value: Any, available: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The names in a query value split into (available runs, not run names at all, fine names without a run)."""
    chosen, invalid, missing = [], [], []
    for name in split_names(value):
        try:
            check_run_name(name)
        except RunNameError:
            invalid.append(name)
            continue
        (chosen if name in available else missing).append(name)
    return tuple(chosen), tuple(invalid), tuple(missing)


def default_runs(runs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The runs a page shows when its link names none: the profile and dataset with the most finished runs (the
    most recently updated on a tie), every run of it whatever its state, and the runs too damaged to say theirs —
    the demo family and what went wrong with it, not a one-run smoke test trained since. Every run when none is
    finished."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for run in runs:
        if RunStatus.of(run).has_weights:
            groups.setdefault((str(run.get("profile")), str(run.get("dataset"))), []).append(run)
    if not groups:
        return tuple(str(run.get("name")) for run in runs)
    profile, dataset = max(groups, key=lambda g: (len(groups[g]), max(str(m.get("updated") or "") for m in groups[g])))
    return tuple(
        str(run.get("name"))
        for run in runs
        if (str(run.get("profile")), str(run.get("dataset"))) == (profile, dataset) or not run.get("profile")
    )


def parse_runs(value: Any, available: Sequence[str], default: Sequence[str] | None = None) -> Selection:
    """The runs named by the ``runs`` query value (see :func:`app.query.runs_value`), checked against ``available``.

    No ``runs`` parameter: ``default`` (every run when not given; pages pass :func:`default_runs`).
    ``runs=`` (empty): none. Only refused names: the default, with ``fell_back`` set so the page can say so.
    """
    fallback = tuple(available) if default is None else tuple(default)
    if value is None:
        return Selection(fallback)
    chosen, invalid, missing = sort_names(value, available)
    if not chosen and (invalid or missing):
        return Selection(fallback, invalid, missing, fell_back=True)
    return Selection(chosen, invalid, missing)


def sweep_runs(value: Any, runs_dir: str | Path) -> tuple[str | None, tuple[str, ...], str | None]:
    """What ``sweep=NAME`` names: (the sweep's name, its runs, why it cannot be used — ``None`` when it can).

    A bucket that cannot be reached raises StorageError (the page says it cannot reach the store)."""
    parsed = parse_sweep(value)
    if parsed.problem or parsed.value is None:
        return None, (), parsed.problem
    try:
        sweep = load_sweep(RunStore(runs_dir), parsed.value)
    except SweepNotFoundError as exc:
        return None, (), f"{SWEEP_KEY}={parsed.value}: {exc}."
    except ValueError as exc:  # a damaged record
        return None, (), f"{SWEEP_KEY}={parsed.value}: {exc}."
    return sweep.name, sweep.runs, None


def query_selection(
    query: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    runs_dir: str | Path,
    available: Sequence[str] | None = None,
    default: Sequence[str] | None = None,
) -> Selection:
    """The runs a page's link asks for: ``runs=`` (or ``models=``), else ``sweep=NAME``'s runs, else ``default``
    (:func:`default_runs` of ``runs`` unless given); every page reads its query through this. ``available``:
    the runs that may be chosen (default: every one of ``runs``).

    A sweep's runs not trained yet are ``pending`` (not refused: they are coming); an unknown sweep is a
    ``sweep_problem`` and the page shows its default runs.
    """
    available = [str(r.get("name")) for r in runs] if available is None else list(available)
    default = default_runs(runs) if default is None else tuple(default)
    sweep, members, problem = sweep_runs(query.get(SWEEP_KEY), runs_dir) if query.get(SWEEP_KEY) else (None, (), None)
    value = runs_value(query)
    if value is not None or sweep is None:
        selection = parse_runs(value, available, default)
        fell_back = selection.fell_back or (problem is not None and value is None)
        return selection._replace(sweep_problem=problem, fell_back=fell_back)
    present = tuple(name for name in members if name in available)
    pending = tuple(name for name in members if name not in available)
    if not present:
        return Selection(default, fell_back=True, sweep=sweep, pending=pending)
    return Selection(present, sweep=sweep, pending=pending)


def runs_search(names: Sequence[str], **params: Any) -> str:
    """The query string that restores ``names`` and ``params``: ``?runs=a,b&depth=0.5`` (see :mod:`app.query`)."""
    return search({RUNS_KEY: list(names), **params})


def link_message(
    selection: Selection,
    runs_dir: str,
    id: str,  # noqa: A002 - Dash's name for a component id
    tail: str | None = None,
) -> dbc.Alert | None:
    """An alert naming the refused parts of the link (and a sweep's runs not trained yet), or ``None`` when the
    whole link was understood.

    ``tail`` says what the page shows instead (default: the default runs, or the others)."""
    if not selection.refused and not selection.sweep_problem and not selection.pending:
        return None
    parts: list[Any] = []
    if selection.sweep_problem:
        parts.append(html.Li(selection.sweep_problem))
    if selection.invalid:
        parts.append(
            html.Li(
                [
                    "Not run names: ",
                    _quoted(selection.invalid),
                    " (a run name is letters, digits, '_', '.', '+' or '-').",
                ]
            )
        )
    if selection.missing:
        parts.append(html.Li(["No such runs in ", html.Code(str(runs_dir)), ": ", _quoted(selection.missing), "."]))
    if selection.pending:
        parts.append(
            html.Li([f"Not trained yet (sweep {selection.sweep}): ", _quoted(selection.pending), "."]),
        )
    if not selection.refused and not selection.sweep_problem:
        if tail is None:
            tail = (
                "None of its runs is trained yet: showing the default runs; train them on the Jobs page."
                if selection.fell_back
                else "Showing the ones trained so far."
            )
        return components.message(
            [html.Ul(parts, className="mb-1"), tail], kind="info", title="This sweep is not finished", id=id
        )
    if tail is None:
        tail = "Showing the default runs instead." if selection.fell_back else "Showing the others."
    title = "Some runs in this link were not found" if selection.refused else "The sweep in this link was not found"
    return components.message([html.Ul(parts, className="mb-1"), tail], kind="warning", title=title, id=id)


def _quoted(names: Sequence[str]) -> html.Span:
    pieces: list[Any] = []
    for index, name in enumerate(names):
        if index:
            pieces.append(", ")
        pieces.append(html.Code(name))
    return html.Span(pieces)


def run_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per run, by its place among ``names`` (pass all runs so colours survive a new choice)."""
    return {name: RUN_COLOURS[index % len(RUN_COLOURS)] for index, name in enumerate(names)}


def runs_stamp(runs_dir: str | Path, names: Sequence[str] | None = None) -> tuple:
    """What changes when a run changes (names present, their files' stamps); a memo of a page keys on it."""
    try:
        return RunStore(runs_dir).stamp(list(names) if names is not None else None)
    except OSError:
        return ()


def cache_stamp(settings: Any) -> Any:
    """Changes whenever the analysis cache of ``settings`` is written, so a memo sees new analyses."""
    from app.analysis_access import analyzer

    return analyzer(settings).cache.stamp()
