"""Training and analysis jobs for the Jobs page: validated inputs, progress reports, cooperative cancel.

A job is a plain function: it checks every name before any work, reports ``(fraction, text)``
through ``report`` as it goes, and polls ``cancelled`` between steps (between epochs when
training, between analyses when analysing). A cancelled training leaves a resumable run: the
same job started again resumes it from its last epoch checkpoint. Nothing here knows Dash; the
page wraps these functions in a background callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from model_zoo import UnknownModelError, canonical_name, model_names

from .cache import AnalysisCache
from .data.datasets import DATASET_NAMES, DatasetError, load_dataset
from .pipeline import AnalysisError, AnalysisParams, RunAnalyzer
from .runs.checkpoints import CheckpointError
from .runs.store import BrokenRunError, RunNameError, RunNotFoundError, RunStatus, RunStore, check_run_name
from .training.profiles import DATA_SEED, TrainingProfile, get_profile
from .training.trainer import RunConflictError, Trainer, TrainingEvent, default_run_name

log = logging.getLogger(__name__)

Report = Callable[[float, str], None]
Cancelled = Callable[[], bool]

MAX_EPOCHS = 1000  # a typo guard: more epochs than this is never what was meant

#: Failures of one run that the user can act on: an analysis job reports them and goes on with the others.
RUN_ERRORS = (AnalysisError, BrokenRunError, RunNotFoundError, RunNameError, CheckpointError, DatasetError)

#: Everything a job refuses or fails with for a reason the user can fix (shown as a message, not a traceback).
JOB_ERRORS = (*RUN_ERRORS, UnknownModelError, RunConflictError, ValueError)
# How a job ended (the "status" of its result); a run's own state is a RunStatus.
JOB_COMPLETE, JOB_STOPPED, JOB_FAILED = "complete", "stopped", "failed"


class JobInputError(ValueError):
    """A job was asked for something it cannot do (no models, a bad epoch count …); the message says what."""


def _no_report(_fraction: float, _text: str) -> None:
    return None


def _never() -> bool:
    return False


# -- checking inputs -------------------------------------------------------------------------------
def check_models(models: Sequence[str]) -> list[str]:
    """Canonical names of ``models`` (aliases allowed), duplicates dropped; an unknown name raises."""
    if isinstance(models, str):
        models = [models]
    names = [canonical_name(str(name).strip()) for name in (models or []) if str(name).strip()]
    if not names:
        raise JobInputError(f"choose at least one model to train ({', '.join(model_names())})")
    return list(dict.fromkeys(names))


def check_profile(profile: str) -> TrainingProfile:
    """The training profile named ``profile`` (quick, demo or paper)."""
    return get_profile(str(profile))


def check_dataset(dataset: str) -> str:
    """``dataset`` if it is one of :data:`~analysis.data.datasets.DATASET_NAMES`."""
    key = str(dataset).strip().lower()
    if key not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASET_NAMES)}")
    return key


def check_epochs(epochs: Any) -> int | None:
    """``None`` (the profile's epochs) or a whole number from 1 to :data:`MAX_EPOCHS`."""
    if epochs is None or epochs == "":
        return None
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float, str)):
        raise JobInputError(f"epochs must be a whole number, got {epochs!r}")
    try:
        number = float(epochs)
    except ValueError:
        raise JobInputError(f"epochs must be a whole number, got {epochs!r}") from None
    if not number.is_integer() or not 1 <= number <= MAX_EPOCHS:
        raise JobInputError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}, got {epochs!r}")
    return int(number)


def check_runs(store: RunStore, runs: Sequence[str]) -> list[str]:
    """``runs`` checked as plain names of runs present in ``store``; duplicates dropped."""
    if isinstance(runs, str):
        runs = [runs]
    names = list(dict.fromkeys(check_run_name(name) for name in (runs or [])))
    if not names:
        raise JobInputError("choose at least one run to analyse")
    missing = [name for name in names if not store.exists(name)]
    if missing:
        raise RunNotFoundError(f"no run named {', '.join(repr(m) for m in missing)} in {store.artifacts.describe()}")
    return names


