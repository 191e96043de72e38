"""Import an existing state_dict checkpoint as a run of a registered model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import torch

from model_zoo import ModelOptions, build_model, canonical_name, count_flops, count_parameters, get_spec

from ..data.datasets import ImageDataset
from ..training.evaluation import Normalization, evaluate, resolve_device, resolve_precision
from .checkpoints import CheckpointError, extract_state_dict, load_weights, read_checkpoint
from .store import FINAL_WEIGHTS, RunStatus, RunStore, check_run_name


def infer_options(model_name: str, state_dict: dict[str, torch.Tensor], path: str | Path) -> ModelOptions:
    """Width scale and batch norm read off the weights themselves (conv1's width, presence of BN keys)."""
    spec = get_spec(model_name)
    first = state_dict.get("features.conv1.conv.weight")
    if first is None or first.dim() != 4:
        raise CheckpointError(f"{path}: no 'features.conv1.conv.weight' tensor; is it a {spec.name} checkpoint?")
    width_scale = first.shape[0] / (int(spec.plan[0]) * spec.width)
    batch_norm = "features.conv1.bn.weight" in state_dict
    return ModelOptions(width_scale=width_scale, batch_norm=batch_norm)


def import_run(
    store: RunStore,
    model_name: str,
    checkpoint: str | Path,
    run_name: str,
    dataset: ImageDataset | None = None,
    options: ModelOptions | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Check and copy the weights into run ``run_name``; evaluate them on ``dataset`` when given."""
    model_name = canonical_name(model_name)
    check_run_name(run_name)
    if store.exists(run_name):
        raise FileExistsError(f"run {run_name!r} already exists in {store.artifacts.describe()}; choose another name")
    state_dict = extract_state_dict(read_checkpoint(checkpoint), checkpoint)
    options = options or infer_options(model_name, state_dict, checkpoint)
    num_classes = (
        int(state_dict["classifier.fc2.linear.weight"].shape[0]) if "classifier.fc2.linear.weight" in state_dict else 10
    )
    model = build_model(model_name, options, num_classes=num_classes)
    load_weights(model, state_dict, checkpoint)
    spec = model.spec
    meta: dict[str, Any] = {
        "name": run_name,
        "model": model_name,
        "title": spec.title or spec.name,
        "profile": "imported",
        "source_checkpoint": str(Path(checkpoint).resolve()),
        "model_options": options.to_dict(),
        "conv_layers": spec.conv_layers,
        "pool_layers": spec.pool_layers,
        "fc_layers": spec.fc_layers,
        "width": spec.width,
        "width_scale": options.width_scale,
        "params": count_parameters(model),
        "flops": count_flops(model),
        "epochs_planned": None,
        "epochs_done": 0,
        "status": RunStatus.IMPORTED,
        "dataset": None,
        "dataset_description": None,
        "train_error": None,
        "test_error": None,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if dataset is not None:
        if dataset.num_classes != num_classes:
            raise CheckpointError(
                f"{checkpoint}: has {num_classes} outputs but dataset {dataset.name} has {dataset.num_classes} classes"
            )
        torch_device = resolve_device(device)
        precision = resolve_precision("auto", torch_device)
        model.to(torch_device, memory_format=torch.channels_last)
        normalization = Normalization(dataset.channel_mean, dataset.channel_std)
        train = evaluate(model, dataset.train_images, dataset.train_labels, normalization, precision=precision)
        test = evaluate(model, dataset.test_images, dataset.test_labels, normalization, precision=precision)
        meta.update(
            dataset=dataset.name,
            dataset_description=dataset.description,
            dataset_hash=dataset.content_hash,
            class_names=list(dataset.class_names),
            n_train=len(dataset.train_images),
            n_test=len(dataset.test_images),
            train_error=train.error,
            test_error=test.error,
            train_loss=train.loss,
            test_loss=test.loss,
        )
    store.save_checkpoint(run_name, FINAL_WEIGHTS, {k: v.cpu() for k, v in model.state_dict().items()})
    store.write_meta(run_name, meta)  # written last: a run without run.json is not listed
    return meta
