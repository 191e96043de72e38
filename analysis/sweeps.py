"""Sweeps: a named, recorded set of runs (models × seeds on one profile and dataset), and the seed spread.

``python -m analysis train --model all --seeds 0 1 2 --sweep NAME`` records the sweep before it trains, so
a sweep half done lists what is still to come. The record is one JSON file, ``_sweeps/NAME.json`` in the
runs store (a local folder or a bucket, written atomically like every run file); ``_sweeps`` can never be
a run's folder (a run name starts with a letter or digit).

:func:`seed_spread` is pure: it groups runs that differ only by their seed and gives each group's mean,
standard deviation and range of test (and train) error — what a between-model difference is read against.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from .runs.store import RUN_NAME_PATTERN, RunStatus, RunStore, check_run_name

SWEEP_FOLDER = "_sweeps"
SWEEP_FORMAT = 1
#: What runs "differing only by seed" share: a run row's values of these keys (missing counts as None).
SAME_BUT_SEED = ("model", "profile", "dataset", "epochs_planned", "width_scale")


class SweepNotFoundError(LookupError):
    """No sweep of that name in the runs store."""

    def __str__(self) -> str:
        return str(self.args[0])


class SweepConflictError(ValueError):
    """A sweep of that name already records other runs."""


def check_sweep_name(name: str) -> str:
    """``name`` if it is a plain name (the run-name rules), else a ValueError (RunNameError) saying "sweep"."""
    return check_run_name(name, what="sweep")


def sweep_key(name: str) -> str:
    return f"{SWEEP_FOLDER}/{check_sweep_name(name)}.json"


class Sweep(NamedTuple):
    """A recorded set of runs: ``runs`` are the run names of every model × seed, in training order."""

    name: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    profile: str
    dataset: str
    runs: tuple[str, ...]
    data_seed: int | None = None
    epochs: int | None = None
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SWEEP_FORMAT,
            **{key: list(v) if isinstance(v, tuple) else v for key, v in self._asdict().items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sweep:
        """The sweep of a record; ValueError naming what is wrong with a damaged one."""
        try:
            sweep = cls(
                name=check_sweep_name(data["name"]),
                models=tuple(str(m) for m in data["models"]),
                seeds=tuple(int(s) for s in data["seeds"]),
                profile=str(data["profile"]),
                dataset=str(data["dataset"]),
                runs=tuple(str(r) for r in data["runs"]),
                data_seed=data.get("data_seed"),
                epochs=data.get("epochs"),
                created=str(data.get("created") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a sweep record ({type(exc).__name__}: {exc})") from exc
        return sweep

    def same_plan(self, other: Sweep) -> bool:
        """Whether two records name the same runs of the same profile and dataset (creation time aside)."""
        return self._replace(created="") == other._replace(created="")


def new_sweep(
    name: str,
    runs: Sequence[tuple[str, int, str]],
    profile: str,
    dataset: str,
    data_seed: int | None = None,
    epochs: int | None = None,
) -> Sweep:
    """The record of a sweep about to be trained: ``runs`` are (model, seed, run name) in training order."""
    return Sweep(
        name=check_sweep_name(name),
        models=tuple(dict.fromkeys(model for model, _, _ in runs)),
        seeds=tuple(dict.fromkeys(seed for _, seed, _ in runs)),
        profile=profile,
        dataset=dataset,
        runs=tuple(run for _, _, run in runs),
        data_seed=data_seed,
        epochs=epochs,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def record_sweep(store: RunStore, sweep: Sweep) -> Sweep:
    """Write ``sweep`` (atomically); an existing record of the same plan is kept (training it again resumes it).

    SweepConflictError when a sweep of that name records other runs: a name means one set of runs.
    """
    try:
        existing = load_sweep(store, sweep.name)
    except SweepNotFoundError:
        existing = None
    if existing is not None:
        if existing.same_plan(sweep):
            return existing
        raise SweepConflictError(
            f"sweep {sweep.name!r} already records other runs ({', '.join(existing.runs)}); choose another --sweep name"
        )
    text = json.dumps(sweep.to_dict(), indent=2) + "\n"
    store.artifacts.write_bytes(sweep_key(sweep.name), text.encode("utf-8"))
    return sweep


def load_sweep(store: RunStore, name: str) -> Sweep:
    """The sweep ``name``; SweepNotFoundError naming the sweeps there are, ValueError for a damaged record."""
    try:
        data = store.artifacts.read_bytes(sweep_key(name))
    except FileNotFoundError:
        known = sweep_names(store)
        raise SweepNotFoundError(
            f"no sweep named {name!r} in {store.artifacts.describe()}; its sweeps: {', '.join(known) or 'none'}"
        ) from None
    try:
        return Sweep.from_dict(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"{store.artifacts.describe(sweep_key(name))}: unreadable sweep record ({exc})") from exc


def sweep_names(store: RunStore) -> list[str]:
    """The names of the recorded sweeps, sorted."""
    found = (
        re.fullmatch(r"(.+)\.json", key.split("/", 1)[-1]) for key in store.artifacts.glob(f"{SWEEP_FOLDER}/*.json")
    )
    return sorted(m.group(1) for m in found if m and RUN_NAME_PATTERN.match(m.group(1)) and ".." not in m.group(1))


def sweep_status(store: RunStore, sweep: Sweep) -> dict[str, Any]:
    """The sweep with each run's state (``not started`` when it has no folder yet) and how many are finished."""
    present = set(store.names())
    runs = []
    for name in sweep.runs:
        summary = store.summary(name) if name in present else {"status": "not started"}
        meta = store.read_meta(name) if name in present and summary.get("model") else {}
        runs.append(
            {
                "name": name,
                "model": summary.get("model"),
                "seed": (meta.get("config") or {}).get("seed") if isinstance(meta.get("config"), dict) else None,
                "status": str(summary.get("status")),
                "epochs": summary.get("epochs"),
                "train_error": summary.get("train_error"),
                "test_error": summary.get("test_error"),
                "profile": summary.get("profile"),
                "dataset": summary.get("dataset"),
                "epochs_planned": summary.get("epochs_planned"),
                "width_scale": summary.get("width_scale"),
            }
        )
    finished = sum(1 for run in runs if run["status"] in (RunStatus.COMPLETE, RunStatus.IMPORTED))
    return {**sweep.to_dict(), "runs": runs, "finished": finished, "total": len(runs), "seed_spread": seed_spread(runs)}


