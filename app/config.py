"""The dashboard's settings, read from environment variables with defaults (12-factor).

=====================  ==========  ==============================================
variable               default     what
=====================  ==========  ==============================================
``CNNCMP_RUNS_DIR``    ``runs``    the runs folder the pages read
``CNNCMP_CACHE_DIR``   ``cache``   cache of analysis results and background jobs
``CNNCMP_DATA_DIR``    ``data``    datasets (CIFAR-10, digits, synthetic)
``HOST``               127.0.0.1   address ``python -m app`` listens on
``PORT``               8050        port ``python -m app`` listens on
``CNNCMP_LOG_LEVEL``   ``INFO``    DEBUG, INFO, WARNING, ERROR or CRITICAL
``CNNCMP_THEME_URL``   (empty)     a Bootstrap stylesheet URL; empty: the one
                                   shipped in ``app/assets``, else the CDN's
=====================  ==========  ==============================================
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

#: Where :func:`app.main.create_app` keeps the settings on the Flask server (``server.config[...]``).
SETTINGS_KEY = "CNNCMP_SETTINGS"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """An environment variable holds a value the dashboard cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the dashboard reads from its environment; immutable once loaded."""

    runs_dir: Path = Path("runs")
    cache_dir: Path = Path("cache")
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8050
    log_level: str = "INFO"
    theme_url: str = ""

    def with_runs_dir(self, runs_dir: str | Path) -> "Settings":
        return replace(self, runs_dir=Path(runs_dir))


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

    return Settings(
        runs_dir=Path(text("CNNCMP_RUNS_DIR", "runs")),
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


def configure_logging(settings: Settings) -> None:
    """Root logging at the configured level, with one line per record."""
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
