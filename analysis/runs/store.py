"""The runs store: one sub-folder per run, names checked so nothing outside it is touched.

A run holds ``run.json`` (spec, profile, dataset, status, final figures), ``history.jsonl``
(one line per epoch), ``last.pt`` (the resume checkpoint), ``model.pt`` (final weights) and
``snapshots/epoch_NNN.pt``. The store is a local folder or a bucket (:mod:`analysis.runs.storage`);
every file goes through it, and every write is atomic.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import socket
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch

from ..lru import LRU
from ..settings import read as read_setting
from .checkpoints import read_checkpoint
from .storage import ArtifactStore, StorageError, TimedMemo, open_store

log = logging.getLogger(__name__)

RUN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
RUN_FILE = "run.json"
HISTORY_FILE = "history.jsonl"
RESUME_CHECKPOINT = "last.pt"
FINAL_WEIGHTS = "model.pt"
SNAPSHOT_FOLDER = "snapshots"
STAMPED_FILES = (RUN_FILE, HISTORY_FILE, FINAL_WEIGHTS)
STALE_SECONDS = 300.0  # a training run silent this long (no heartbeat) counts as interrupted
REMOTE_LISTING_SECONDS = 2.0  # a bucket's listing is reused this long (a page asks several times per view)


class RunStatus(StrEnum):
    """A run's state as ``run.json`` records it (``training``, ``complete``, ...) or a listing derives it."""

    TRAINING = "training"
    COMPLETE = "complete"
    IMPORTED = "imported"  # weights imported from a checkpoint trained elsewhere
    STOPPED = "stopped"  # a stop was asked for; the same training resumes it
    INTERRUPTED = "interrupted"  # its trainer died (derived: run.json still says training)
    BROKEN = "broken"  # its files cannot be read (derived, with the problem)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> RunStatus:
        """The status of a summary row or run.json; anything unknown or missing counts as broken."""
        try:
            return cls(row.get("status"))
        except ValueError:
            return cls.BROKEN

    @property
    def has_weights(self) -> bool:
        """Whether a run in this state has final weights to analyse."""
        return self in (RunStatus.COMPLETE, RunStatus.IMPORTED)


class RunNameError(ValueError):
    """A run name that could escape the runs folder or is not a plain name."""


class RunNotFoundError(LookupError):
    """No run of that name in the runs folder."""

    def __str__(self) -> str:
        return str(self.args[0])


class BrokenRunError(ValueError):
    """A run whose files cannot be read; the message says which file and why."""


def default_runs_dir() -> str:
    """``$CNNCMP_RUNS_DIR`` (a folder or a bucket URL), else ``runs``."""
    return read_setting("CNNCMP_RUNS_DIR")


def check_run_name(name: str, what: str = "run") -> str:
    """Return ``name`` if it is a plain name (letters, digits, ``_ . + -``; no ``..``), else raise RunNameError.

    ``what`` names the thing in the message: runs and sweeps follow the same rules, so either is a safe
    path segment in a folder or a bucket."""
    if not isinstance(name, str) or not RUN_NAME_PATTERN.match(name) or ".." in name:
        raise RunNameError(
            f"invalid {what} name {name!r}: use 1-100 letters, digits, '_', '.', '+' or '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


def snapshot_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.pt"


def snapshot_key(epoch: int) -> str:
    """The file of the snapshot of ``epoch`` inside a run (``snapshots/epoch_NNN.pt``)."""
    return f"{SNAPSHOT_FOLDER}/{snapshot_name(epoch)}"


def interrupted_reason(meta: dict[str, Any], now: dt.datetime | None = None) -> str:
    """Why a run marked ``training`` is in fact not (its trainer died), or ``""``.

    On the same machine the trainer's process id tells at once; elsewhere (a Celery worker on
    another machine) a heartbeat older than :data:`STALE_SECONDS` does.
    """
    if meta.get("status") != RunStatus.TRAINING:
        return ""
    done = meta.get("epochs_done", 0)
    resume = f"start the same training again to resume after epoch {done}"
    trainer = meta.get("trainer") if isinstance(meta.get("trainer"), dict) else {}
    if trainer.get("host") == socket.gethostname() and isinstance(trainer.get("pid"), int):
        if not _process_alive(trainer["pid"]):
            return f"its trainer (process {trainer['pid']}) is gone; {resume}"
    # A live process of that number may be another one now (ids are reused): the heartbeat still decides.
    try:
        beat = dt.datetime.fromisoformat(str(meta.get("heartbeat") or meta.get("updated")))
    except ValueError:
        return ""
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=dt.UTC)
    silent = ((now or dt.datetime.now(dt.UTC)) - beat).total_seconds()
    if silent > STALE_SECONDS:
        return f"no sign of its trainer for {silent / 60:.0f} min; {resume}"
    return ""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) still answers signal 0.
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().split(b") ", 1)[-1][:1] != b"Z"
    except OSError:
        return True


