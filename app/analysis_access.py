"""The app's one way to reach the analysis layer: a cached-only RunAnalyzer per settings.

Pages never train or run a full analysis inside a callback: a result missing from the cache
raises ``NotAnalyzedError``, which pages turn into a message offering the Jobs page.
"""

from __future__ import annotations

import functools

from analysis.cache import AnalysisCache, CacheUnavailableError
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


@functools.lru_cache(maxsize=8)
def _analyzer(runs_dir: str, cache: str, data_dir: str) -> RunAnalyzer:
    return RunAnalyzer(
        RunStore(runs_dir), AnalysisCache(cache), AnalysisParams(), data_dir=data_dir, allow_compute=False
    )


def analyzer(settings: Settings | None = None) -> RunAnalyzer:
    """The cached-only analyzer of the app serving this request (shared by its callbacks)."""
    settings = settings or current_settings()
    return _analyzer(str(settings.runs_dir), settings.analysis_cache, str(settings.data_dir))
