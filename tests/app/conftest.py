"""Browser set-up for the ``dash_duo`` tests: headless Chromium, found on PATH, else the tests skip.

Dash's pytest plugin (dash[testing]) builds its Chrome driver from what the ``pytest_setup_options``
hook returns (it takes the first result) and then adds its own download preferences and flags;
it starts ``webdriver.Chrome(options=...)``, and selenium 4.2 runs the ``chromedriver`` it finds
on PATH (Debian's ``chromium-driver`` puts it in /usr/bin). Dash's own ``--headless`` option
would add the legacy ``--headless`` flag; ``--headless=new`` here is the current headless mode.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest
from dash.testing.application_runners import ThreadedRunner

CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1400,1000",
)


def find_chrome() -> str | None:
    """``$DASH_TEST_CHROMEPATH`` (the variable Dash itself reads), else the first Chromium/Chrome on PATH."""
    configured = os.environ.get("DASH_TEST_CHROMEPATH")
    if configured:
        return configured if os.path.isfile(configured) else None
    for name in CHROME_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROME = find_chrome()
CHROMEDRIVER = shutil.which("chromedriver")
BROWSER_MISSING = (
    None
    if CHROME and CHROMEDRIVER
    else "browser tests need Chromium and chromedriver on PATH (missing: "
    + ", ".join(n for n, p in (("chromium", CHROME), ("chromedriver", CHROMEDRIVER)) if not p)
    + "); install them with scripts/ensure_test_packages.sh"
)


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Dash's runner counts ports up from 58050 in every process, so two test runs on one machine (a
# developer's and CI's, or two worktrees) would serve on each other's ports; a free port each time avoids it.
_start_server = ThreadedRunner.start


def _start_on_a_free_port(self, app, start_timeout=3, **kwargs):
    kwargs.setdefault("port", free_port())
    return _start_server(self, app, start_timeout, **kwargs)


ThreadedRunner.start = _start_on_a_free_port


def pytest_setup_options():
    """Chrome options for every ``dash_duo`` / ``dash_br`` browser (a hook of Dash's testing plugin)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    if CHROME:
        options.binary_location = CHROME
    return options


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with the reason, the tests that drive a browser when there is none; never pass them silently."""
    if not BROWSER_MISSING:
        return
    skip = pytest.mark.skip(reason=BROWSER_MISSING)
    for item in items:
        if {"dash_duo", "dash_br"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def analysed_source(analysed_runs):
    """A cached-only analyzer over the analysed quick runs (what the pages read)."""
    from analysis.cache import AnalysisCache
    from analysis.pipeline import RunAnalyzer
    from analysis.runs.store import RunStore

    runs_dir, cache_dir = analysed_runs
    return RunAnalyzer(RunStore(runs_dir), AnalysisCache(cache_dir), allow_compute=False)


@pytest.fixture
def analysed_app(analysed_runs):
    """The dashboard over the analysed quick runs."""
    from app.config import Settings
    from app.main import create_app

    runs_dir, cache_dir = analysed_runs
    return create_app(Settings(runs_dir=runs_dir, cache_dir=cache_dir))


@pytest.fixture
def own_cache_settings(analysed_runs, tmp_path):
    """Settings over the analysed quick runs with this test's own copy of the cache (for tests that write to it)."""
    from app.config import Settings

    runs_dir, cache_dir = analysed_runs
    return Settings(runs_dir=runs_dir, cache_dir=shutil.copytree(cache_dir, tmp_path / "cache"))


@pytest.fixture
def own_cache_app(own_cache_settings):
    """The dashboard over the analysed quick runs, with its own copy of the cache."""
    from app.main import create_app

    return create_app(own_cache_settings)
