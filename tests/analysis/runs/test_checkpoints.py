"""Checkpoint import and loading: the good case and every clear error."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from analysis.runs.checkpoints import CheckpointError, load_checkpoint_into, read_checkpoint
from analysis.runs.importer import import_run
from analysis.runs.store import RunStore
from model_zoo import build_model


class RunsCode:
    """A pickle payload that would create ``marker`` (a shell command) when unpickled without weights_only."""

    def __init__(self, marker: str = "/tmp/cnncmp-pwned") -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def small_weights(tmp_path):
    model = build_model("shallow", width_scale=1 / 8)
    path = tmp_path / "shallow.pt"
    torch.save(model.state_dict(), path)
    return model, path


def test_import_infers_width_and_bn_and_copies_weights(tmp_path, small_weights):
    model, path = small_weights
    meta = import_run(RunStore(tmp_path / "runs"), "shallow", path, "imported-shallow")
    assert meta["status"] == "imported" and meta["model_options"]["width_scale"] == pytest.approx(1 / 8)
    assert meta["model_options"]["batch_norm"] is True
    loaded = build_model("shallow", width_scale=1 / 8)
    load_checkpoint_into(loaded, tmp_path / "runs" / "imported-shallow" / "model.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert RunStore(tmp_path / "runs").summary("imported-shallow")["status"] == "imported"


def test_nested_and_prefixed_state_dicts_are_accepted(tmp_path, small_weights):
    model, _ = small_weights
    path = tmp_path / "nested.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    target = build_model("shallow", width_scale=1 / 8)
    load_checkpoint_into(target, path)
    # The "module." prefix of a DataParallel save is dropped and the nested state_dict found: same weights.
    assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), model.state_dict().values()))


def test_truncated_checkpoint_names_file_and_problem(tmp_path, small_weights):
    _, path = small_weights
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match=r"shallow\.pt: truncated or corrupt"):
        read_checkpoint(path)


def test_garbage_and_empty_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="garbage.pt"):
        read_checkpoint(garbage)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(empty)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")


def test_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weights": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(CheckpointError):
        read_checkpoint(plain)
    assert not os.path.exists("/tmp/cnncmp-pwned")


def test_shape_mismatch_lists_the_tensors(tmp_path, small_weights):
    _, path = small_weights
    target = build_model("shallow", width_scale=1 / 4)
    with pytest.raises(
        CheckpointError, match=r"shape mismatch for features\.conv1\.conv\.weight: checkpoint \(8, 3, 3, 3\)"
    ):
        load_checkpoint_into(target, path)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint_into(build_model("base", width_scale=1 / 8), path)


def test_import_refuses_existing_run(tmp_path, small_weights):
    _, path = small_weights
    store = RunStore(tmp_path / "runs")
    import_run(store, "shallow", path, "x")
    with pytest.raises(FileExistsError):
        import_run(store, "shallow", path, "x")
