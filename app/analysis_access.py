"""The app's one way to reach the analysis layer: a cached-only RunAnalyzer per settings.

Pages never train or run a full analysis inside a callback: a result missing from the cache
raises ``NotAnalyzedError``, which pages turn into a message offering the Jobs page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analysis.cache import AnalysisCache, CacheUnavailableError
from analysis.lru import LRU
from analysis.pipeline import AnalysisError, AnalysisParams, NotAnalyzedError, RunAnalyzer
from analysis.runs.storage import StorageError
from analysis.runs.store import BrokenRunError, RunNameError, RunNotFoundError, RunStore
from app.config import Settings, current_settings

# Errors a page shows as a message (never a 500).
PAGE_ERRORS = (
    NotAnalyzedError,
    AnalysisError,
    BrokenRunError,
    RunNameError,
    RunNotFoundError,
    ValueError,
    CacheUnavailableError,
    StorageError,
)


# One analyzer per (runs, cache, data) in the process: each keeps its loaded networks and decoded results.
_ANALYZERS: LRU[RunAnalyzer] = LRU(max_items=8)


def analyzer(settings: Settings | None = None) -> RunAnalyzer:
    """The cached-only analyzer of the app serving this request (shared by its callbacks)."""
    settings = settings or current_settings()
    key = (str(settings.runs_dir), settings.analysis_cache, str(settings.data_dir))
    return _ANALYZERS.get_or_compute(
        key,
        lambda: RunAnalyzer(
            RunStore(key[0]), AnalysisCache(key[1]), AnalysisParams(), data_dir=key[2], allow_compute=False
        ),
    )


def class_errors(
    names: Sequence[str], source: RunAnalyzer | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per run: its cached test statistics (class names, per-class error, confusion); and why others have none.

    Read through ``source`` (default: the analyzer of the app serving the request)."""
    source = source or analyzer()
    found: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for name in names:
        try:
            stats = source.statistics(name)
        except PAGE_ERRORS as exc:
            problems[name] = str(exc)
            continue
        keys = ("class_names", "per_class_error", "test_confusion", "dataset_description", "n_images")
        found[name] = {key: stats[key] for key in keys}
    return found, problems
