"""Helpers shared by the browser tests."""

from __future__ import annotations

import time
from typing import Callable

from selenium.common.exceptions import StaleElementReferenceException


def wait_until(condition: Callable[[], object], timeout: float = 15, message: str = "condition") -> None:
    """Poll ``condition`` until it is true; an element replaced by a re-render while read counts as 'not yet'."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except StaleElementReferenceException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.1)
