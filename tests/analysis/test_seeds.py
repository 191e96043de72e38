"""Seeds apart from data (issue 14): ``--seed`` sets initialisation and batch order, ``--data-seed`` the subset.

Two seeds of one model on a subsetting profile (quick cuts the synthetic set's 640/320 images to 512/256)
see the same images, so cross-run CKA works and ``similarity`` reports the layer-identification accuracy.
"""

from __future__ import annotations

import json

import pytest

from analysis.cli import main
from analysis.runs.store import RunStore

TRAIN = ("train", "--model", "shallow", "--profile", "quick", "--dataset", "synthetic", "--epochs", "1")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory) -> tuple[str, str]:
    """A runs folder with seeds 0 and 1 of ShallowCNN on the quick profile, and a cache folder."""
    runs = tmp_path_factory.mktemp("seed_runs")
    code = main([*TRAIN, "--runs", str(runs), "--seeds", "0", "1", "--no-progress"])
    assert code == 0
    return str(runs), str(tmp_path_factory.mktemp("seed_cache"))


def test_seeds_train_apart_on_the_same_images(two_seeds):
    runs, _ = two_seeds
    store = RunStore(runs)
    assert store.names() == ["shallow-quick-synthetic", "shallow-quick-synthetic-seed1"]
    first, second = (store.read_meta(name) for name in store.names())
    assert (first["config"]["seed"], second["config"]["seed"]) == (0, 1)
    assert first["dataset_hash"] == second["dataset_hash"] and first["data_seed"] == second["data_seed"] == 0
    assert (first["n_train"], first["n_test"]) == (512, 256)  # the profile did cut the data
    # Different initialisations and batch orders: not the same network.
    assert store.read_history(store.names()[0]) != store.read_history(store.names()[1])


def test_similarity_of_two_seeds_json(capsys, two_seeds):
    runs, cache = two_seeds
    a, b = "shallow-quick-synthetic", "shallow-quick-synthetic-seed1"
    code, out, err = run_cli(capsys, "similarity", "--run", a, "--run", b, "--runs", runs, "--cache", cache, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert {"cka", "layers_a", "layers_b", "identification_accuracy"} <= set(document)
    n = len(document["layers_a"])
    assert document["layers_a"] == document["layers_b"] and n == 9  # 7 conv + 2 FC
    assert len(document["cka"]) == n and all(len(row) == n for row in document["cka"])
    assert all(0.0 <= value <= 1.0 for row in document["cka"] for value in row)
    accuracy = document["identification_accuracy"]
    assert set(accuracy) == {"logits_included", "logits_excluded"}
    assert all(0.0 <= value <= 1.0 for value in accuracy.values())
    assert "not CIFAR-10" in document["dataset_description"]

    code, out, _ = run_cli(capsys, "similarity", "--run", a, b, "--runs", runs, "--cache", cache)
    assert code == 0 and "layer identification accuracy with the logits:" in out and " %" in out


def test_another_data_seed_is_other_images_and_cka_refuses(capsys, two_seeds, tmp_path):
    runs, cache = two_seeds
    code, _, err = run_cli(
        capsys, *TRAIN, "--runs", runs, "--seed", "2", "--data-seed", "5", "--no-progress", "--name", "other-data"
    )
    assert code == 0, err
    store = RunStore(runs)
    assert store.read_meta("other-data")["dataset_hash"] != store.read_meta("shallow-quick-synthetic")["dataset_hash"]
    pair = ("--run", "shallow-quick-synthetic", "--run", "other-data")
    code, _, err = run_cli(capsys, "similarity", *pair, "--runs", runs, "--cache", cache)
    assert code == 2 and "CKA needs the same images" in err


def test_seed_options_are_checked(capsys, tmp_path):
    runs = str(tmp_path)
    code, _, err = run_cli(capsys, *TRAIN, "--runs", runs, "--seeds", "0", "1", "--name", "x")
    assert code == 2 and "--name names one run" in err
    code, _, err = run_cli(capsys, "similarity", "--run", "a", "--runs", runs)
    assert code == 2 and "two runs" in err


def test_runs_from_before_data_seed_find_their_subset_by_their_seed(tmp_path):
    from analysis.cache import AnalysisCache
    from analysis.data.datasets import make_synthetic
    from analysis.pipeline import RunAnalyzer
    from analysis.training.profiles import get_profile
    from analysis.training.trainer import Trainer

    profile = get_profile("quick").with_epochs(1)
    # Before --data-seed the subset was drawn with the run's --seed, and run.json held no data_seed.
    dataset = make_synthetic().subset(profile.max_train_images, profile.max_test_images, seed=3)
    store = RunStore(tmp_path / "runs")
    meta = Trainer(store, profile, device="cpu", seed=3, progress=False).fit("shallow", dataset)
    assert meta["name"] == "shallow-quick-synthetic-seed3"
    del meta["data_seed"]
    store.write_meta(meta["name"], meta)
    analyzer = RunAnalyzer(store, AnalysisCache(tmp_path / "cache"))
    assert analyzer.dataset(meta["name"]).content_hash == dataset.content_hash
