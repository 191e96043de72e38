"""Every environment variable the project reads: its name, default and meaning, read in this one place.

The analysis layer reads where things live (:func:`load_locations`); the dashboard's own settings
(:mod:`app.config`) read the serving variables through :func:`read` too, so :data:`VARIABLES` is
the whole list. The README's table is checked against it by a test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use; the message names it."""


class Variable(NamedTuple):
    """One environment variable: its name, its default when unset or blank, and what it sets."""

    name: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    # Where things live (the analysis layer and the app).
    Variable("CNNCMP_RUNS_DIR", "runs", "where runs live: a folder, or an S3-compatible bucket URL s3://bucket/prefix"),
    Variable("CNNCMP_S3_ENDPOINT_URL", "", "endpoint of a non-AWS S3-compatible store (MinIO, Ceph, R2)"),
    Variable("CNNCMP_CACHE_DIR", "cache", "local folder: the analysis cache (without Redis) and the local job store"),
    Variable("CNNCMP_DATA_DIR", "data", "folder holding the datasets (each machine has its own)"),
    Variable("REDIS_URL", "", "Redis: Celery broker and results for jobs, stop requests, the shared analysis cache"),
    # Serving the dashboard (read by app.config).
    Variable("CNNCMP_AUTH_USERS", "", "user:hash,user:hash: HTTP basic auth on every path but /health"),
    Variable("HOST", "127.0.0.1", "where python -m app listens"),
    Variable("PORT", "8050", "the port python -m app (and the Procfile's web) listens on"),
    Variable("CNNCMP_LOG_LEVEL", "INFO", "log level"),
    Variable("CNNCMP_LOG_FORMAT", "text", "text, or json (one object per line, for a log collector)"),
    Variable(
        "CNNCMP_RESPONSE_CACHE_MB", "64", "memory per web process for answers to repeated callback requests; 0: off"
    ),
    Variable("CNNCMP_THEME_URL", "", "a Bootstrap stylesheet URL; empty: the one shipped in app/assets"),
)
_DEFAULTS = {variable.name: variable.default for variable in VARIABLES}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def read(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of ``name`` with surrounding blanks removed, or its default when unset or blank."""
    if name not in _DEFAULTS:
        raise KeyError(f"{name} is not one of the project's environment variables (analysis.settings.VARIABLES)")
    env = os.environ if environ is None else environ
    return env.get(name, "").strip() or _DEFAULTS[name]


@dataclass(frozen=True)
class Locations:
    """Where runs, caches and data live, and the shared Redis (empty: none)."""

    runs_dir: str = "runs"  # a folder or a bucket URL: only analysis.runs.storage opens it
    cache_dir: Path = Path("cache")
    data_dir: Path = Path("data")
    redis_url: str = ""
    s3_endpoint_url: str = ""

    @property
    def analysis_cache(self) -> str:
        """Where analysis results are shared: Redis when configured (every machine sees it), else the cache folder."""
        return self.redis_url or str(self.cache_dir)


def load_locations(environ: Mapping[str, str] | None = None) -> Locations:
    """The locations from ``environ`` (default ``os.environ``); a malformed ``REDIS_URL`` raises SettingsError."""
    redis_url = read("REDIS_URL", environ)
    if redis_url and not redis_url.startswith(REDIS_SCHEMES):
        raise SettingsError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url[:40]!r}")
    return Locations(
        runs_dir=read("CNNCMP_RUNS_DIR", environ),
        cache_dir=Path(read("CNNCMP_CACHE_DIR", environ)),
        data_dir=Path(read("CNNCMP_DATA_DIR", environ)),
        redis_url=redis_url,
        s3_endpoint_url=read("CNNCMP_S3_ENDPOINT_URL", environ),
    )
