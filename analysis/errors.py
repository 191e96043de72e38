"""The analysis layer's own errors, in a module of their own so the review and the pipeline both import them
without importing each other."""

from __future__ import annotations

__all__ = ["AnalysisError", "NotAnalyzedError"]


class AnalysisError(ValueError):
    """A run that cannot be analysed (no weights, no dataset, …); the message says why."""


class NotAnalyzedError(LookupError):
    """A result that is not in the cache while the analyzer may not compute (the dashboard's mode)."""

    def __init__(self, run: str, analysis: str) -> None:
        super().__init__(
            f"run {run!r} is not analysed yet ({analysis}): run "
            f"`python -m analysis analyze --run {run}` or start the analysis on the Jobs page"
        )
        self.run = run
        self.analysis = analysis
