"""The analysis pipeline: streaming statistics, cache behaviour, report contract, per-image views."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from analysis.cache import AnalysisCache, CorruptEntryError, cache_key, pack_result, unpack_result
from analysis.cli import main
from analysis.pipeline import AnalysisError, NotAnalyzedError, RunAnalyzer
from analysis.probes.activations import ActivationPass, receptive_fields, receptive_patch
from analysis.runs.store import RunStore
from analysis.statistics.redundancy import near_duplicate_mask, normalize_profiles
from analysis.training.evaluation import Normalization
from analysis.training.health import training_anomalies
from model_zoo import FamilyCNN, ModelOptions, ModelSpec

RUN = "base-quick-synthetic"


@pytest.fixture()
def analyzer(analysed_runs, tmp_path):
    runs_dir, cache_dir = analysed_runs
    shutil.copytree(cache_dir, tmp_path / "cache")
    return RunAnalyzer(RunStore(runs_dir), AnalysisCache(tmp_path / "cache"))


def toy_model() -> FamilyCNN:
    torch.manual_seed(0)
    return FamilyCNN(ModelSpec("toy", (4, "M", 3, "M"), fc_hidden=5), ModelOptions(batch_norm=False)).eval()


def test_streaming_class_means_equal_a_direct_computation():
    model = toy_model()
    images = torch.randint(0, 256, (37, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(37) % 3
    normalization = Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    captured = {}
    handle = model.features.conv2.register_forward_hook(lambda m, i, o: captured.setdefault("x", o.clone()))
    with torch.no_grad():
        model(normalization(images))
    handle.remove()
    responses = captured["x"].mean(dim=(2, 3))  # (37, 3 neurons)
    expected = torch.stack([responses[labels == c].mean(0) for c in range(3)], dim=1).numpy()
    for batch_size in (5, 64):  # the result must not depend on how the images are batched
        result = ActivationPass(batch_size=batch_size, top_k=4).run(model, images, labels, 3, normalization)
        stats = result.layers
        assert np.allclose(stats["conv2"].class_means, expected, atol=1e-5)
        peaks = captured["x"].amax(dim=(2, 3))
        assert np.allclose(stats["conv2"].top_values[0], peaks.max(0).values.numpy(), atol=1e-5)
        assert np.array_equal(stats["conv2"].top_images[0], peaks.argmax(0).numpy())
    assert set(stats) == {"conv1", "conv2", "fc1", "fc2"}
    with torch.no_grad():
        assert np.array_equal(result.predictions, model(normalization(images)).argmax(1).numpy())


def test_exactly_duplicated_neurons_are_near_duplicates():
    model = toy_model()
    with torch.no_grad():  # conv2's neuron 1 becomes a copy of neuron 0
        model.features.conv2.conv.weight[1] = model.features.conv2.conv.weight[0]
        model.features.conv2.conv.bias[1] = model.features.conv2.conv.bias[0]
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(40) % 4
    stats = ActivationPass().run(model, images, labels, 4, Normalization((0.5,) * 3, (0.25,) * 3)).layers
    mask = near_duplicate_mask(normalize_profiles(stats["conv2"].class_means, "zscore"), 0.95)
    assert mask[0] and mask[1]


def test_receptive_fields_follow_the_layer_arithmetic():
    fields = receptive_fields(toy_model())
    assert fields["conv1"] == (3, 1, 0.0)
    assert fields["conv2"] == (8, 2, 0.5)  # 3x3 conv, 2x2 pool, 3x3 conv
    assert receptive_patch(fields["conv2"], (0, 0)) == (0, 0, 5, 5)
    assert receptive_patch(fields["conv2"], (15, 15)) == (27, 27, 32, 32)


def test_second_analyze_is_a_cache_hit(analyzer):
    counts = analyzer.analyze(RUN)
    assert counts["misses"] == 0 and counts["hits"] > 0


def test_cached_only_mode_refuses_to_compute(quick_runs_dir, tmp_path):
    strict = RunAnalyzer(RunStore(quick_runs_dir), AnalysisCache(tmp_path / "empty"), allow_compute=False)
    with pytest.raises(NotAnalyzedError, match="python -m analysis analyze --run base-quick-synthetic"):
        strict.statistics(RUN)
    assert not strict.is_analyzed(RUN)


def test_corrupt_and_foreign_entries_are_dropped_and_recomputed(analyzer):
    params = {**analyzer.params.statistics_params(), "dataset_hash": analyzer.dataset(RUN).content_hash}
    key = cache_key(analyzer.checkpoint_hash(RUN), "statistics", params)
    good = analyzer.cache._store.get(key)
    for bad in (good[:-100], good[:-5] + b"xxxxx", b"foreign bytes", 12345):
        analyzer.cache._store.set(key, bad)  # as another process sharing the folder would see it
        analyzer.cache.forget()
        misses = analyzer.cache.misses
        result = analyzer.statistics(RUN)
        assert analyzer.cache.misses == misses + 1, repr(bad)[:40]
        assert result["layer_names"][0] == "conv1"
        assert unpack_result(analyzer.cache._store.get(key))["test_error"] == result["test_error"]


def test_pack_refuses_object_arrays_and_unpack_checks_the_checksum():
    blob = pack_result({"a": np.arange(3), "meta": {"x": 1}})
    assert unpack_result(blob)["meta"] == {"x": 1}
    with pytest.raises(TypeError):
        pack_result({"a": np.array([object()])})
    with pytest.raises(CorruptEntryError):
        unpack_result(blob[:-1] + bytes([blob[-1] ^ 1]))


def test_report_contract(analyzer):
    report = analyzer.report(RUN)
    json.dumps(report, allow_nan=False)  # strict JSON
    assert report["dataset"] == "synthetic" and "not CIFAR-10" in report["dataset_description"]
    assert 0 <= report["train_error"] <= 1 and 0 <= report["test_error"] <= 1
    assert len(report["per_class_error"]) == 10
    layers = report["layers"]
    assert [layer["name"] for layer in layers] == [f"conv{i}" for i in range(1, 11)] + ["fc1", "fc2"]
    depths = [layer["relative_depth"] for layer in layers]
    assert depths[0] == 0 and depths[-1] == 1 and depths == sorted(depths)
    for layer in layers:
        for key in (
            "n_neurons",
            "n_clusters",
            "near_duplicate_fraction",
            "effective_rank",
            "positive_edge_fraction",
            "positive_mass_fraction",
        ):
            assert key in layer
        assert 0 <= layer["positive_edge_fraction"] <= 1


def test_cka_within_a_run_and_across_runs(analyzer):
    within = analyzer.cka(RUN)
    assert np.allclose(np.diag(within["matrix"]), 1.0) and np.allclose(within["matrix"], within["matrix"].T)
    across = analyzer.cka(RUN, "shallow-quick-synthetic")
    assert across["matrix"].shape == (12, 9)


def test_per_image_views(analyzer):
    occlusion = analyzer.occlusion(RUN, 0, size=8, stride=8)
    assert occlusion["correct_probability"].shape == (4, 4)
    assert ((occlusion["correct_probability"] >= 0) & (occlusion["correct_probability"] <= 1)).all()
    maps = analyzer.activation_maps(RUN, 0)
    assert maps["conv1"].ndim == 3 and maps["fc2"].shape == (10,)
    assert maps["probabilities"].sum() == pytest.approx(1.0, abs=1e-4)
    patches = analyzer.top_patches(RUN, "conv3", 0)
    assert len(patches) == analyzer.params.top_k
    assert patches[0]["value"] >= patches[-1]["value"]
    for patch in patches:
        top, left, bottom, right = patch["box"]
        assert 0 <= top < bottom <= 32 and 0 <= left < right <= 32
    mosaic = analyzer.cluster_mosaic(RUN, "conv3", 0)
    assert mosaic.dtype == np.uint8 and mosaic.shape[2] == 3


def test_activation_maps_of_test_images_are_kept_read_only_and_uploads_never(analyzer):
    first = analyzer.activation_maps(RUN, 3)
    assert analyzer.activation_maps(RUN, 3) is first and first["label"] == int(analyzer.test_images(RUN, [3])[1][0])
    assert not first["conv1"].flags.writeable  # shared by every request for the image
    strict = analyzer.cached_only()
    assert strict.activation_maps(RUN, 3) is first and strict._model_lock is analyzer._model_lock
    image = analyzer.test_images(RUN, [3])[0][0]
    upload = analyzer.activation_maps(RUN, image)  # the same pixels, as an upload: computed afresh, no label
    assert upload is not first and upload["label"] is None
    np.testing.assert_allclose(upload["probabilities"], first["probabilities"], rtol=1e-6)
    with pytest.raises(AnalysisError, match="outside"):
        analyzer.activation_maps(RUN, 10**6)


def test_evolution_has_one_row_per_snapshot(analyzer):
    rows = analyzer.evolution(RUN)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert len(rows[0]["positive_edge_fraction"]) == 12


def test_health_anomalies_in_plain_words():
    def row(epoch, test, train, dead=0.0, grads=(1.0, 1.0)):
        return {
            "epoch": epoch,
            "fit_loss": 1.0,
            "test_loss": 1.0,
            "test_error": test,
            "train_error": train,
            "health": {
                "conv1": {"grad_norm": grads[0], "dead_fraction": dead},
                "fc2": {"grad_norm": grads[1], "dead_fraction": None},
            },
        }

    history = [
        row(1, 0.5, 0.5),
        row(2, 0.3, 0.3),
        row(3, 0.31, 0.2),
        row(4, 0.32, 0.1),
        row(5, 0.33, 0.05, dead=0.8, grads=(1e-6, 1.0)),
    ]
    kinds = {a["kind"]: a for a in training_anomalies(history)}
    assert "80% of its units never fire" in kinds["dead_units"]["message"]
    assert "over-fitting" in kinds["test_error_plateau"]["message"]
    assert kinds["vanishing_gradients"]["layer"] == "conv1"
    diverged = training_anomalies([{**row(1, 0.5, 0.5), "fit_loss": float("nan")}])
    assert diverged[0]["kind"] == "diverged"
    assert training_anomalies([]) == []


def test_cli_analyze_is_idempotent_and_report_prints_json(analysed_runs, tmp_path, capsys):
    runs_dir, cache_dir = analysed_runs
    shutil.copytree(cache_dir, tmp_path / "cache")
    args = ["--runs", str(runs_dir), "--cache", str(tmp_path / "cache")]
    assert main(["analyze", "--run", RUN, "--no-progress", *args]) == 0
    assert "0 computed" in capsys.readouterr().err
    assert main(["report", "--run", RUN, "--json", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["run"] == RUN and len(report["layers"]) == 12
    assert main(["report", "--run", "../etc", "--json", *args]) == 2


def test_layer_clusters_by_stage_and_similarity(analyzer):
    groups = analyzer.layer_clusters(RUN)
    # BaseCNN: conv1-2 | conv3-4 | conv5-7 | conv8-10 | fc1-2
    assert groups["stage"] == [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4]
    assert groups["similar"] == sorted(groups["similar"]) and len(set(groups["similar"])) == 5
    assert analyzer.report(RUN)["layers"][4]["stage"] == 2
