"""Shared fixtures: tiny runs trained in seconds on the synthetic set."""

from __future__ import annotations

from pathlib import Path

import pytest

QUICK_MODELS = ("base", "shallow")


@pytest.fixture(autouse=True)
def no_system_datasets(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see no system-wide Fashion-MNIST (Debian's package), so ``auto`` means the same on every machine."""
    from analysis.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "SYSTEM_FOLDERS", (tmp_path_factory.getbasetemp() / "no-system-datasets",))


def train_quick_runs(runs_dir: Path, models: tuple[str, ...] = QUICK_MODELS, epochs: int = 2) -> Path:
    """Train ``models`` with the quick profile on the synthetic set into ``runs_dir``."""
    from analysis.data.datasets import make_synthetic
    from analysis.runs.store import RunStore
    from analysis.training.profiles import get_profile
    from analysis.training.trainer import Trainer

    profile = get_profile("quick").with_epochs(epochs)
    dataset = make_synthetic().subset(profile.max_train_images, profile.max_test_images)
    trainer = Trainer(RunStore(runs_dir), profile, device="cpu", progress=False)
    for model in models:
        trainer.fit(model, dataset)
    return runs_dir


@pytest.fixture(scope="session")
def quick_runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder with ``base-quick-synthetic`` and ``shallow-quick-synthetic`` (read-only: copy to modify)."""
    return train_quick_runs(tmp_path_factory.mktemp("quick_runs"))


@pytest.fixture(scope="session")
def analysed_runs(quick_runs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(runs_dir, cache_dir)``: the quick runs with every analysis computed and cached (read-only)."""
    from analysis.cache import AnalysisCache
    from analysis.pipeline import RunAnalyzer
    from analysis.runs.store import RunStore

    cache_dir = tmp_path_factory.mktemp("quick_cache")
    analyzer = RunAnalyzer(RunStore(quick_runs_dir), AnalysisCache(cache_dir))
    for name in analyzer.store.names():
        analyzer.analyze(name)
    analyzer.cache.close()
    return quick_runs_dir, cache_dir


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A redis-server of our own on a loopback port (fails, naming the package, when it is not installed)."""
    from tests.services import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 endpoint on a loopback port with a test bucket; sets the AWS test credentials for the session."""
    import os

    from tests.services import S3Server

    server = S3Server().start()
    os.environ.update(server.env())
    yield server
    server.stop()
