"""The one in-memory LRU: bounds by count and by bytes, recency, and get-or-compute."""

from __future__ import annotations

import threading

import pytest

from analysis.lru import LRU


def test_count_bound_drops_the_least_recently_used():
    memo, calls = LRU(max_items=2), []
    for key in ("a", "a", "b", "c", "a"):
        memo.get_or_compute(key, lambda key=key: calls.append(key) or key.upper())
    assert calls == ["a", "b", "c", "a"]  # "a" was evicted by "b" and "c", then computed again
    assert len(memo) == 2 and "a" in memo and "c" in memo and "b" not in memo
    assert (memo.hits, memo.misses) == (1, 4)


def test_byte_bound_and_a_value_too_large_alone():
    memo = LRU(max_bytes=10, size=len)
    memo.put("a", b"12345")
    memo.put("b", b"12345")
    memo.get("a")  # now "b" is the least recently used
    memo.put("c", b"1")
    assert "b" not in memo and memo.get("a") == b"12345" and memo.bytes_used == 6
    memo.put("huge", b"x" * 11)
    assert "huge" not in memo and memo.bytes_used == 6
    memo.put("a", b"1")  # replacing an entry counts its new size only
    assert memo.bytes_used == 2


def test_both_bounds_and_bad_configurations():
    memo = LRU(max_items=3, max_bytes=100, size=len)
    for key in "abcd":
        memo.put(key, b"x")
    assert len(memo) == 3 and "a" not in memo
    with pytest.raises(ValueError, match="size function"):
        LRU(max_bytes=1)
    with pytest.raises(ValueError, match="bound"):
        LRU()


def test_threads_share_it_safely():
    memo = LRU(max_items=50)

    def work(offset: int) -> None:
        for i in range(2000):
            memo.get_or_compute((offset + i) % 80, lambda i=i: i)

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(memo) == 50 and memo.hits + memo.misses == 8000
