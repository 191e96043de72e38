"""Reading checkpoints safely (``weights_only=True``) with errors that name the file and the problem."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Keys under which common training scripts nest their state_dict.
_NESTED_STATE_KEYS = ("model", "state_dict", "model_state_dict", "net")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


def read_checkpoint(
    source: str | Path | bytes | None, map_location: str | torch.device = "cpu", label: str | None = None
) -> Any:
    """``torch.load(source, weights_only=True)``, turning every failure into a CheckpointError.

    ``source`` is a file path or the file's bytes (read from a run store; ``None`` when it was
    absent); ``label`` names it in messages. ``weights_only`` refuses pickles that would construct
    arbitrary objects, so a checkpoint from an untrusted source cannot run code while it loads.
    """
    if isinstance(source, (bytes, bytearray)):
        name, data = label or "checkpoint", io.BytesIO(source)
        size = len(source)
    else:
        name = label or str(source)
        if source is None or not Path(source).is_file():
            raise CheckpointError(f"{name}: no such checkpoint file")
        data, size = Path(source), Path(source).stat().st_size
    if size == 0:
        raise CheckpointError(f"{name}: the file is empty")
    try:
        return torch.load(data, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{name}: refused: it holds objects other than tensors and plain containers, which could "
            f"run code when loaded (weights_only=True). Save a plain state_dict instead. ({_first_line(exc)})"
        ) from exc
    except (EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{name}: truncated or corrupt checkpoint ({_first_line(exc)})") from exc
    except RuntimeError as exc:
        raise CheckpointError(f"{name}: truncated or corrupt checkpoint ({_first_line(exc)})") from exc
    except Exception as exc:
        raise CheckpointError(
            f"{name}: not a readable PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)})"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def extract_state_dict(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The tensor dict inside a loaded checkpoint: a plain state_dict or one nested under a usual key."""
    if isinstance(obj, dict):
        for key in _NESTED_STATE_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path}: no state_dict found (expected a dict of tensors, or one under "
            f"{', '.join(repr(k) for k in _NESTED_STATE_KEYS)})"
        )
    # Checkpoints saved from DataParallel / torch.compile prefix every key.
    for prefix in ("module.", "_orig_mod."):
        if all(key.startswith(prefix) for key in obj):
            obj = {key[len(prefix) :]: value for key, value in obj.items()}
    return obj


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``state_dict`` into ``model`` strictly; mismatched shapes and keys are listed in the error."""
    own = model.state_dict()
    problems = []
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing:
        problems.append(f"missing keys: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected[:8])}{' …' if len(unexpected) > 8 else ''}")
    shapes = [
        f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(own[key].shape)}"
        for key in own
        if key in state_dict and state_dict[key].shape != own[key].shape
    ]
    if shapes:
        problems.append("shape mismatch for " + "; ".join(shapes[:6]) + (" …" if len(shapes) > 6 else ""))
    if problems:
        raise CheckpointError(f"{path}: does not fit this model ({' | '.join(problems)})")
    model.load_state_dict(state_dict)


def load_checkpoint_into(model: nn.Module, path: str | Path) -> None:
    """Read a weights file and load it into ``model`` (both steps with clear errors)."""
    load_weights(model, extract_state_dict(read_checkpoint(path), path), path)
