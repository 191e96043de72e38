"""The project's one in-memory least-recently-used store, bounded by entry count, bytes, or both.

Every memory cache (decoded analysis results, loaded networks, checkpoint digests, a page's
drawn figures, encoded callback answers, run-file checks) is an :class:`LRU` with its own
bounds; ``docs/caching.md`` lists them with their keys and what makes an entry stale. Keys must
name everything a value depends on (a file's stamp, a checkpoint's hash), so an entry is never
invalidated in place: a changed input is a new key, and the old entry ages out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")
_MISSING = object()


class LRU(Generic[V]):
    """A thread-safe LRU map of at most ``max_items`` entries and ``max_bytes`` bytes (None: no such bound).

    ``size`` measures a value in bytes (required with ``max_bytes``); a value larger than
    ``max_bytes`` alone is not kept. ``get_or_compute`` runs ``compute`` outside the lock, so two
    threads asking for the same missing key may both compute it; the values are equal by
    construction (same key, same inputs) and the second write wins.
    """

    def __init__(
        self,
        max_items: int | None = None,
        max_bytes: int | None = None,
        size: Callable[[V], int] | None = None,
    ) -> None:
        if max_bytes is not None and size is None:
            raise ValueError("an LRU bounded in bytes needs a size function")
        if max_items is None and max_bytes is None:
            raise ValueError("an LRU needs a bound: max_items, max_bytes or both")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size = size
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    @property
    def bytes_used(self) -> int:
        return self._used

    def get(self, key: Hashable, default: Any = None) -> V | Any:
        """The value under ``key`` (now the most recently used), or ``default``; counts a hit or a miss."""
        with self._lock:
            found = self._items.get(key, _MISSING)
            if found is _MISSING:
                self.misses += 1
                return default
            self._items.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used entries beyond the bounds."""
        size = self._size(value) if self._size is not None else 0
        if self.max_bytes is not None and size > self.max_bytes:
            return
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None:
                self._used -= previous[1]
            self._items[key] = (value, size)
            self._used += size
            while self._items and (
                (self.max_items is not None and len(self._items) > self.max_items)
                or (self.max_bytes is not None and self._used > self.max_bytes)
            ):
                _key, (_value, dropped) = self._items.popitem(last=False)
                self._used -= dropped

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value under ``key``, computed by ``compute()`` and kept when absent."""
        found = self.get(key, _MISSING)
        if found is not _MISSING:
            return found
        value = compute()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0
