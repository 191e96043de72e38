"""A quick training on each offline dataset, then its analysis reading the same data again (hash checked)."""

from __future__ import annotations

import pytest

from analysis.cache import AnalysisCache
from analysis.cli import main
from analysis.pipeline import RunAnalyzer
from analysis.runs.store import RunStore
from tests.analysis.data.test_fashion_mnist import write_fashion_mnist
from tests.analysis.data.test_imagefolder import write_folder


@pytest.mark.parametrize("dataset", ["fashion-mnist", "imagefolder", "digits"])
def test_quick_training_and_analysis(tmp_path, capsys, dataset):
    data_dir = tmp_path / "data"
    if dataset == "fashion-mnist":
        write_fashion_mnist(data_dir / "fashion-mnist", n_train=40, n_test=20)
    elif dataset == "imagefolder":
        write_folder(data_dir, per_class=6)
    runs = tmp_path / "runs"
    argv = ["train", "--model", "shallow", "--profile", "quick", "--dataset", dataset, "--epochs", "1"]
    code = main([*argv, "--data-dir", str(data_dir), "--runs", str(runs), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    name = f"shallow-quick-{dataset}"
    meta = RunStore(runs).read_meta(name)
    assert meta["status"] == "complete" and meta["dataset"] == dataset
    label = {"fashion-mnist": "Fashion-MNIST", "imagefolder": "image folder 'data', 3 classes", "digits": "digits"}
    assert label[dataset] in meta["dataset_description"] and label[dataset] in captured.out
    # The analysis reads the data again: from the data folder, or (an image folder) from where training read it.
    analyzer = RunAnalyzer(RunStore(runs), AnalysisCache(tmp_path / "cache"), data_dir=data_dir)
    if dataset == "imagefolder":
        analyzer = RunAnalyzer(RunStore(runs), AnalysisCache(tmp_path / "cache"))
    report = analyzer.report(name)
    assert report["dataset"] == dataset and report["dataset_hash"] == meta["dataset_hash"]
    assert report["n_images"] == meta["n_test"] and 0.0 <= report["test_error"] <= 1.0
