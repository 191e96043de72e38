"""The artifact store on a local folder and on an S3-compatible bucket (moto on loopback), and runs on it."""

from __future__ import annotations

import itertools

import pytest
import torch

from analysis.runs.checkpoints import CheckpointError
from analysis.runs.storage import ArtifactStore, StorageError, open_store
from analysis.runs.store import BrokenRunError, RunStore

_counter = itertools.count()


@pytest.fixture(params=["local", "s3"])
def store_url(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store")
    server = request.getfixturevalue("s3_server")
    return server.url(f"store-{next(_counter)}")


def test_bytes_round_trip_listing_and_stamps(store_url):
    store = ArtifactStore(store_url)
    assert store.list() == [] and not store.exists("a/b.txt") and store.stamp("a/b.txt") is None
    store.write_bytes("a/b.txt", b"one")
    store.write_bytes("a/sub/c.bin", b"\x00\x01")
    store.write_bytes("d/b.txt", b"two")
    assert store.read_bytes("a/b.txt") == b"one" and store.exists("a/b.txt")
    assert store.list() == ["a", "d"] and store.list("a") == ["b.txt", "sub"]
    assert store.glob("*/b.txt") == ["a/b.txt", "d/b.txt"]
    before = store.stamp("a/b.txt")
    store.write_bytes("a/b.txt", b"three!")
    assert store.stamp("a/b.txt") != before and store.read_bytes("a/b.txt") == b"three!"
    store.delete("a/b.txt")
    assert not store.exists("a/b.txt")
    with pytest.raises(FileNotFoundError):
        store.read_bytes("a/b.txt")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a\\b", "", "a//b", "./a"])
def test_keys_cannot_leave_the_store(tmp_path, key):
    with pytest.raises(ValueError, match="invalid artifact key"):
        ArtifactStore(tmp_path).read_bytes(key)


def test_runs_and_checkpoints_on_the_store(store_url):
    runs = RunStore(store_url)
    runs.write_meta("r1", {"model": "base", "status": "complete"})
    runs.write_history("r1", [{"epoch": 1, "test_error": 0.5}])
    runs.save_checkpoint("r1", "model.pt", {"w": torch.arange(3.0)})
    runs.save_checkpoint("r1", "snapshots/epoch_002.pt", {"w": torch.zeros(1)})
    assert runs.names() == ["r1"] and runs.exists("r1")
    assert runs.read_history("r1") == [{"epoch": 1, "test_error": 0.5}]
    assert torch.equal(runs.load_checkpoint("r1", "model.pt")["w"], torch.arange(3.0))
    assert runs.snapshot_epochs("r1") == [2]
    assert runs.summary("r1")["status"] == "complete"
    stamp = runs.stamp()
    runs.write_history("r1", [{"epoch": 1}, {"epoch": 2}])
    if runs.artifacts.is_local:
        assert runs.stamp() != stamp
    runs.artifacts.write_bytes("r1/model.pt", b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="r1/model.pt"):
        runs.load_checkpoint("r1", "model.pt")
    runs.artifacts.write_bytes("r1/history.jsonl", b'{"epoch": 1}\n{"epo')
    with pytest.raises(BrokenRunError, match="line 2"):
        runs.read_history("r1")


def test_an_unreachable_bucket_is_a_storage_error_naming_it(monkeypatch):
    monkeypatch.setenv("CNNCMP_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    store = ArtifactStore("s3://nowhere/runs")
    with pytest.raises(StorageError, match="s3://nowhere/runs"):
        store.check()
    with pytest.raises(StorageError, match="nowhere"):
        store.write_bytes("a", b"x")
    assert open_store("s3://nowhere/runs") is open_store("s3://nowhere/runs")
