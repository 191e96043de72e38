"""The dashboard's settings: where things live (:mod:`analysis.settings`) plus the serving variables.

Every variable, its default and meaning are listed once, in :data:`analysis.settings.VARIABLES`
(and the README's table, which a test checks against it); this module reads the serving ones
through :func:`analysis.settings.read` and checks their values.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from analysis.cache import redacted_url
from analysis.settings import SettingsError, load_locations, read

#: Where :func:`app.main.create_app` keeps the settings on the Flask server (``server.config[...]``).
SETTINGS_KEY = "CNNCMP_SETTINGS"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


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

    @property
    def analysis_cache(self) -> str:
        """Where analysis results are shared: Redis when configured (every machine sees it), else the cache folder."""
        return self.redis_url or str(self.cache_dir)

    def __repr__(self) -> str:  # never print password hashes or Redis passwords into logs
        redis = redacted_url(self.redis_url)
        return (
            f"Settings(runs_dir={self.runs_dir!r}, cache_dir={str(self.cache_dir)!r}, "
            f"data_dir={str(self.data_dir)!r}, redis_url={redis!r}, auth={'on' if self.auth_users else 'off'}, "
            f"host={self.host!r}, port={self.port})"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``); a bad PORT or log level raises :class:`SettingsError`."""
    locations = load_locations(environ)

    port_text = read("PORT", environ)
    try:
        port = int(port_text)
    except ValueError:
        raise SettingsError(f"PORT must be a whole number, got {port_text!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"PORT must be between 1 and 65535, got {port}")

    log_level = read("CNNCMP_LOG_LEVEL", environ).upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"CNNCMP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    log_format = read("CNNCMP_LOG_FORMAT", environ).lower()
    if log_format not in LOG_FORMATS:
        raise SettingsError(f"CNNCMP_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")

    cache_mb_text = read("CNNCMP_RESPONSE_CACHE_MB", environ)
    try:
        response_cache_mb = int(cache_mb_text)
    except ValueError:
        raise SettingsError(
            f"CNNCMP_RESPONSE_CACHE_MB must be a whole number of megabytes, got {cache_mb_text!r}"
        ) from None
    if response_cache_mb < 0:
        raise SettingsError(f"CNNCMP_RESPONSE_CACHE_MB must be 0 (off) or more, got {response_cache_mb}")

    return Settings(
        runs_dir=locations.runs_dir,
        cache_dir=locations.cache_dir,
        data_dir=locations.data_dir,
        redis_url=locations.redis_url,
        response_cache_mb=response_cache_mb,
        auth_users=read("CNNCMP_AUTH_USERS", environ),
        log_format=log_format,
        host=read("HOST", environ),
        port=port,
        log_level=log_level,
        theme_url=read("CNNCMP_THEME_URL", environ),
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
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
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
