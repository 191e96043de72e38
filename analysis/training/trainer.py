"""Resumable, deterministic training of a family member, in the manner of airbench.

Data lives in memory as uint8 tensors on the training device; each batch is augmented as a
whole (random crop + flip) and normalised there. channels_last + bf16 autocast make the convs
use the fast kernels. Every epoch ends with an atomic resume checkpoint, so a run killed at any
moment resumes losing at most one epoch, and reproduces the same numbers it would have had.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from model_zoo import FamilyCNN, ModelOptions, build_model, canonical_name, count_flops, count_parameters

from ..data.datasets import ImageDataset
from ..runs.checkpoints import CheckpointError
from ..runs.store import (
    FINAL_WEIGHTS,
    RESUME_CHECKPOINT,
    RunStatus,
    RunStore,
    snapshot_key,
)
from .augment import random_crop_flip
from .evaluation import Normalization, autocast, evaluate, resolve_device, resolve_precision
from .profiles import TrainingProfile, default_snapshot_epochs

CHECKPOINT_FORMAT = 1
PROBE_IMAGES = 256  # fixed images on which dead ReLU units are counted each epoch


STOP_CHECK_STEPS = 10  # steps between checks of a stop request inside an epoch
HEARTBEAT_SECONDS = 30.0  # how often a training run says it is alive (run.json "heartbeat")


class RunConflictError(ValueError):
    """A run of that name exists with a different configuration."""


class _StopRequested(Exception):
    """Raised inside an epoch when a stop was requested; the last checkpoint stays the resume point."""


@dataclass
class TrainingEvent:
    """What a progress callback receives after each epoch (and at the start and end)."""

    run: str
    epoch: int
    epochs: int
    row: dict[str, Any] | None
    status: str


def default_run_name(model: str, profile: str, dataset: str, seed: int = 0) -> str:
    """``MODEL-PROFILE-DATASET``, with ``-seedN`` after it for seeds other than 0 (seed 0 keeps the plain name)."""
    base = f"{canonical_name(model)}-{profile}-{dataset}"
    return base if seed == 0 else f"{base}-seed{seed}"


def learning_rate_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up to ``peak``, then cosine decay to zero; a pure function of the step (nothing to resume)."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def run_config(model: str, profile: TrainingProfile, dataset: ImageDataset, seed: int) -> dict[str, Any]:
    """What defines a run: equal configs resume each other, different ones conflict."""
    return {
        "model": canonical_name(model),
        "profile": profile.name,
        "hyperparameters": profile.to_dict(),
        "dataset": dataset.name,
        "dataset_hash": dataset.content_hash,
        "seed": seed,
    }


def model_options(profile: TrainingProfile) -> ModelOptions:
    return ModelOptions(width_scale=profile.width_scale, batch_norm=profile.batch_norm, dropout=profile.dropout)


class Trainer:
    """Trains one model of the family into a run folder, resuming it when it was interrupted.

    Parameters are stored untouched; ``fit`` does the work and returns the run's metadata.
    """

    def __init__(
        self,
        store: RunStore,
        profile: TrainingProfile,
        device: str | None = "auto",
        precision: str = "auto",
        seed: int = 0,
        snapshot_epochs: tuple[int, ...] | None = None,
        progress: bool = True,
        callback: Callable[[TrainingEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.profile = profile
        self.device = device
        self.precision = precision
        self.seed = seed
        self.snapshot_epochs = snapshot_epochs
        self.progress = progress
        self.callback = callback
        self.should_stop = should_stop

    # -- public -------------------------------------------------------------------------------
    def fit(self, model_name: str, dataset: ImageDataset, run_name: str | None = None) -> dict[str, Any]:
        """Train (or resume, or just return) the run; returns its ``run.json`` content."""
        profile = self.profile
        model_name = canonical_name(model_name)
        run_name = run_name or default_run_name(model_name, profile.name, dataset.name, self.seed)
        config = run_config(model_name, profile, dataset, self.seed)

        if self.store.exists(run_name):
            meta = self.store.read_meta(run_name)
            if meta.get("config") != config:
                raise RunConflictError(
                    f"run {run_name!r} exists with another configuration (model, profile, epochs, dataset or seed); "
                    f"choose another name or delete {self.store.location(run_name)}"
                )
            if meta.get("status") == RunStatus.COMPLETE and self.store.has_file(run_name, FINAL_WEIGHTS):
                return meta

        device = resolve_device(self.device)
        precision = resolve_precision(self.precision, device)
        torch.manual_seed(self.seed)
        model = build_model(model_name, model_options(profile), num_classes=dataset.num_classes)
        model = model.to(device, memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=profile.learning_rate,
            momentum=profile.momentum,
            weight_decay=profile.weight_decay,
            nesterov=True,
        )

        history: list[dict[str, Any]] = []
        start_epoch = 0
        if self.store.has_file(run_name, RESUME_CHECKPOINT):
            state = self.store.load_checkpoint(run_name, RESUME_CHECKPOINT, map_location=device)
            if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or state.get("config") != config:
                raise CheckpointError(
                    f"{self.store.location(run_name, RESUME_CHECKPOINT)}: not a resume "
                    "checkpoint of this run's configuration"
                )
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history = list(state["history"])
            start_epoch = int(state["epoch"])

        meta = self._initial_meta(run_name, model_name, model, dataset, config, device, precision, start_epoch)
        self.store.write_meta(run_name, meta)
        self._heartbeat = _Heartbeat(self.store, run_name, meta)
        # The checkpoint is the source of truth: rewrite the history it holds (drops any later, unsaved rows).
        self.store.write_history(run_name, history)

        train_images = dataset.train_images.to(device)
        train_labels = dataset.train_labels.to(device)
        normalization = Normalization(dataset.channel_mean, dataset.channel_std)
        probe = train_images[:PROBE_IMAGES]
        # Learning curves on a fixed part of each split (profile.curve_images); the final errors use all of it.
        curve_test_images = dataset.test_images[: profile.curve_images]
        curve_test_labels = dataset.test_labels[: profile.curve_images]
        eval_size = min(len(dataset.train_images), max(len(curve_test_images), 1))
        meta["curve_images"] = {"train": eval_size, "test": len(curve_test_images)}
        snapshots = set(self.snapshot_epochs or default_snapshot_epochs(profile.epochs))
        meta["snapshot_epochs"] = sorted(snapshots)  # the plan: a snapshot missing later is damage, not a choice
        steps_per_epoch = math.ceil(len(train_images) / profile.batch_size)
        total_steps = steps_per_epoch * profile.epochs
        warmup_steps = max(1, round(profile.warmup_epochs * steps_per_epoch))

        bar = tqdm(
            total=profile.epochs,
            initial=start_epoch,
            desc=run_name,
            unit="epoch",
            disable=not self.progress,
            leave=True,
            dynamic_ncols=True,
        )
        self._emit(run_name, start_epoch, None, RunStatus.TRAINING)
        try:
            for epoch in range(start_epoch + 1, profile.epochs + 1):
                if self.should_stop and self.should_stop():
                    raise _StopRequested
                started = time.perf_counter()
                fit_loss, fit_error, grad_norms = self._train_epoch(
                    model,
                    optimizer,
                    train_images,
                    train_labels,
                    normalization,
                    device,
                    precision,
                    epoch,
                    steps_per_epoch,
                    total_steps,
                    warmup_steps,
                )
                train_seconds = time.perf_counter() - started
                train_eval = evaluate(
                    model,
                    dataset.train_images[:eval_size],
                    dataset.train_labels[:eval_size],
                    normalization,
                    device=device,
                    precision=precision,
                )
                test_eval = evaluate(
                    model, curve_test_images, curve_test_labels, normalization, device=device, precision=precision
                )
                row = {
                    "epoch": epoch,
                    "lr": learning_rate_at(
                        epoch * steps_per_epoch - 1, total_steps, warmup_steps, profile.learning_rate
                    ),
                    "fit_loss": fit_loss,
                    "fit_error": fit_error,
                    "train_loss": train_eval.loss,
                    "train_error": train_eval.error,
                    "test_loss": test_eval.loss,
                    "test_error": test_eval.error,
                    "images_per_s": len(train_images) / train_seconds,
                    "seconds": time.perf_counter() - started,
                    "health": training_health(model, grad_norms, probe, normalization, precision),
                }
                history.append(row)
                if epoch in snapshots:
                    self.store.save_checkpoint(run_name, snapshot_key(epoch), model.state_dict())
                self.store.save_checkpoint(
                    run_name,
                    RESUME_CHECKPOINT,
                    {
                        "format": CHECKPOINT_FORMAT,
                        "epoch": epoch,
                        "config": config,
                        "history": history,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                    },
                )
                self.store.write_history(run_name, history)
                meta.update(
                    epochs_done=epoch,
                    test_error=row["test_error"],
                    updated=_now(),
                    heartbeat=_now(),
                    train_seconds=sum(r["seconds"] for r in history),
                )
                self.store.write_meta(run_name, meta)
                bar.update(1)
                bar.set_postfix(test_error=f"{row['test_error']:.3f}", img_s=f"{row['images_per_s']:.0f}")
                self._emit(run_name, epoch, row, RunStatus.TRAINING)
        except _StopRequested:
            # The partial epoch is dropped: resuming restarts it from the last checkpoint.
            meta["status"] = RunStatus.STOPPED
            self.store.write_meta(run_name, meta)
            self._emit(run_name, meta["epochs_done"], None, RunStatus.STOPPED)
            return meta
        finally:
            bar.close()

        final_train = evaluate(
            model, dataset.train_images, dataset.train_labels, normalization, device=device, precision=precision
        )
        final_test = evaluate(
            model, dataset.test_images, dataset.test_labels, normalization, device=device, precision=precision
        )
        self.store.save_checkpoint(run_name, FINAL_WEIGHTS, model.state_dict())
        meta.update(
            status=RunStatus.COMPLETE,
            train_error=final_train.error,
            test_error=final_test.error,
            train_loss=final_train.loss,
            test_loss=final_test.loss,
            updated=_now(),
        )
        self.store.write_meta(run_name, meta)
        self._emit(run_name, profile.epochs, None, RunStatus.COMPLETE)
        return meta

    # -- internals ----------------------------------------------------------------------------
    def _train_epoch(
        self,
        model: FamilyCNN,
        optimizer: torch.optim.Optimizer,
        images: torch.Tensor,
        labels: torch.Tensor,
        normalization: Normalization,
        device: torch.device,
        precision: str,
        epoch: int,
        steps_per_epoch: int,
        total_steps: int,
        warmup_steps: int,
    ) -> tuple[float, float, dict[str, float]]:
        profile = self.profile
        # Seeding every epoch from (seed, epoch) makes a resumed run draw the same batches,
        # crops and dropout masks as an uninterrupted one.
        epoch_seed = self.seed * 100_003 + epoch
        torch.manual_seed(epoch_seed)
        generator = torch.Generator(device=device).manual_seed(epoch_seed)
        order = torch.randperm(len(images), device=device, generator=generator)
        layers = model.analysable_layers()
        weights = [layer.weight.weight for layer in layers]
        grad_norm_sums = torch.zeros(len(weights), device=device)
        loss_sum = torch.zeros((), device=device)
        wrong = torch.zeros((), device=device)
        model.train()
        for step_in_epoch in range(steps_per_epoch):
            if step_in_epoch and step_in_epoch % STOP_CHECK_STEPS == 0:
                self._heartbeat.beat()
                if self.should_stop and self.should_stop():
                    raise _StopRequested
            index = order[step_in_epoch * profile.batch_size : (step_in_epoch + 1) * profile.batch_size]
            batch = images[index]
            if profile.augment:
                batch = random_crop_flip(batch, padding=4, generator=generator)
            batch = normalization(batch).contiguous(memory_format=torch.channels_last)
            target = labels[index]
            step = (epoch - 1) * steps_per_epoch + step_in_epoch
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, total_steps, warmup_steps, profile.learning_rate)
            with autocast(device, precision):
                logits = model(batch)
            loss = F.cross_entropy(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm_sums += torch.stack(torch._foreach_norm([w.grad for w in weights]))
            optimizer.step()
            # Accumulate on the device: a .item() per step would synchronise a GPU every step.
            loss_sum += loss.detach() * len(index)
            wrong += (logits.argmax(dim=1) != target).sum()
        n = len(images)
        grad_norms = (grad_norm_sums / steps_per_epoch).tolist()
        return loss_sum.item() / n, wrong.item() / n, {layer.name: g for layer, g in zip(layers, grad_norms)}

    def _initial_meta(
        self,
        run_name: str,
        model_name: str,
        model: FamilyCNN,
        dataset: ImageDataset,
        config: dict,
        device: torch.device,
        precision: str,
        start_epoch: int,
    ) -> dict[str, Any]:
        profile = self.profile
        spec = model.spec
        previous = self.store.read_meta(run_name) if self.store.exists(run_name) else {}
        return {
            "name": run_name,
            "model": model_name,
            "title": spec.title or spec.name,
            "profile": profile.name,
            "dataset": dataset.name,
            "dataset_description": dataset.description,
            "dataset_hash": dataset.content_hash,
            # Where the files came from (an image folder is read again from there) and which subset was cut.
            "dataset_source": dataset.source,
            "data_seed": dataset.subset_seed,
            "class_names": list(dataset.class_names),
            "n_train": len(dataset.train_images),
            "n_test": len(dataset.test_images),
            "config": config,
            "model_options": model.options.to_dict(),
            "conv_layers": spec.conv_layers,
            "pool_layers": spec.pool_layers,
            "fc_layers": spec.fc_layers,
            "width": spec.width,
            "width_scale": profile.width_scale,
            "params": count_parameters(model),
            "flops": count_flops(model),
            "epochs_planned": profile.epochs,
            "epochs_done": start_epoch,
            "status": RunStatus.TRAINING,
            "device": device.type,
            "precision": precision,
            "created": previous.get("created", _now()),
            "updated": _now(),
            "heartbeat": _now(),
            "trainer": {"host": socket.gethostname(), "pid": os.getpid()},
            "train_seconds": previous.get("train_seconds", 0.0),
            "train_error": None,
            "test_error": previous.get("test_error"),
        }

    def _emit(self, run: str, epoch: int, row: dict | None, status: str) -> None:
        if self.callback:
            self.callback(TrainingEvent(run, epoch, self.profile.epochs, row, status))


@torch.inference_mode()
def training_health(
    model: FamilyCNN,
    grad_norms: dict[str, float],
    probe: torch.Tensor,
    normalization: Normalization,
    precision: str,
) -> dict[str, dict[str, float | None]]:
    """Per analysable layer: weight norm, mean gradient norm over the epoch, and dead-unit fraction.

    A unit is dead when its post-ReLU response is zero at every position of every probe image:
    it passes no signal and receives no gradient (the failing-training case of CNNVis).
    """
    layers = model.analysable_layers()
    peaks: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable:
        def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            dims = [0, 2, 3] if output.dim() == 4 else [0]
            peaks[name] = output.float().amax(dim=dims)

        return record

    handles = [layer.module.register_forward_hook(hook(layer.name)) for layer in layers if layer.relu]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        batch = normalization(probe).contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            model(batch)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {
        layer.name: {
            "weight_norm": layer.weight.weight.detach().float().norm().item(),
            "grad_norm": grad_norms.get(layer.name),
            "dead_fraction": (peaks[layer.name] <= 0).float().mean().item() if layer.name in peaks else None,
        }
        for layer in layers
    }


class _Heartbeat:
    """Rewrites the run's ``heartbeat`` at most every HEARTBEAT_SECONDS, so a reader can tell a live run from one
    whose trainer was killed (:func:`analysis.runs.store.interrupted_reason`)."""

    def __init__(self, store: RunStore, run: str, meta: dict[str, Any]) -> None:
        self.store, self.run, self.meta = store, run, meta
        self.last = time.monotonic()

    def beat(self) -> None:
        if time.monotonic() - self.last >= HEARTBEAT_SECONDS:
            self.last = time.monotonic()
            self.meta["heartbeat"] = _now()
            self.store.write_meta(self.run, self.meta)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
