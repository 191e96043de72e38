"""Answer a repeated callback request from memory: same request, same runs, same analysis cache, same answer.

In a review meeting everyone opens the same links, and every view of a page makes Dash render its
layout and figures again (plotly validation and JSON encoding: most of a warm request's time).
Callbacks of the analysis pages are pure functions of their request body, the runs (their files'
stamps) and the analysis cache (its write stamp), so the encoded response is keyed on exactly
those three and kept in a bounded in-memory LRU per process.

Not cached: the Jobs page (its callbacks start and stop jobs and its layout carries a fresh job
token), background callbacks, large bodies (uploaded images) and any answer but a 200.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import flask

from analysis.lru import LRU

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # larger bodies carry uploads: never the same twice
MAX_ENTRY_BYTES = 8 * 2**20  # one response
UNCACHED_ID_PREFIXES = ("jobs-",)
UNCACHED_PATHS = ("/jobs",)
EXTENSION = "cnncmp_response_cache"


class ResponseCache:
    """A bounded LRU of encoded callback responses; ``stamp()`` names the state of runs and cache."""

    def __init__(self, stamp: Callable[[], Any], max_bytes: int = 64 * 2**20) -> None:
        self.stamp = stamp
        self.max_bytes = max_bytes
        self._items: LRU[bytes] = LRU(max_bytes=max_bytes, size=len)

    @property
    def hits(self) -> int:
        return self._items.hits

    @property
    def misses(self) -> int:
        return self._items.misses

    def key(self, body: bytes) -> str | None:
        """The cache key of a callback request body, or None when it must not be cached."""
        if len(body) > MAX_BODY_BYTES:
            return None
        try:
            request = json.loads(body)
        except ValueError:
            return None
        if not isinstance(request, dict) or not cacheable(request):
            return None
        identity = hashlib.sha256(body)
        identity.update(repr(self.stamp()).encode())
        return identity.hexdigest()

    def get(self, key: str) -> bytes | None:
        return self._items.get(key)

    def put(self, key: str, data: bytes) -> None:
        if len(data) <= MAX_ENTRY_BYTES:
            self._items.put(key, data)

    def install(self, server: flask.Flask, update_path: str) -> None:
        """Serve hits before Dash dispatches; keep Dash's 200 answers after.

        ``server.extensions[EXTENSION]`` is this cache.
        """
        server.extensions[EXTENSION] = self

        @server.before_request
        def answer_from_memory() -> flask.Response | None:
            request = flask.request
            if request.method != "POST" or request.path != update_path:
                return None
            try:
                key = self.key(request.get_data(cache=True))
            except Exception:
                log.debug("response cache skipped", exc_info=True)
                return None
            if key is None:
                return None
            flask.g.response_cache_key = key
            data = self.get(key)
            if data is None:
                return None
            return flask.Response(data, status=200, mimetype="application/json")

        @server.after_request
        def remember(response: flask.Response) -> flask.Response:
            key = flask.g.pop("response_cache_key", None)
            if key and response.status_code == 200 and not response.direct_passthrough:
                self.put(key, response.get_data())
            return response


def cacheable(request: dict[str, Any]) -> bool:
    """Whether a callback request may be answered from memory (not the Jobs page, not a background job)."""
    output = request.get("output")
    if not isinstance(output, str) or any(prefix in output for prefix in UNCACHED_ID_PREFIXES):
        return False
    for item in request.get("inputs") or []:
        if not isinstance(item, dict):
            return False
        if item.get("id") == "_pages_location" and item.get("property") == "pathname":
            path = item.get("value")
            if not isinstance(path, str) or path.rstrip("/").endswith(UNCACHED_PATHS):
                return False
    return True