_listings = TimedMemo(REMOTE_LISTING_SECONDS)
_LAST_KNOWN_ENTRIES = 4096
_last_known: LRU[Any] = LRU(max_items=_LAST_KNOWN_ENTRIES)  # (store URL, what, args) -> a bucket's last answer
_weights_checked: LRU[str] = LRU(max_items=_LAST_KNOWN_ENTRIES)  # (store URL, run, stamp) -> problem, "" if intact
_ZIP_END = b"PK\x05\x06"  # a zip's end-of-central-directory signature
_ZIP_TAIL_BYTES = 1024  # the record is the last 22 bytes unless the zip carries a comment (torch's do not)


class RunStore:
    """The runs of one store (folder or bucket): names, metadata, histories and checkpoints by checked name."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.artifacts: ArtifactStore = open_store(root if root is not None else default_runs_dir())
        self.root = self.artifacts.root if self.artifacts.is_local else self.artifacts.url

    def _remembered(self, what: tuple, read: Callable[[], Any]) -> Any:
        """``read()``, remembered for a bucket: while the bucket is unreachable, the last answer it gave stands in,
        so pages this process has shown keep working through an outage (a local folder has no such fallback)."""
        if self.artifacts.is_local:
            return read()
        key = (self.artifacts.url, *what)
        try:
            value = read()
        except StorageError:
            if key in _last_known:
                log.warning("runs store %s unreachable; using what it last said for %s", self.artifacts.url, what)
                return _last_known.get(key)
            raise
        _last_known.put(key, value)
        return value

    # -- names and locations --------------------------------------------------------------------
    def _key(self, name: str, file: str) -> str:
        return f"{check_run_name(name)}/{file}"

    def location(self, name: str, file: str = "") -> str:
        """Where run ``name`` (or one of its files) lives, for messages."""
        return self.artifacts.describe(self._key(name, file) if file else check_run_name(name))

    def path(self, name: str) -> Path:
        """The local folder of run ``name`` (local stores only; tools and tests that need a path)."""
        return self.artifacts.local_path(check_run_name(name))

    def exists(self, name: str) -> bool:
        return self.has_file(name, RUN_FILE)

    def has_file(self, name: str, file: str) -> bool:
        return self._remembered(("has", name, file), lambda: self.artifacts.exists(self._key(name, file)))

    def names(self) -> list[str]:
        """Names of the runs present (folders with a run.json), sorted."""

        def list_names() -> list[str]:
            found = (key.split("/", 1)[0] for key in self.artifacts.glob(f"*/{RUN_FILE}"))
            return sorted(name for name in found if RUN_NAME_PATTERN.match(name) and ".." not in name)

        if self.artifacts.is_local:
            return list_names()
        return list(self._remembered(("names",), lambda: _listings.get(("names", self.artifacts.url), list_names)))

    def stamp(self, names: list[str] | None = None) -> tuple:
        """What changes when a run changes: the names present and their main files' stamps.

        A page can key a memo of what it drew on this: the same stamp means the same runs.
        """
        present = self.names()
        chosen = present if names is None else [name for name in names if name in present]

        def compute() -> tuple:
            return tuple((name, *(self.artifacts.stamp(self._key(name, f)) for f in STAMPED_FILES)) for name in chosen)

        if self.artifacts.is_local:
            return compute()
        return self._remembered(
            ("stamp", tuple(chosen)), lambda: _listings.get(("stamp", self.artifacts.url, tuple(chosen)), compute)
        )

    # -- run.json and history ---------------------------------------------------------------------
    def _read_text(self, name: str, file: str) -> str | None:
        """The file's text, None when absent; undecodable bytes are a BrokenRunError naming the file."""
        try:
            data = self.artifacts.read_bytes(self._key(name, file))
        except FileNotFoundError:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BrokenRunError(f"{self.location(name, file)}: not UTF-8 text ({exc.reason})") from exc

    def read_meta(self, name: str) -> dict[str, Any]:
        return dict(self._remembered(("meta", name), lambda: self._read_meta(name)))

    def _read_meta(self, name: str) -> dict[str, Any]:
        text = self._read_text(name, RUN_FILE)
        if text is None:
            raise RunNotFoundError(f"no run named {name!r} in {self.artifacts.describe()}")
        try:
            meta = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BrokenRunError(f"{self.location(name, RUN_FILE)}: unreadable run file ({exc})") from exc
        if not isinstance(meta, dict) or "model" not in meta:
            raise BrokenRunError(f"{self.location(name, RUN_FILE)}: not a run file (no 'model' entry)")
        return meta

    def write_meta(self, name: str, meta: dict[str, Any]) -> None:
        text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
        self.artifacts.write_bytes(self._key(name, RUN_FILE), text.encode("utf-8"))

    def read_history(self, name: str) -> list[dict[str, Any]]:
        """Per-epoch rows; a missing file is an empty history, a damaged line an error naming it."""
        return list(self._remembered(("history", name), lambda: self._read_history(name)))

    def _read_history(self, name: str) -> list[dict[str, Any]]:
        text = self._read_text(name, HISTORY_FILE)
        if text is None:
            return []
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BrokenRunError(
                    f"{self.location(name, HISTORY_FILE)}: line {number} is not JSON ({exc.msg})"
                ) from exc
            if not isinstance(row, dict):
                raise BrokenRunError(f"{self.location(name, HISTORY_FILE)}: line {number} is not an epoch record")
            rows.append(row)
        return rows

    def write_history(self, name: str, rows: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(row) + "\n" for row in rows)
        self.artifacts.write_bytes(self._key(name, HISTORY_FILE), text.encode("utf-8"))

    # -- checkpoints --------------------------------------------------------------------------------
    def snapshot_epochs(self, name: str) -> list[int]:
        found = (
            re.fullmatch(r"epoch_(\d+)\.pt", file) for file in self.artifacts.list(self._key(name, SNAPSHOT_FOLDER))
        )
        return sorted(int(match.group(1)) for match in found if match)

    def file_stamp(self, name: str, file: str) -> tuple | None:
        """Size and modification stamp of one of the run's files; None when it is absent."""
        return self._remembered(("file", name, file), lambda: self.artifacts.stamp(self._key(name, file)))

    def read_bytes(self, name: str, file: str) -> bytes:
        return self.artifacts.read_bytes(self._key(name, file))

    def read_tail(self, name: str, file: str, size: int) -> bytes:
        return self.artifacts.read_tail(self._key(name, file), size)

    def load_checkpoint(self, name: str, file: str, map_location: str | torch.device = "cpu") -> Any:
        """A checkpoint of the run read with ``weights_only=True`` (a CheckpointError names the file)."""
        label = self.location(name, file)
        try:
            data = self.read_bytes(name, file)
        except FileNotFoundError:
            data = None
        return read_checkpoint(data, map_location=map_location, label=label)

    def save_checkpoint(self, name: str, file: str, obj: Any) -> None:
        """``torch.save`` to memory, then one atomic write (a torch zip cut short is unreadable)."""
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        self.artifacts.write_bytes(self._key(name, file), buffer.getvalue())

    # -- summaries ----------------------------------------------------------------------------------
    def summary(self, name: str) -> dict[str, Any]:
        """The row ``runs`` prints: name, model, dataset, epochs, errors and status (``broken`` with a reason)."""
        try:
            meta = self.read_meta(name)
        except BrokenRunError as exc:
            return broken_summary(name, str(exc))
        row = {key: meta.get(key) for key in SUMMARY_KEYS}
        row["name"] = name
        row["epochs"] = meta.get("epochs_done", 0)
        reason = interrupted_reason(meta)
        if reason:
            row["status"], row["problem"] = RunStatus.INTERRUPTED, reason
        if RunStatus.of(row).has_weights:
            problem = self.weights_problem(name)
            if problem:
                row["status"], row["problem"] = RunStatus.BROKEN, problem
        return row

    def weights_problem(self, name: str) -> str:
        """Why the final weights cannot be used (missing, cut short), or ``""``; checked once per file version.

        A PyTorch checkpoint is a zip, which ends with an end-of-central-directory record: a file
        cut short (a copy interrupted, a disk that filled up outside our atomic writes) lacks it.
        Reading the last bytes is cheap enough for every listing; a full load is not.
        """
        stamp = self.file_stamp(name, FINAL_WEIGHTS)
        if stamp is None:
            return f"{FINAL_WEIGHTS} is missing"
        key = (self.artifacts.url, name, stamp)
        known = _weights_checked.get(key)
        if known is not None:
            return known
        try:
            tail = self.read_tail(name, FINAL_WEIGHTS, _ZIP_TAIL_BYTES)
        except FileNotFoundError:
            return f"{FINAL_WEIGHTS} is missing"
        problem = (
            ""
            if _ZIP_END in tail[-_ZIP_TAIL_BYTES:]
            else f"{FINAL_WEIGHTS} is truncated or not a PyTorch checkpoint (no zip end record); "
            "train or import the run again"
        )
        _weights_checked.put(key, problem)
        return problem

    def missing_snapshots(self, name: str) -> list[int]:
        """Epochs whose snapshot the training saved (run.json's plan, up to the epochs done) but that are gone."""
        meta = self.read_meta(name)
        planned = meta.get("snapshot_epochs")
        if not isinstance(planned, list):
            return []  # runs trained before the plan was recorded: nothing to compare with
        done = meta.get("epochs_done", 0) if isinstance(meta.get("epochs_done"), int) else 0
        present = set(self.snapshot_epochs(name))
        return [epoch for epoch in planned if isinstance(epoch, int) and epoch <= done and epoch not in present]

    def list_runs(self) -> list[dict[str, Any]]:
        return [self.summary(name) for name in self.names()]


SUMMARY_KEYS = (
    "name",
    "model",
    "profile",
    "dataset",
    "dataset_description",
    "epochs_planned",
    "train_error",
    "test_error",
    "status",
    "params",
    "flops",
    "conv_layers",
    "width",
    "width_scale",
    "train_seconds",
    "updated",
)


def broken_summary(name: str, problem: str) -> dict[str, Any]:
    """The summary row of a run whose files cannot be read: its name, and why."""
    return {
        "name": name,
        "model": None,
        "dataset": None,
        "epochs": 0,
        "train_error": None,
        "test_error": None,
        "status": RunStatus.BROKEN,
        "problem": problem,
    }
