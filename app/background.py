"""Where the Jobs page's background callbacks run: the manager factory and the cooperative stop flags.

Locally (the default) :func:`make_manager` gives Dash's ``DiskcacheManager`` on
``<cache_dir>/jobs``: each job runs in a child process of the web server, forked from the
request that started it, so it reads the same :class:`~app.config.Settings` as the app that
served the request. With ``REDIS_URL`` set it gives a ``CeleryManager`` whose broker and result
backend are that Redis (jobs then run in Celery workers, which read their settings from the
environment). celery and redis are imported only then, and their absence is a clear error.

Dash's own ``cancel=`` kills the job's process. The Jobs page stops jobs cooperatively instead
(:class:`StopFlags`): the job polls its flag between epochs or analyses and ends cleanly, so a
stopped training is recorded as ``stopped`` and resumes where it stopped.
"""

from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path
from typing import Any

import dash
from dash.background_callback.managers import BaseBackgroundCallbackManager

from analysis.cache import CacheUnavailableError, redacted_url
from analysis.runs.storage import StorageError
from analysis.runs.store import RunStore
from app.config import Settings

log = logging.getLogger(__name__)

REDIS_URL_ENV = "REDIS_URL"
JOBS_FOLDER = "jobs"
STOP_PREFIX = "cnncmp-stop:"
STOP_SECONDS = 24 * 3600  # a stop request outlives any job it could be meant for, then expires


class MissingDependencyError(ImportError):
    """A package the configured job backend needs is not installed; the message names it."""


def _require(package: str, purpose: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{REDIS_URL_ENV} is set, so {purpose} needs the Python package {package!r}, which is not "
            f"installed: `pip install {package}`, or unset {REDIS_URL_ENV} to run jobs locally"
        ) from exc


def make_manager(settings: Settings) -> BaseBackgroundCallbackManager:
    """The background-callback manager for an app on ``settings`` (pass it as ``background_callback_manager``)."""
    if settings.redis_url:
        return celery_manager(settings.redis_url)
    return dash.DiskcacheManager(_local_store(Path(settings.cache_dir)))


def _local_store(cache_dir: Path) -> Any:
    """The diskcache of ``<cache_dir>/jobs``; a temporary one (with a warning) when that cannot be created,
    so a read-only cache folder costs the Jobs page its history, not the whole app its start."""
    import diskcache

    folder = cache_dir / JOBS_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return diskcache.Cache(str(folder))
    except OSError as exc:
        log.warning("job store %s unusable (%s); using a temporary folder", folder, exc)
        return diskcache.Cache()


def celery_manager(url: str) -> BaseBackgroundCallbackManager:
    """A ``CeleryManager`` on a Celery app whose broker and result backend are the Redis at ``url``."""
    celery = _require("celery", "running jobs with Celery")
    _require("redis", "Celery's Redis broker")
    return dash.CeleryManager(celery_app(url, celery))


@functools.lru_cache(maxsize=4)
def celery_app(url: str, celery: Any = None) -> Any:
    """One Celery app per Redis URL (a worker started on this module finds the same tasks)."""
    celery = celery or _require("celery", "running jobs with Celery")
    jobs = celery.Celery("cnncmp-jobs", broker=url, backend=url)
    jobs.conf.update(
        # One job at a time per worker process, taken only when it is free: a training holds the
        # CPU (or GPU) for minutes, and a prefetched second job would wait behind it.
        worker_prefetch_multiplier=1,
        task_track_started=True,
        # A job whose worker process dies (killed, out of memory) goes back on the queue instead of being
        # lost: the next worker resumes its training from the last epoch checkpoint.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        broker_connection_retry_on_startup=True,
        # Fail fast while Redis is down instead of hanging the web request that starts a job.
        broker_connection_timeout=3,
        broker_transport_options={"socket_connect_timeout": 3, "max_retries": 1},
        redis_socket_connect_timeout=3,
        result_expires=7 * 24 * 3600,
        worker_hijack_root_logger=False,
    )
    return jobs


# -- cooperative stop ------------------------------------------------------------------------------
class StopFlags:
    """Stop requests keyed by a job token, shared by the web process and the job's process or worker.

    ``store`` is a diskcache ``Cache`` (local) or a ``redis.Redis`` client (with ``REDIS_URL``).
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def _key(self, token: str) -> str:
        return STOP_PREFIX + str(token)

    def request(self, token: str) -> None:
        """Ask the job with ``token`` to stop at its next step."""
        if _is_redis(self.store):
            self.store.set(self._key(token), b"1", ex=STOP_SECONDS)
        else:
            self.store.set(self._key(token), True, expire=STOP_SECONDS)

    def requested(self, token: str) -> bool:
        """Whether a stop was asked for the job with ``token``."""
        return bool(self.store.get(self._key(token)))

    def clear(self, token: str) -> None:
        """Forget a stop request (a new job with the same token starts unstopped)."""
        self.store.delete(self._key(token))


def _is_redis(store: Any) -> bool:
    return type(store).__module__.split(".", 1)[0] == "redis"


@functools.lru_cache(maxsize=8)
def _stop_flags(cache_dir: str, url: str) -> StopFlags:
    if url:
        redis = _require("redis", "sharing stop requests with Celery workers")
        return StopFlags(redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10))
    return StopFlags(_local_store(Path(cache_dir)))


def stop_flags(settings: Settings) -> StopFlags:
    """The stop flags beside the job store of ``settings`` (the same Redis when ``REDIS_URL`` is set)."""
    return _stop_flags(str(settings.cache_dir), settings.redis_url)


# -- reachability of the shared services -------------------------------------------------------------
def redis_problem(url: str) -> str:
    """Why Redis at ``url`` cannot be reached now, or ``""`` when it answers a PING (2 s at most)."""
    try:
        redis = _require("redis", "checking Redis")
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure is "unreachable", said in words
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        return f"Redis at {redacted_url(url)} is unreachable ({type(exc).__name__}: {text})"
    return ""


def backend_problems(settings: Settings) -> list[str]:
    """What keeps jobs from running now: Redis (queue, progress, cache) or the runs store unreachable."""
    problems = []
    if settings.redis_url:
        problem = redis_problem(settings.redis_url)
        if problem:
            problems.append(problem)
    try:
        RunStore(settings.runs_dir).artifacts.check()
    except OSError as exc:
        problems.append(f"the runs store is unreachable: {exc}")
    return problems


def outage_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean "Redis or the bucket is down" (answered 503 by the app, never 500)."""
    errors: list[type[Exception]] = [CacheUnavailableError, StorageError]
    for module, name in (
        ("redis.exceptions", "ConnectionError"),
        ("redis.exceptions", "TimeoutError"),
        ("kombu.exceptions", "OperationalError"),
        ("celery.exceptions", "TimeoutError"),
    ):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)
