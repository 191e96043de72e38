"""Ablation: sizes against torch's counters, the duplicate picking, and exact copies that merge for free."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from analysis.cache import AnalysisCache
from analysis.pipeline import AnalysisParams, RunAnalyzer
from analysis.probes.ablation import (
    Removal,
    Variant,
    dead_neurons,
    edited_units,
    evaluate_variants,
    layer_shapes,
    model_cost,
    pick_duplicates,
    savings,
)
from analysis.runs.store import FINAL_WEIGHTS, RunStore
from model_zoo import build_model, count_flops, count_parameters

RUN = "base-quick-synthetic"
COPIED_LAYER = "conv4"  # 8 neurons at the quick profile's width: 4 kept, 4 exact copies


@pytest.mark.parametrize("name,batch_norm", [("base", True), ("shallow", False)])
def test_layer_shapes_count_what_torch_counts(name, batch_norm):
    model = build_model(name, width_scale=1 / 16, batch_norm=batch_norm)
    assert model_cost(layer_shapes(model)) == (count_parameters(model), count_flops(model))


def test_savings_count_weights_between_two_removed_neurons_once():
    model = build_model("base", width_scale=1 / 16)
    shapes = layer_shapes(model)
    one, two, both = savings(shapes, {2: 1}), savings(shapes, {3: 1}), savings(shapes, {2: 1, 3: 1})
    shared = shapes[3].kernel * shapes[3].per_input  # the 3×3 kernel from the removed conv3 unit into conv4's
    assert both[0] == one[0] + two[0] - shared
    assert both[1] == one[1] + two[1] - 2 * shared * shapes[3].positions


def test_pick_duplicates_keeps_the_strongest_and_merges_copies_into_it():
    profile = np.array([1.0, 3.0, 2.0, 0.5])
    other = np.array([3.0, 0.0, 1.0, 2.0])
    means = np.stack([profile, 2 * profile, other, profile + [0, 0.05, 0, 0], np.zeros(4)])
    responses = means.mean(axis=1)
    removal = pick_duplicates(means, responses, threshold=0.95)
    # Neuron 1 (twice neuron 0) is kept as the strongest; 0 and 3 merge into it at half its response.
    assert removal.neurons == (0, 3) and removal.partners == (1, 1)
    assert removal.ratios == pytest.approx((0.5, responses[3] / responses[1]))
    assert pick_duplicates(means, responses, threshold=1.0).neurons == (0,)  # only the exact multiple
    assert dead_neurons(means).neurons == (4,)


def _copy_filters(state: dict[str, torch.Tensor], layer: str, copies: int) -> None:
    """Overwrite the last ``copies`` filters of ``layer`` (conv weight and batch norm) with its first ones."""
    n = state[f"features.{layer}.conv.weight"].shape[0]
    for key in [k for k in state if k.startswith(f"features.{layer}.") and state[k].ndim >= 1]:
        state[key][n - copies :] = state[key][:copies].clone()


@pytest.fixture(scope="module")
def copied_run(quick_runs_dir, tmp_path_factory):
    """The quick BaseCNN with conv4's last 4 filters exact copies of its first 4, and an analyzer that flags
    exact copies only (threshold 1.0: the trained layers' near-duplicates stay out)."""
    root = tmp_path_factory.mktemp("copied")
    shutil.copytree(quick_runs_dir / RUN, root / "runs" / RUN)
    store = RunStore(root / "runs")
    checkpoint = store.load_checkpoint(RUN, FINAL_WEIGHTS)
    state = checkpoint["model"] if "model" in checkpoint else checkpoint
    _copy_filters(state, COPIED_LAYER, 4)
    store.save_checkpoint(RUN, FINAL_WEIGHTS, checkpoint)
    analyzer = RunAnalyzer(store, AnalysisCache(root / "cache"), AnalysisParams(duplicate_threshold=1.0), device="cpu")
    return analyzer


def test_exact_copies_merge_for_free_and_are_a_finding(copied_run):
    analyzer = copied_run
    before = {k: v.clone() for k, v in analyzer.model(RUN).state_dict().items()}
    ablation = analyzer.ablation(RUN)
    layer = next(row for row in ablation["layers"] if row["layer"] == COPIED_LAYER)
    assert layer["n_flagged"] == 4 and sorted(layer["flagged"]) == [4, 5, 6, 7]
    assert sorted(layer["merged_into"]) == [0, 1, 2, 3]
    assert layer["merged_error_change"] == 0.0
    assert layer["merged_interval"][0] < 0 < layer["merged_interval"][1]
    assert layer["params_saved"] > 0 and layer["flops_saved"] > 0
    unflagged = [row for row in ablation["layers"] if row["n_flagged"] == 0]
    assert unflagged and all(row["merged_error_change"] is None and row["params_saved"] is None for row in unflagged)
    assert ablation["whole_model"]["n_flagged"] >= 4
    after = analyzer.model(RUN).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the ablation changed the cached model"

    findings = analyzer.report(RUN)["findings"]
    redundant = [f for f in findings if f["kind"] == "redundant_layer"]
    assert [f["layer"] for f in redundant] == [COPIED_LAYER]
    assert redundant[0]["text"].startswith(f"4 of 8 {COPIED_LAYER} neurons in {RUN} can be merged")
    assert redundant[0]["view"] == f"/redundancy?runs={RUN}&layer={COPIED_LAYER}"


def test_merging_exact_copies_leaves_every_prediction_unchanged(copied_run):
    analyzer = copied_run
    model = analyzer.model(RUN)
    stats = analyzer.statistics(RUN)
    index = stats["layer_names"].index(COPIED_LAYER)
    means = stats[f"class_means/{index}"]
    removal = pick_duplicates(means, means.mean(axis=1), threshold=1.0)
    units = [layer.module for layer in model.analysable_layers()]
    merged = Variant("merged", edited_units(units, {index: removal}, merge=True))
    removed = Variant("removed", edited_units(units, {index: Removal(removal.neurons)}, merge=False))
    images, _ = analyzer.evaluation_images(RUN)
    base = evaluate_variants(model, [merged, removed], images, analyzer._normalization(RUN))
    assert np.array_equal(torch.cat(merged.predictions).numpy(), base)
    assert set(merged.replaced) == {index, index + 1} and set(removed.replaced) == {index}
