"""The skeleton every page shares, written once: its layout frame and its guarded callbacks.

A page module holds its layout and thin callbacks. :func:`page_layout` does what every layout
did by hand — read the runs, say when there are none, build the page's parts, and show one failure
message instead of a 500 — and :func:`guarded_callback` does the same for callbacks: a result that
is not cached (or a run that cannot be read) becomes a message in the page, anything else is
logged with its inputs and becomes one failure message. Figures are built in :mod:`app.figures`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import dash
from dash import Output, html, no_update
from dash.exceptions import PreventUpdate

from analysis.lru import LRU
from analysis.pipeline import RunAnalyzer
from app import components
from app.analysis_access import PAGE_ERRORS, analyzer
from app.config import Settings, current_settings
from app.selection import cache_stamp, read_runs, runs_stamp

log = logging.getLogger(__name__)


class PageContext(NamedTuple):
    """What a page's parts are built from: the settings of the app serving the request, every run, the analyzer."""

    settings: Settings
    runs: list[dict[str, Any]]
    analyzer: RunAnalyzer


def page_context() -> PageContext:
    """The context of the request being served (read afresh: a run may have appeared)."""
    settings = current_settings()
    return PageContext(settings, read_runs(settings.runs_dir), analyzer(settings))


def page_layout(
    name: str,
    heading: Any,
    build: Callable[[PageContext], Sequence[Any]],
    query: Any = None,
    needs_runs: bool = True,
) -> html.Div:
    """``heading`` then what ``build(context)`` returns; the no-runs message or one failure message instead.

    ``name`` prefixes the ids of the messages (``<name>-empty``, ``<name>-error``) and names the page
    in the log; ``query`` is logged with a failure, so the link that broke the page can be retried.
    A page that works without runs (the Jobs page trains the first ones) passes ``needs_runs=False``.
    """
    try:
        context = page_context()
        if needs_runs and not context.runs:
            return html.Div([heading, components.no_runs_message(context.settings.runs_dir, id=f"{name}-empty")])
        return html.Div([heading, *build(context)])
    except Exception as exc:
        log.exception("%s page failed for %r", name, query)
        return components.page_failure(heading, exc, id=f"{name}-error")


def _outputs(dependencies: Sequence[Any]) -> list[Any]:
    outputs: list[Any] = []
    for dependency in dependencies:
        if isinstance(dependency, Output):
            outputs.append(dependency)
        elif isinstance(dependency, (list, tuple)) and dependency and isinstance(dependency[0], Output):
            outputs.extend(dependency)
    return outputs


def guarded_callback(
    app: dash.Dash, *dependencies: Any, what: str, message: int | None = None, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.callback(*dependencies, **kwargs)`` whose function never answers a 500.

    On failure every output is left as it is, except output number ``message`` (when given), which
    gets the message: a result missing from the cache or a run that cannot be read says so (with
    the Jobs page link), anything else is logged with the callback's inputs and says that ``what``
    could not be built. Without a ``message`` output the update is dropped. ``PreventUpdate``
    passes through.
    """
    count = len(_outputs(dependencies))

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def guarded(*args: Any) -> Any:
            try:
                return function(*args)
            except PreventUpdate:
                raise
            except PAGE_ERRORS as exc:
                answer = components.problem_message(exc)
            except Exception:
                log.exception("%s failed for %r", what, args)
                answer = components.failure_message(what)
            if message is None:
                raise PreventUpdate
            if count == 1:
                return answer
            return tuple(answer if index == message else no_update for index in range(count))

        return app.callback(*dependencies, **kwargs)(guarded)

    return decorate


def drawn(memo: LRU, settings: Settings, names: Sequence[str] | None, inputs: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept in ``memo`` while ``inputs``, the runs ``names``' files (``None``: every run's, for
    parts that show every run, as pickers and colours do) and the analysis cache are unchanged: the one memo
    key of every page's drawn parts (the app's settings are part of it: tests serve several apps at once)."""
    key = (
        str(settings.runs_dir),
        settings.analysis_cache,
        None if names is None else tuple(names),
        repr(inputs),
        runs_stamp(settings.runs_dir, None if names is None else list(names)),
        cache_stamp(settings),
    )
    return memo.get_or_compute(key, compute)