# -- the seed spread ---------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _summary(values: Sequence[float], prefix: str) -> dict[str, float | None]:
    if not values:
        return {f"{prefix}_{key}": None for key in ("mean", "std", "min", "max")}
    return {
        f"{prefix}_mean": statistics.fmean(values),
        # The sample standard deviation (n − 1): the seeds are a sample of the initialisations one could draw.
        f"{prefix}_std": statistics.stdev(values) if len(values) > 1 else None,
        f"{prefix}_min": min(values),
        f"{prefix}_max": max(values),
    }


def seed_spread(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per model (runs that differ only by seed: same :data:`SAME_BUT_SEED`), the spread of its errors.

    ``rows``: run rows (``run`` or ``name``, ``model``, ``seed``, ``test_error``, ``train_error``, and
    optionally ``status``, ``profile``, ``dataset``, ``epochs_planned``, ``width_scale`` — a runs_frame
    row, a summary or a review's facts). Runs without a test error, or not finished when a ``status`` is
    given, are left out. One entry per group, in the order of its first run: the key's values, ``runs``,
    ``seeds``, ``n_seeds``, and ``test_error_`` / ``train_error_`` ``mean``, ``std`` (None for one seed),
    ``min`` and ``max``.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        if "status" in row and RunStatus.of(row) not in (RunStatus.COMPLETE, RunStatus.IMPORTED):
            continue
        if _number(row.get("test_error")) is None or _missing(row.get("model")):
            continue
        key = tuple(None if _missing(row.get(k)) else row.get(k) for k in SAME_BUT_SEED)
        groups.setdefault(key, []).append(row)
    spreads = []
    for key, members in groups.items():
        tests = [_number(m.get("test_error")) for m in members]
        trains = [v for v in (_number(m.get("train_error")) for m in members) if v is not None]
        spreads.append(
            {
                **dict(zip(SAME_BUT_SEED, key)),
                "runs": [str(m.get("run") or m.get("name")) for m in members],
                "seeds": [None if _missing(m.get("seed")) else int(m["seed"]) for m in members],
                "n_seeds": len(members),
                **_summary(tests, "test_error"),
                **_summary(trains, "train_error"),
            }
        )
    return spreads


def _missing(value: Any) -> bool:
    """None, NaN or pandas' NA (a frame's missing cell)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the one value unequal to itself
    except TypeError:
        return True  # pd.NA refuses to be a bool


def spread_of(spreads: Sequence[Mapping[str, Any]], run: str) -> Mapping[str, Any] | None:
    """The spread entry ``run`` belongs to, or None."""
    return next((s for s in spreads if run in s.get("runs", ())), None)


def spread_text(spread: Mapping[str, Any] | None, which: str = "test", label: bool = True) -> str:
    """``"test error 11.9 % ± 0.3 (3 seeds, 11.6–12.2 %)"`` (``which``: test or train; without ``label``, no
    ``"test error "``); ``""`` for fewer than two seeds (no spread to show).

    ``±`` is the sample standard deviation in percentage points; the range is the seeds' lowest and highest.
    """
    if not spread or (spread.get("n_seeds") or 0) < 2:
        return ""
    mean, std = spread.get(f"{which}_error_mean"), spread.get(f"{which}_error_std")
    low, high = spread.get(f"{which}_error_min"), spread.get(f"{which}_error_max")
    if mean is None or std is None or low is None or high is None:
        return ""
    text = f"{100 * mean:.1f} % ± {100 * std:.1f} ({spread['n_seeds']} seeds, {100 * low:.1f}–{100 * high:.1f} %)"
    return f"{which} error {text}" if label else text
