"""The dashboard served on loopback and a headless Chromium at projector size, for screenshots and benchmarks.

Only 127.0.0.1 is contacted; callers stop the server (``server.kill()``) and quit the browser.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (1600, 1000)  # a shared screen in a meeting room


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(runs: str, cache: str, port: int, timeout_s: float = 120) -> subprocess.Popen:
    """``python -m app`` over ``runs`` and ``cache`` (embedded default: diskcache, local jobs), once it answers."""
    import requests

    env = {
        **os.environ,
        "CNNCMP_RUNS_DIR": str(runs),
        "CNNCMP_CACHE_DIR": str(cache),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "CNNCMP_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                return server
        except requests.RequestException:
            time.sleep(0.3)
    server.kill()
    raise SystemExit(f"the dashboard did not start within {timeout_s:.0f} s")


def browser(profile: str, window: tuple[int, int] = WINDOW) -> Any:
    """Headless Chromium with a fresh profile and no background connections (this network is closed)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={window[0]},{window[1]}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chrome:
        options.binary_location = chrome
    driver = webdriver.Chrome(options=options)
    # --window-size counts the window, not the page: pin the viewport itself to what a projector shows.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False},
    )
    return driver
