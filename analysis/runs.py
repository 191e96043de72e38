"""The runs folder: one sub-folder per run, names checked so nothing outside it is touched.

A run folder holds ``run.json`` (spec, profile, dataset, status, final figures),
``history.jsonl`` (one line per epoch), ``last.pt`` (the resume checkpoint),
``model.pt`` (final weights) and ``snapshots/epoch_NNN.pt``. Every file is written atomically.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json, atomic_write_jsonl

RUN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
RUN_FILE = "run.json"
HISTORY_FILE = "history.jsonl"
RESUME_CHECKPOINT = "last.pt"
FINAL_WEIGHTS = "model.pt"
SNAPSHOT_FOLDER = "snapshots"


class RunNameError(ValueError):
    """A run name that could escape the runs folder or is not a plain name."""


class RunNotFoundError(LookupError):
    """No run of that name in the runs folder."""

    def __str__(self) -> str:
        return str(self.args[0])


class BrokenRunError(ValueError):
    """A run whose files cannot be read; the message says which file and why."""


def default_runs_dir() -> Path:
    """``$CNNCMP_RUNS_DIR``, else ``./runs``."""
    return Path(os.environ.get("CNNCMP_RUNS_DIR", "runs"))


def check_run_name(name: str) -> str:
    """Return ``name`` if it is a plain run name (letters, digits, ``_ . + -``; no ``..``), else raise."""
    if not isinstance(name, str) or not RUN_NAME_PATTERN.match(name) or ".." in name:
        raise RunNameError(
            f"invalid run name {name!r}: use 1-100 letters, digits, '_', '.', '+' or '-', "
            "starting with a letter or digit, without '..'"
        )
    return name


def snapshot_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.pt"


class RunStore:
    """The runs folder: paths of runs by checked name, their metadata and histories."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_runs_dir()

    def path(self, name: str) -> Path:
        """The folder of run ``name``; refuses any name that would resolve outside the root."""
        folder = (self.root / check_run_name(name)).resolve()
        if folder.parent != self.root.resolve():
            raise RunNameError(f"run name {name!r} resolves outside the runs folder {self.root}")
        return folder

    def exists(self, name: str) -> bool:
        return (self.path(name) / RUN_FILE).is_file()

    def names(self) -> list[str]:
        """Names of the runs present (folders with a run.json), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name for entry in self.root.iterdir()
            if RUN_NAME_PATTERN.match(entry.name) and (entry / RUN_FILE).is_file()
        )

    def read_meta(self, name: str) -> dict[str, Any]:
        path = self.path(name) / RUN_FILE
        if not path.is_file():
            raise RunNotFoundError(f"no run named {name!r} in {self.root}")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BrokenRunError(f"{path}: unreadable run file ({exc})") from exc
        if not isinstance(meta, dict) or "model" not in meta:
            raise BrokenRunError(f"{path}: not a run file (no 'model' entry)")
        return meta

    def write_meta(self, name: str, meta: dict[str, Any]) -> None:
        atomic_write_json(self.path(name) / RUN_FILE, meta)

    def read_history(self, name: str) -> list[dict[str, Any]]:
        """Per-epoch rows; a missing file is an empty history, a damaged line an error naming it."""
        path = self.path(name) / HISTORY_FILE
        if not path.is_file():
            return []
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BrokenRunError(f"{path}: line {number} is not JSON ({exc.msg})") from exc
        return rows

    def write_history(self, name: str, rows: list[dict[str, Any]]) -> None:
        atomic_write_jsonl(self.path(name) / HISTORY_FILE, rows)

    def snapshot_epochs(self, name: str) -> list[int]:
        folder = self.path(name) / SNAPSHOT_FOLDER
        if not folder.is_dir():
            return []
        found = (re.fullmatch(r"epoch_(\d+)\.pt", p.name) for p in folder.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def summary(self, name: str) -> dict[str, Any]:
        """The row ``runs`` prints: name, model, dataset, epochs, errors and status (``broken`` with a reason)."""
        try:
            meta = self.read_meta(name)
        except BrokenRunError as exc:
            return {"name": name, "model": None, "dataset": None, "epochs": 0, "train_error": None,
                    "test_error": None, "status": "broken", "problem": str(exc)}
        row = {key: meta.get(key) for key in SUMMARY_KEYS}
        row["name"] = name
        row["epochs"] = meta.get("epochs_done", 0)
        if row["status"] in ("complete", "imported") and not (self.path(name) / FINAL_WEIGHTS).is_file():
            row["status"], row["problem"] = "broken", f"{FINAL_WEIGHTS} is missing"
        return row

    def list_runs(self) -> list[dict[str, Any]]:
        return [self.summary(name) for name in self.names()]


SUMMARY_KEYS = (
    "name", "model", "profile", "dataset", "dataset_description", "epochs_planned", "train_error", "test_error",
    "status", "params", "flops", "conv_layers", "width", "width_scale", "train_seconds",
)
