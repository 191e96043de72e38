"""The dashboard's settings, read from environment variables with defaults (12-factor).

==========================  ==========  =========================================================
variable                    default     what
==========================  ==========  =========================================================
``CNNCMP_RUNS_DIR``         ``runs``    the runs store: a folder, or a bucket URL (``s3://b/runs``)
``CNNCMP_S3_ENDPOINT_URL``  (empty)     an S3-compatible endpoint other than AWS (MinIO, moto)
``CNNCMP_CACHE_DIR``        ``cache``   local folder: analysis cache (without Redis) and job store
``CNNCMP_DATA_DIR``         ``data``    datasets (CIFAR-10, digits, synthetic)
``REDIS_URL``               (empty)     Redis for Celery jobs and the shared analysis cache
``CNNCMP_AUTH_USERS``       (empty)     ``user:password-hash,…``: HTTP basic auth (off when empty)
``HOST``                    127.0.0.1   address ``python -m app`` listens on
``PORT``                    8050        port ``python -m app`` (and the Procfile's web) listens on
``CNNCMP_LOG_LEVEL``        ``INFO``    DEBUG, INFO, WARNING, ERROR or CRITICAL
``CNNCMP_LOG_FORMAT``       ``text``    ``text`` (one line per record) or ``json`` (one object)
``CNNCMP_RESPONSE_CACHE_MB`` ``64``      memory per web process for repeated callback answers; 0: off
``CNNCMP_THEME_URL``        (empty)     a Bootstrap stylesheet URL; empty: the one shipped in
                                        ``app/assets``
==========================  ==========  =========================================================
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from analysis.cache import redacted_url

#: Where :func:`app.main.create_app` keeps the settings on the Flask server (``server.config[...]``).
SETTINGS_KEY = "CNNCMP_SETTINGS"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """An environment variable holds a value the dashboard cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the dashboard reads from its environment; immutable once loaded."""

    runs_dir: str = "runs"  # a folder or a bucket URL: only analysis.runs.storage opens it
    cache_dir: Path = Path("cache")
    data_dir: Path = Path("data")
    redis_url: str = ""
    auth_users: str = ""
    host: str = "127.0.0.1"
    port: int = 8050
    log_level: str = "INFO"
    log_format: str = "text"
    response_cache_mb: int = 64
    theme_url: str = ""

    def with_runs_dir(self, runs_dir: str | Path) -> "Settings":
        return replace(self, runs_dir=str(runs_dir))

    @property
    def analysis_cache(self) -> str:
        """Where analysis results are shared: Redis when configured (every machine sees it), else the cache folder."""
        return self.redis_url or str(self.cache_dir)

    def __repr__(self) -> str:  # never print password hashes or Redis passwords into logs
        redis = redacted_url(self.redis_url)
        return (f"Settings(runs_dir={self.runs_dir!r}, cache_dir={str(self.cache_dir)!r}, "
                f"data_dir={str(self.data_dir)!r}, redis_url={redis!r}, auth={'on' if self.auth_users else 'off'}, "
                f"host={self.host!r}, port={self.port})")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``); a bad PORT or log level raises :class:`SettingsError`."""
    env = os.environ if environ is None else environ

    def text(name: str, default: str) -> str:
        value = env.get(name, "").strip()
        return value or default

    port_text = text("PORT", "8050")
    try:
        port = int(port_text)
    except ValueError:
        raise SettingsError(f"PORT must be a whole number, got {port_text!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"PORT must be between 1 and 65535, got {port}")

    log_level = text("CNNCMP_LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"CNNCMP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    log_format = text("CNNCMP_LOG_FORMAT", "text").lower()
    if log_format not in LOG_FORMATS:
        raise SettingsError(f"CNNCMP_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")

    redis_url = text("REDIS_URL", "")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url[:40]!r}")

    cache_mb_text = text("CNNCMP_RESPONSE_CACHE_MB", "64")
    try:
        response_cache_mb = int(cache_mb_text)
    except ValueError:
        raise SettingsError(f"CNNCMP_RESPONSE_CACHE_MB must be a whole number of megabytes, got {cache_mb_text!r}") from None
    if response_cache_mb < 0:
        raise SettingsError(f"CNNCMP_RESPONSE_CACHE_MB must be 0 (off) or more, got {response_cache_mb}")

    return Settings(
        runs_dir=text("CNNCMP_RUNS_DIR", "runs"),
        response_cache_mb=response_cache_mb,
        redis_url=redis_url,
        auth_users=text("CNNCMP_AUTH_USERS", ""),
        log_format=log_format,
        cache_dir=Path(text("CNNCMP_CACHE_DIR", "cache")),
        data_dir=Path(text("CNNCMP_DATA_DIR", "data")),
        host=text("HOST", "127.0.0.1"),
        port=port,
        log_level=log_level,
        theme_url=text("CNNCMP_THEME_URL", ""),
    )


def current_settings() -> Settings:
    """The settings of the app serving the current request; outside a request, those of the environment.

    Pages are modules shared by every app in the process (Dash's page registry is global), so
    they must not capture settings at import time: a test app on a temporary runs folder and the
    module-level app in :mod:`app.main` live side by side.
    """
    try:
        import flask

        if flask.has_app_context():
            settings = flask.current_app.config.get(SETTINGS_KEY)
            if isinstance(settings, Settings):
                return settings
    except ImportError:  # pragma: no cover - flask comes with dash
        pass
    return load_settings()


class JsonFormatter(logging.Formatter):
    """One JSON object per record (time, level, logger, message, process, exception): what log collectors parse."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(), "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Root logging at the configured level, one line per record (text or JSON)."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_cnncmp", False)]:
        root.removeHandler(old)
    handler._cnncmp = True  # type: ignore[attr-defined]  # ours, replaced when logging is configured again
    root.addHandler(handler)
    root.setLevel(getattr(logging, settings.log_level, logging.INFO))