# -- training --------------------------------------------------------------------------------------
def train_job(
    runs_dir: str | Path,
    models: Sequence[str],
    profile: str,
    dataset: str,
    data_dir: str | Path | None,
    epochs: int | None = None,
    *,
    report: Report = _no_report,
    cancelled: Cancelled = _never,
    device: str = "auto",
    seed: int = 0,
    data_seed: int = DATA_SEED,
) -> dict[str, Any]:
    """Train (or resume, or skip when complete) ``models`` into ``runs_dir``, one after another.

    Returns ``{"kind": "train", "status": "complete" | "stopped", "runs": [...], "results": [...],
    "dataset": ..., "dataset_description": ..., "message": ...}``; ``results`` holds one row per
    model reached (name, model, status, epochs_done, epochs_planned, test_error). Bad names, a bad
    profile, dataset or epoch count raise before anything is trained.
    """
    names = check_models(models)
    chosen = check_profile(profile).with_epochs(check_epochs(epochs))
    dataset_name = check_dataset(dataset)
    store = RunStore(runs_dir)

    report(0.0, f"loading the {dataset_name} dataset")
    data = load_dataset(dataset_name, data_dir=data_dir, log=lambda text: report(0.0, text))
    data = data.subset(chosen.max_train_images, chosen.max_test_images, seed=data_seed)
    report(
        0.0,
        f"training {len(names)} model(s), profile {chosen.name} ({chosen.epochs} epochs, width × "
        f"{chosen.width_scale:g}) on {data.description}",
    )

    position = {"index": 0, "events": 0}

    def on_event(event: TrainingEvent) -> None:
        position["events"] += 1
        if event.status == RunStatus.COMPLETE:
            return  # the loop below reports the final errors
        done = (position["index"] + event.epoch / max(1, event.epochs)) / len(names)
        if event.status == RunStatus.TRAINING and event.row is None:
            verb = "resuming" if event.epoch else "starting"
            text = f"{event.run}: {verb} at epoch {event.epoch}/{event.epochs}"
        elif event.status == RunStatus.TRAINING:
            text = (
                f"{event.run}: epoch {event.epoch}/{event.epochs} · test error "
                f"{100 * event.row['test_error']:.1f} % · {event.row['seconds']:.1f} s"
            )
        elif event.status == RunStatus.STOPPED:
            text = f"{event.run}: stopped after epoch {event.epoch}/{event.epochs}; start the job again to resume"
        else:
            text = f"{event.run}: {event.status}"
        report(min(1.0, done), text)

    trainer = Trainer(store, chosen, device=device, seed=seed, progress=False, callback=on_event, should_stop=cancelled)
    results: list[dict[str, Any]] = []
    status = JOB_COMPLETE
    for index, model in enumerate(names):
        position["index"], position["events"] = index, 0
        run_name = default_run_name(model, chosen.name, data.name, seed)
        if cancelled():
            status = JOB_STOPPED
            break
        report(index / len(names), f"{run_name}: model {index + 1} of {len(names)}")
        try:
            meta = trainer.fit(model, data, run_name=run_name)
        except RunConflictError as exc:
            raise RunConflictError(
                f"a run named {run_name!r} already exists with other settings (model, profile, epochs, dataset "
                f"or seed), so it cannot be resumed; delete {store.location(run_name)} or train with "
                f"`python -m analysis train --name …`"
            ) from exc
        results.append(
            {
                "name": run_name,
                "model": model,
                "status": meta.get("status"),
                "epochs_done": meta.get("epochs_done"),
                "epochs_planned": meta.get("epochs_planned"),
                "test_error": meta.get("test_error"),
            }
        )
        if meta.get("status") == RunStatus.STOPPED:
            status = JOB_STOPPED
            break
        error = meta.get("test_error")
        error_text = f"{100 * error:.1f} %" if isinstance(error, float) else "–"
        already = "already trained" if not position["events"] else "complete"
        report((index + 1) / len(names), f"{run_name}: {already}, test error {error_text}")

    trained = [row["name"] for row in results]
    if status == JOB_STOPPED:
        message = "Stopped; the runs keep their last finished epoch. Start the same training again to resume: " + (
            ", ".join(trained) if trained else "nothing was started"
        )
    else:
        message = f"Trained {len(trained)} run(s): {', '.join(trained)}"
        report(1.0, "done: " + message)
    log.info("train job %s: %s", status, message)
    return {
        "kind": "train",
        "status": status,
        "runs": trained,
        "results": results,
        "dataset": data.name,
        "dataset_description": data.description,
        "profile": chosen.name,
        "message": message,
    }


# -- analysis --------------------------------------------------------------------------------------
def analyze_job(
    runs_dir: str | Path,
    cache_dir: str | Path,
    runs: Sequence[str],
    data_dir: str | Path | None,
    *,
    report: Report = _no_report,
    cancelled: Cancelled = _never,
    snapshots: bool = True,
    params: AnalysisParams | None = None,
) -> dict[str, Any]:
    """Compute and cache every analysis of ``runs`` (what the pages read), one run after another.

    Returns ``{"kind": "analyze", "status": "complete" | "stopped" | "failed", "runs": [...analysed],
    "failed": {run: why}, "message": ...}``. A run that cannot be analysed (no weights yet, data
    missing) is reported in ``failed`` and the others go on; bad or unknown names raise first.
    """
    store = RunStore(runs_dir)
    names = check_runs(store, runs)
    analyzer = RunAnalyzer(
        store, AnalysisCache(cache_dir), params or AnalysisParams(), data_dir=data_dir, allow_compute=True
    )
    done: list[str] = []
    failed: dict[str, str] = {}
    status = JOB_COMPLETE
    try:
        for index, name in enumerate(names):
            if cancelled():
                status = JOB_STOPPED
                break
            report(index / len(names), f"{name}: run {index + 1} of {len(names)}")
            try:
                steps = analyzer.steps(name, snapshots)
                for number, (label, step) in enumerate(steps):
                    if cancelled():
                        status = JOB_STOPPED
                        break
                    report((index + number / len(steps)) / len(names), f"{name}: {label}")
                    step()
                if status == JOB_STOPPED:
                    break
            except RUN_ERRORS as exc:
                failed[name] = str(exc)
                report((index + 1) / len(names), f"{name}: failed: {exc}")
                log.warning("analysis of %s failed: %s", name, exc)
                continue
            done.append(name)
            report((index + 1) / len(names), f"{name}: analysed")
    finally:
        analyzer.cache.close()

    if status == JOB_STOPPED:
        message = "Stopped; finished analyses stay cached, so starting again goes on where it stopped. " + (
            f"Analysed: {', '.join(done)}" if done else "No run was finished."
        )
    elif failed and not done:
        status = JOB_FAILED
        message = "No run could be analysed."
    else:
        message = f"Analysed {len(done)} run(s): {', '.join(done)}" if done else "Nothing to analyse."
        report(1.0, "done: " + message)
    if failed:
        message += " Failed: " + "; ".join(f"{name}: {why}" for name, why in failed.items())
    log.info("analysis job %s: %s", status, message)
    return {"kind": "analyze", "status": status, "runs": done, "failed": failed, "message": message}
