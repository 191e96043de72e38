"""Screenshots of every page at 1600×1000, as a projector shows them, into docs/screenshots/.

Usage: python scripts/screenshots.py --runs runs --cache cache [--out docs/screenshots] [--page review ...]
Each page is opened in the same browser, and the shot is taken once nothing is loading.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.headless import ROOT, browser, free_port, start_server

PAGES = {
    "review": "/",
    "models": "/models",
    "redundancy": "/redundancy",
    "edges": "/edges",
    "similarity": "/similarity",
    "explorer": "/explorer",
    "evolution": "/evolution",
    "jobs": "/jobs",
}
LOADING_JS = "return document.querySelectorAll('[data-dash-is-loading=\"true\"]').length"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--page", action="append", choices=sorted(PAGES), help="only these pages (repeatable)")
    parser.add_argument("--query", default="", help="a query string added to every page's address")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(args.runs, args.cache, port)
    profile = tempfile.mkdtemp(prefix="shots-chrome-")
    driver = browser(profile)
    try:
        for name in args.page or PAGES:
            driver.get(f"http://127.0.0.1:{port}{PAGES[name]}{args.query}")
            deadline = time.monotonic() + 60
            time.sleep(1.0)
            while driver.execute_script(LOADING_JS) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.5)  # plotly's transitions
            target = out / f"{name}.png"
            driver.save_screenshot(str(target))
            print(target)
    finally:
        driver.quit()
        server.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
