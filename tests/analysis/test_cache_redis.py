"""The analysis cache on a real Redis: shared entries, corrupt entries dropped, an outage survived."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.cache import AnalysisCache, CacheUnavailableError, RedisStore, cache_key


def test_results_are_shared_through_redis(redis_server):
    first, second = AnalysisCache(redis_server.url), AnalysisCache(redis_server.url)
    before = second.stamp()
    computed = first.get_or_compute("h1", "demo", {"k": 1}, lambda: {"a": np.arange(4), "n": 3})
    assert first.misses == 1 and computed["n"] == 3
    again = second.get_or_compute("h1", "demo", {"k": 1}, lambda: pytest.fail("recomputed"))
    assert np.array_equal(again["a"], np.arange(4)) and second.hits == 1
    assert second.stamp() != before, "a write must change the stamp pages memoise on"


@pytest.mark.parametrize("blob", [b"garbage", b"CNNCMP-RESULT\x01" + b"\x00" * 40, b""])
def test_corrupt_or_foreign_entries_are_dropped_and_recomputed(redis_server, blob):
    cache = AnalysisCache(redis_server.url)
    key = cache_key("h2", "demo", {"blob": blob.hex()})
    RedisStore(redis_server.url).set(key, blob)
    result = cache.get_or_compute("h2", "demo", {"blob": blob.hex()}, lambda: {"x": np.ones(2)})
    assert cache.misses == 1 and np.array_equal(result["x"], np.ones(2))
    assert AnalysisCache(redis_server.url).get(key) is not None, "the recomputed entry replaced the bad one"


def test_an_outage_keeps_what_is_in_memory_and_recovers_without_restart(tmp_path):
    from tests.services import RedisServer

    server = RedisServer(tmp_path).start()
    try:
        cache = AnalysisCache(server.url)
        cache.get_or_compute("h3", "demo", {}, lambda: {"x": np.zeros(3)})
        assert cache.get(cache_key("h3", "demo", {})) is not None  # now in memory too
        server.stop()
        assert cache.get_cached("h3", "demo", {}) is not None, "a result in memory must still serve"
        with pytest.raises(CacheUnavailableError, match=f"127.0.0.1:{server.port}.*unreachable"):
            cache.get_cached("other", "demo", {})
        assert cache.stamp() is None
        server.start()  # same port, empty memory: the client reconnects by itself
        assert cache.get_cached("other", "demo", {}) is None
        cache.get_or_compute("h4", "demo", {}, lambda: {"y": np.ones(1)})
        assert cache.contains("h4", "demo", {})
    finally:
        server.stop()
