"""The analysis cache: results keyed by checkpoint content, analysis, parameters and schema version.

Values are stored as self-checking bytes (a header, a SHA-256 of the payload, then an ``.npz`` of
numpy arrays plus one JSON document), never as pickled objects: a corrupt, truncated or foreign
entry fails its check and is dropped and recomputed, never served. diskcache (SQLite) makes the
store safe for several processes sharing one folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .lru import LRU
from .settings import load_locations

SCHEMA_VERSION = 3
_MAGIC = b"CNNCMP-RESULT\x01"
_DIGEST_SIZE = 32
log = logging.getLogger(__name__)

Result = dict[str, Any]  # numpy arrays and JSON-able values


class CorruptEntryError(ValueError):
    """A cache value that fails its integrity check or cannot be decoded."""


def default_cache_location() -> str:
    """Where analysis results are shared: ``$REDIS_URL`` when set (every machine sees it), else the cache folder."""
    return load_locations().analysis_cache


def pack_result(result: Result) -> bytes:
    """Encode arrays into an npz and everything else into one JSON document, behind a checksum."""
    arrays = {k: v for k, v in result.items() if isinstance(v, np.ndarray)}
    if any(v.dtype == object for v in arrays.values()):
        raise TypeError("object arrays cannot be cached (they would need pickle)")
    meta = {k: v for k, v in result.items() if k not in arrays}
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    payload = buffer.getvalue()
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def unpack_result(blob: bytes) -> Result:
    """Decode what :func:`pack_result` wrote; raise CorruptEntryError for anything else."""
    if not isinstance(blob, bytes) or not blob.startswith(_MAGIC):
        raise CorruptEntryError("not a result entry (bad header)")
    digest = blob[len(_MAGIC) : len(_MAGIC) + _DIGEST_SIZE]
    payload = blob[len(_MAGIC) + _DIGEST_SIZE :]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptEntryError("checksum mismatch")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            result: Result = {k: archive[k] for k in archive.files if k != "__meta__"}
            for array in result.values():
                array.setflags(write=False)  # shared by every reader of the in-memory copy
            result.update(json.loads(archive["__meta__"].tobytes().decode()))
    except Exception as exc:
        raise CorruptEntryError(f"undecodable entry ({exc})") from exc
    return result


def cache_key(checkpoint_hash: str, analysis: str, params: dict[str, Any]) -> str:
    """A stable key: the same inputs always give the same key, any change gives another."""
    identity = json.dumps(
        {"checkpoint": checkpoint_hash, "analysis": analysis, "params": params, "schema": SCHEMA_VERSION},
        sort_keys=True,
        default=str,
    )
    return f"{analysis}:{hashlib.sha256(identity.encode()).hexdigest()}"


class CacheUnavailableError(OSError):
    """The shared cache (Redis) cannot be reached; the message names it. Results kept in memory still serve."""


def is_redis_url(location: str | Path | None) -> bool:
    return isinstance(location, str) and location.startswith(("redis://", "rediss://", "unix://"))


class RedisStore:
    """The few diskcache calls AnalysisCache uses, on a Redis server shared by every machine.

    Keys carry a prefix so a Redis also used as Celery's broker keeps them apart; ``generation``
    counts writes, which is what a page's memo compares to notice new analyses.
    """

    PREFIX = "cnncmp:result:"
    GENERATION = "cnncmp:cache-generation"

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - redis is in requirements.txt
            raise CacheUnavailableError(f"the analysis cache at {url} needs the Python package 'redis'") from exc
        self.url = url
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)

    def _unreachable(self, exc: Exception, tail: str = "") -> CacheUnavailableError:
        return CacheUnavailableError(
            f"the analysis cache at {redacted_url(self.url)} is unreachable ({type(exc).__name__}){tail}"
        )

    def _call(self, what: str, *args: Any) -> Any:
        try:
            return getattr(self._client, what)(*args)
        except self._errors as exc:
            raise self._unreachable(exc, "; results kept in memory still show") from exc

    def get(self, key: str) -> bytes | None:
        return self._call("get", self.PREFIX + key)

    def set(self, key: str, value: bytes) -> None:
        pipe = self._client.pipeline()
        pipe.set(self.PREFIX + key, value)
        pipe.incr(self.GENERATION)
        try:
            pipe.execute()
        except self._errors as exc:
            raise self._unreachable(exc) from exc

    def delete(self, key: str) -> None:
        self._call("delete", self.PREFIX + key)

    def __contains__(self, key: str) -> bool:
        return bool(self._call("exists", self.PREFIX + key))

    def stamp(self) -> int:
        return int(self._call("get", self.GENERATION) or 0)

    def close(self) -> None:
        self._client.close()


def redacted_url(url: str) -> str:
    """``url`` without its password (a Redis URL ends up in messages, logs and ``repr``)."""
    return re.sub(r"//[^@/]*@", "//***@", url)


class AnalysisCache:
    """Get-or-compute over a diskcache folder or a Redis URL; counts hits and misses (for tests and logs).

    Decoded results are also kept in memory (least recently used first out, up to
    ``memory_bytes``): a key names its inputs' content, so an entry never changes, and a page
    asking again skips reading and checking the bytes. When Redis is down, what is in memory
    still serves and the rest raises :class:`CacheUnavailableError`; Redis's client reconnects
    by itself on the next call once it is back.
    """

    def __init__(
        self, directory: str | Path | None = None, size_limit: int = 2**32, memory_bytes: int = 256 * 2**20
    ) -> None:
        location = directory if directory is not None else default_cache_location()
        if is_redis_url(location):
            self.location = str(location)
            self.directory: Path | None = None
            self._store: Any = RedisStore(self.location)
        else:
            import diskcache

            self.directory = Path(location)
            self.location = str(self.directory)
            self._store = diskcache.Cache(str(self.directory), size_limit=size_limit)
        self.memory_bytes = memory_bytes
        # Decoded entries with their encoded size: what a page asks again skips decoding and checking.
        self._memory: LRU[tuple[Result, int]] = LRU(max_bytes=memory_bytes, size=lambda entry: entry[1])
        self.hits = 0
        self.misses = 0

    def stamp(self) -> Any:
        """Changes whenever the cache is written (diskcache's SQLite files, Redis's write counter)."""
        if isinstance(self._store, RedisStore):
            try:
                return self._store.stamp()
            except CacheUnavailableError:
                return None
        times = []
        for file in ("cache.db", "cache.db-wal"):
            try:
                times.append((self.directory / file).stat().st_mtime_ns)
            except OSError:
                times.append(0)
        return max(times)

    def get(self, key: str) -> Result | None:
        remembered = self._memory.get(key)
        if remembered is not None:
            return remembered[0]
        blob = self._store.get(key)
        if blob is None:
            return None
        try:
            result = unpack_result(blob)
        except CorruptEntryError as exc:
            log.warning("dropping corrupt cache entry %s: %s", key, exc)
            self._store.delete(key)
            return None
        self._memory.put(key, (result, len(blob)))
        return result

    def forget(self) -> None:
        """Drop the in-memory copies (the disk cache stays)."""
        self._memory.clear()

    def set(self, key: str, result: Result) -> None:
        self._store.set(key, pack_result(result))

    def get_or_compute(
        self, checkpoint_hash: str, analysis: str, params: dict[str, Any], compute: Callable[[], Result]
    ) -> Result:
        key = cache_key(checkpoint_hash, analysis, params)
        cached = self.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        result = compute()
        self.set(key, result)
        # Return what a later reader will see (JSON turns tuples into lists, and so on).
        return unpack_result(pack_result(result))

    def get_cached(self, checkpoint_hash: str, analysis: str, params: dict[str, Any]) -> Result | None:
        """The cached result, or None (no computing); counts a hit when found."""
        cached = self.get(cache_key(checkpoint_hash, analysis, params))
        if cached is not None:
            self.hits += 1
        return cached

    def contains(self, checkpoint_hash: str, analysis: str, params: dict[str, Any]) -> bool:
        return cache_key(checkpoint_hash, analysis, params) in self._store

    def close(self) -> None:
        self._store.close()
