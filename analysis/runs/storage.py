"""Where a run's files live: one interface, on fsspec, over a local folder or an S3-compatible bucket.

Every read and write of a run's artifacts (``run.json``, histories, checkpoints, snapshots) goes
through an :class:`ArtifactStore`. A plain path (``runs``) is a local folder, where writes are
atomic (temporary file, fsync, rename). A URL (``s3://bucket/runs``) is a bucket through s3fs,
where a PUT is atomic by itself: readers see the old object or the new one.

On a Heroku-style platform the web and worker machines share no disk, so both point
``CNNCMP_RUNS_DIR`` at the same bucket. ``CNNCMP_S3_ENDPOINT_URL`` names an S3-compatible
endpoint other than AWS (MinIO, Ceph, moto); credentials come from the usual ``AWS_*`` variables.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec

from ..lru import LRU
from ..settings import read as read_setting
from .atomic import atomic_write_bytes

log = logging.getLogger(__name__)

S3_ENDPOINT_ENV = "CNNCMP_S3_ENDPOINT_URL"
_URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
LOCAL_PROTOCOLS = ("file", "local")


class StorageError(OSError):
    """The store cannot be reached or refused an operation; the message names the location and the cause."""


def is_url(location: str | Path) -> bool:
    """Whether ``location`` is a URL (``s3://…``, ``file://…``) rather than a plain folder path."""
    return isinstance(location, str) and bool(_URL_PATTERN.match(location))


def storage_options(protocol: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """fsspec options for ``protocol`` from the environment (an S3 endpoint for non-AWS buckets)."""
    if protocol in ("s3", "s3a"):
        options: dict[str, Any] = {
            # Listings must be fresh: another machine may have added a run a moment ago.
            "use_listings_cache": False,
            "skip_instance_cache": True,
            # Fail fast when the endpoint is down instead of retrying for minutes.
            "config_kwargs": {"connect_timeout": 3, "read_timeout": 30, "retries": {"max_attempts": 2}},
        }
        endpoint = read_setting(S3_ENDPOINT_ENV, environ)
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
        return options
    return {}


def _check_key(key: str) -> str:
    """A relative key inside the store: no absolute path, no empty, ``.`` or ``..`` part, no backslash."""
    parts = key.split("/") if isinstance(key, str) else [""]
    if not key or "\\" in key or "\x00" in key or any(part in ("..", ".", "") for part in parts):
        raise ValueError(f"invalid artifact key {key!r}")
    return key


class ArtifactStore:
    """Bytes under keys like ``base-demo-digits/model.pt``, in a local folder or a bucket.

    ``url`` is a folder path or an fsspec URL; keys are relative POSIX paths, checked so that no
    key reaches outside the store.
    """

    def __init__(self, url: str | Path, options: dict[str, Any] | None = None) -> None:
        self.url = str(url)
        protocol = fsspec.utils.get_protocol(self.url) if is_url(self.url) else "file"
        self.protocol = protocol
        self.is_local = protocol in LOCAL_PROTOCOLS
        if self.is_local:
            self.root = Path(fsspec.core.strip_protocol(self.url) if is_url(self.url) else self.url)
            self.fs = fsspec.filesystem("file")
        else:
            try:
                self.fs = fsspec.filesystem(protocol, **(options if options is not None else storage_options(protocol)))
            except (ImportError, ValueError) as exc:
                raise StorageError(f"cannot open artifact store {self.url}: {exc}") from exc
            self.root = self.fs._strip_protocol(self.url).rstrip("/")

    # -- locations ----------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return str(self.root / _check_key(key)) if self.is_local else f"{self.root}/{_check_key(key)}"

    def describe(self, key: str = "") -> str:
        """A human-readable location for messages: the local path or the URL of ``key``."""
        if not key:
            return str(self.root) if self.is_local else self.url
        return self._path(key) if self.is_local else f"{self.protocol}://{self._path(key)}"

    def local_path(self, key: str) -> Path:
        """The file behind ``key`` in a local store (tests and tools that need a path); an error for a bucket."""
        if not self.is_local:
            raise StorageError(f"{self.url} is not a local folder")
        return Path(self._path(key)).resolve()

    # -- reading ------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        """The content of ``key``; FileNotFoundError when absent, StorageError when unreachable."""
        path = self._path(key)
        try:
            if self.is_local:
                return Path(path).read_bytes()
            return self.fs.cat_file(path)
        except FileNotFoundError:
            raise
        except IsADirectoryError as exc:
            raise FileNotFoundError(f"{self.describe(key)} is a folder") from exc
        except Exception as exc:
            raise self._error("read", key, exc) from exc

    def read_tail(self, key: str, size: int) -> bytes:
        """The last ``size`` bytes of ``key`` (one ranged read on a bucket); FileNotFoundError when absent."""
        path = self._path(key)
        try:
            if self.is_local:
                with open(path, "rb") as handle:
                    handle.seek(0, os.SEEK_END)
                    handle.seek(max(0, handle.tell() - size))
                    return handle.read()
            length = self.fs.info(path)["size"]
            return self.fs.cat_file(path, start=max(0, length - size), end=length)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise self._error("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            return Path(path).is_file() if self.is_local else bool(self.fs.isfile(path))
        except Exception as exc:
            raise self._error("check", key, exc) from exc

    def stamp(self, key: str) -> tuple | None:
        """What changes when ``key`` is rewritten (size and mtime, or the object's ETag); None when absent."""
        path = self._path(key)
        try:
            if self.is_local:
                stat = Path(path).stat()
                return (stat.st_size, stat.st_mtime_ns)
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._error("check", key, exc) from exc
        if info.get("type") == "directory":
            return None
        return (info.get("size"), str(info.get("ETag") or info.get("LastModified") or info.get("mtime")))

    def list(self, prefix: str = "") -> list[str]:
        """Names directly under ``prefix`` (files and folders), sorted; empty when it does not exist."""
        path = self._path(prefix) if prefix else (str(self.root) if self.is_local else self.root)
        try:
            if self.is_local:
                folder = Path(path)
                return sorted(entry.name for entry in folder.iterdir()) if folder.is_dir() else []
            return sorted(
                PurePosixPath(entry).name
                for entry in self.fs.ls(path, detail=False, refresh=True)
                if entry.rstrip("/") != path.rstrip("/")
            )
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise self._error("list", prefix or ".", exc) from exc

    def glob(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` (``*/run.json``), relative to the store, sorted."""
        try:
            if self.is_local:
                return (
                    sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern))
                    if self.root.is_dir()
                    else []
                )
            found = self.fs.glob(f"{self.root}/{pattern}")
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise self._error("list", pattern, exc) from exc
        prefix = self.root.rstrip("/") + "/"
        return sorted(path[len(prefix) :] for path in found if path.startswith(prefix))

    # -- writing ------------------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: a reader sees the old content or the new, never part."""
        path = self._path(key)
        try:
            if self.is_local:
                atomic_write_bytes(path, data)
            else:
                self.fs.pipe_file(path, data)  # one PUT: atomic on S3
        except Exception as exc:
            if isinstance(exc, OSError) and self.is_local:
                raise  # disk full, permissions: the OSError already names the file
            raise self._error("write", key, exc) from exc

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            if self.is_local:
                Path(path).unlink(missing_ok=True)
            elif self.fs.exists(path):
                self.fs.rm_file(path)
        except Exception as exc:
            raise self._error("delete", key, exc) from exc

    def check(self) -> None:
        """Raise StorageError unless the store can be listed now (the Jobs page's and /health's probe)."""
        try:
            if self.is_local:
                if self.root.exists() and not self.root.is_dir():
                    raise NotADirectoryError(f"{self.root} is not a folder")
                return
            self.fs.ls(self.root, refresh=True)
        except FileNotFoundError:
            return
        except StorageError:
            raise
        except Exception as exc:
            raise self._error("reach", ".", exc) from exc

    def _error(self, verb: str, key: str, exc: BaseException) -> StorageError:
        return StorageError(
            f"cannot {verb} {self.describe(key) if key != '.' else self.describe()}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        )


_stores: dict[str, ArtifactStore] = {}
_stores_lock = threading.Lock()


def open_store(url: str | Path) -> ArtifactStore:
    """The store for ``url``, shared within the process (an s3fs client keeps its connection pool)."""
    key = str(url)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = ArtifactStore(key)
        return _stores[key]


class TimedMemo:
    """Values kept for ``seconds`` (listing a bucket on every page request would cost a round trip each)."""

    def __init__(self, seconds: float, max_items: int = 256) -> None:
        self.seconds = seconds
        self._items: LRU[tuple[float, Any]] = LRU(max_items=max_items)  # key -> (when computed, value)

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = compute()
        self._items.put(key, (now, value))
        return value
