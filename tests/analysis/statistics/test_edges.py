"""Edge-sign statistics and edge bundling on hand-written weights and a tiny FamilyCNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from analysis.statistics.edges import (
    NEUTRAL_FRACTION,
    EdgeBundling,
    auto_n_bundles,
    cluster_edge_summary,
    edge_sign_fractions,
    fc_after_conv_edges,
    fold_batch_norm,
    kernel_summed_edges,
    layer_edge_matrices,
)
from model_zoo import FamilyCNN, ModelOptions, ModelSpec


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


def test_fold_batch_norm_matches_conv_then_eval_bn():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=True).double()
    bn = nn.BatchNorm2d(4).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, -0.7, 0.2, 2.0]))  # one negative γ
        bn.bias.copy_(torch.randn(4))
        bn.running_mean.copy_(torch.randn(4))
        bn.running_var.copy_(torch.rand(4) + 0.1)
    bn.eval()
    images = torch.randn(2, 3, 5, 5, dtype=torch.float64)

    for bias in (conv.bias, None):
        with torch.no_grad():
            expected = bn(nn.functional.conv2d(images, conv.weight, bias, padding=1))
        weight, folded_bias = fold_batch_norm(
            _np(conv.weight),
            None if bias is None else _np(bias),
            _np(bn.weight),
            _np(bn.bias),
            _np(bn.running_mean),
            _np(bn.running_var),
            bn.eps,
        )
        folded = nn.functional.conv2d(images, torch.from_numpy(weight), torch.from_numpy(folded_bias), padding=1)
        torch.testing.assert_close(folded, expected)


def test_fold_batch_norm_hand_values_and_shape_check():
    weight = np.ones((2, 1, 1, 1))
    w, b = fold_batch_norm(
        weight,
        np.array([1.0, 2.0]),
        np.array([2.0, -1.0]),
        np.array([0.5, 0.0]),
        np.array([1.0, 0.0]),
        np.array([4.0, 1.0]),
        eps=0.0,
    )
    np.testing.assert_array_equal(w.ravel(), [1.0, -1.0])
    np.testing.assert_array_equal(b, [0.5, -2.0])  # (1−1)·1 + 0.5; (2−0)·(−1) + 0
    with pytest.raises(ValueError, match="channels"):
        fold_batch_norm(weight, None, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))


def test_kernel_summed_edges_hand_weight():
    weight = np.zeros((2, 2, 3, 3))
    weight[0, 0] = 1.0  # 9 ones → 9
    weight[0, 1] = -np.eye(3)  # trace −3
    weight[1, 0, 1, 1] = 2.0  # centre tap only → 2
    weight[1, 1] = [[1, -1, 1], [-1, 1, -1], [1, -1, -2]]  # 5 − 5 − 2 = −2
    edges = kernel_summed_edges(weight)
    np.testing.assert_array_equal(edges, [[9.0, -3.0], [2.0, -2.0]])
    np.testing.assert_array_equal(np.sign(edges), [[1, -1], [1, -1]])
    linear = np.arange(6.0).reshape(2, 3)
    assert kernel_summed_edges(linear) is linear
    with pytest.raises(ValueError):
        kernel_summed_edges(np.zeros((2, 2, 3)))


def test_edge_sign_fractions_hand_values():
    edges = np.array([[1.0, -2.0, 0.0], [3.0, 0.0, -0.5]])
    stats = edge_sign_fractions(edges)
    assert stats == {
        "positive_edge_fraction": 2 / 4,  # zeros are not edges
        "positive_mass_fraction": 4.0 / 6.5,
        "positive_mass": 4.0,
        "negative_mass": 2.5,
    }
    assert edge_sign_fractions(np.zeros((2, 2)))["positive_edge_fraction"] == NEUTRAL_FRACTION
    assert edge_sign_fractions(np.zeros((2, 2)))["positive_mass_fraction"] == NEUTRAL_FRACTION
    assert edge_sign_fractions(np.array([[0.0, 3.0]]))["positive_edge_fraction"] == 1.0


def test_fc_after_conv_edges_sums_each_channels_positions():
    channels, height, width = 3, 2, 2
    per_channel = np.array([[1.0, -2.0, 0.5], [0.0, 4.0, -1.0]])  # (out, C) wanted sums
    pattern = np.array([0.5, -0.5, 1.5, -1.5])  # sums to zero: the spatial layout must not matter
    fc = np.concatenate([per_channel[:, [c]] / 4 + pattern for c in range(channels)], axis=1)
    np.testing.assert_allclose(fc_after_conv_edges(fc, channels, height, width), per_channel)
    with pytest.raises(ValueError, match="12"):
        fc_after_conv_edges(fc[:, :-1], channels, height, width)


def test_fc_after_conv_edges_follows_torch_flatten_order():
    torch.manual_seed(1)
    channels, height, width = 3, 2, 4
    fc = nn.Linear(channels * height * width, 5, bias=False).double()
    edges = fc_after_conv_edges(_np(fc.weight), channels, height, width)
    for c in range(channels):
        # A map that is 1 everywhere on channel c and 0 elsewhere: fc reads Σ of channel c's weights.
        ones = torch.zeros(1, channels, height, width, dtype=torch.float64)
        ones[:, c] = 1.0
        response = fc(nn.Flatten()(ones))[0].detach().numpy()
        np.testing.assert_allclose(edges[:, c], response)


def _toy_model(batch_norm: bool = True) -> FamilyCNN:
    model = FamilyCNN(ModelSpec("toy", (2, "M", 3, "M"), fc_hidden=4), ModelOptions(batch_norm=batch_norm))
    assert model.feature_shape == (3, 8, 8)
    return model


def test_layer_edge_matrices_toy_net_folds_bn_and_flips_signs():
    model = _toy_model()
    conv2, bn2 = model.features.conv2.conv, model.features.conv2.bn
    fc1, fc2 = model.classifier.fc1.linear, model.classifier.fc2.linear
    per_channel = torch.tensor([[1.0, -2.0, 0.5], [0.0, 4.0, -1.0], [2.0, 2.0, 2.0], [-1.0, -1.0, 3.0]])
    with torch.no_grad():
        # conv2 weights: output channel 1 negative, the others positive; input channel i scaled by i+1.
        base = torch.tensor([0.5, -0.25, 0.25]).view(3, 1, 1, 1)
        conv2.weight.copy_(base * torch.tensor([1.0, 2.0]).view(1, 2, 1, 1) * torch.ones(3, 2, 3, 3))
        bn2.weight.copy_(torch.tensor([2.0, 1.0, -1.0]))  # γ < 0 on channel 2 flips its edges
        bn2.bias.copy_(torch.tensor([5.0, -5.0, 1.0]))  # β and μ shift outputs, not edges
        bn2.running_mean.copy_(torch.tensor([3.0, -1.0, 0.5]))
        bn2.running_var.copy_(torch.tensor([4.0, 1.0, 1.0]))
        bn2.eps = 0.0  # exact hand values: √σ² = 2, 1, 1
        # fc1 reads (3, 8, 8): channel c's 64 weights sum to per_channel[:, c].
        fc1.weight.copy_(per_channel.repeat_interleave(64, dim=1) / 64)
        fc2.weight.copy_(torch.arange(40.0).view(10, 4) - 20.0)
    model.train()  # edges use running statistics whatever the mode

    result = layer_edge_matrices(model)
    assert [(e.source, e.target) for e in result] == [("conv1", "conv2"), ("conv2", "fc1"), ("fc1", "fc2")]
    assert all(e.edges.dtype == np.float32 for e in result)

    conv_edges = result[0]
    # Kernel sums 9·w: channel 0 (4.5, 9)·2/2; channel 1 (−2.25, −4.5)·1; channel 2 (2.25, 4.5)·(−1).
    np.testing.assert_array_equal(conv_edges.edges, [[4.5, 9.0], [-2.25, -4.5], [-2.25, -4.5]])
    assert conv_edges.positive_edge_fraction == pytest.approx(2 / 6)  # 4/6 before the γ flip
    assert conv_edges.positive_mass == 13.5
    assert conv_edges.negative_mass == 13.5
    assert conv_edges.positive_mass_fraction == 0.5

    np.testing.assert_allclose(result[1].edges, per_channel.numpy(), rtol=1e-6)
    assert result[1].positive_edge_fraction == pytest.approx(7 / 11)  # one zero edge
    assert result[1].positive_mass == pytest.approx(14.5)
    assert result[1].negative_mass == pytest.approx(5.0)

    np.testing.assert_array_equal(result[2].edges, np.arange(40.0).reshape(10, 4) - 20.0)
    assert result[2].positive_edge_fraction == pytest.approx(19 / 39)


def test_layer_edge_matrices_without_bn_are_raw_kernel_sums():
    torch.manual_seed(0)
    model = _toy_model(batch_norm=False)
    result = layer_edge_matrices(model)
    np.testing.assert_allclose(result[0].edges, _np(model.features.conv2.conv.weight).sum(axis=(2, 3)), rtol=1e-6)
    assert result[1].edges.shape == (4, 3)
    assert result[2].edges.shape == (10, 4)


def test_cluster_edge_summary_hand_case():
    edges = np.array([[1.0, -2.0, 0.0, 3.0], [4.0, 0.0, -1.0, 0.0], [-1.0, 1.0, 2.0, -2.0]])
    summary = cluster_edge_summary(edges, np.array([0, 1, 1]), np.array([1, 0, 0, 1]))
    np.testing.assert_array_equal(summary.positive_mass, [[0.0, 4.0], [3.0, 4.0]])
    np.testing.assert_array_equal(summary.negative_mass, [[2.0, 0.0], [1.0, 3.0]])
    np.testing.assert_allclose(summary.positive_fraction, [[0.0, 1.0], [0.75, 4 / 7]])
    np.testing.assert_array_equal(summary.edge_count, [[2, 2], [4, 4]])


def test_cluster_edge_summary_empty_and_massless_clusters_are_neutral():
    edges = np.array([[0.0, 1.0], [0.0, -1.0]])
    summary = cluster_edge_summary(edges, np.array([0, 0]), np.array([0, 1]), n_out_clusters=2)
    assert summary.positive_fraction.shape == (2, 2)
    np.testing.assert_array_equal(summary.positive_fraction, [[NEUTRAL_FRACTION, 0.5], [0.5, 0.5]])
    np.testing.assert_array_equal(summary.edge_count, [[2, 2], [0, 0]])
    assert np.isfinite(summary.positive_fraction).all()
    with pytest.raises(ValueError):
        cluster_edge_summary(edges, np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError):
        cluster_edge_summary(edges, np.array([0, -1]), np.array([0, 1]))
    with pytest.raises(ValueError):
        cluster_edge_summary(edges, np.array([0, 2]), np.array([0, 1]), n_out_clusters=2)


def _planted_blocks(seed: int = 0):
    """A 12×9 matrix with three dense blocks (one inhibitory) under shuffled rows and columns."""
    rng = np.random.default_rng(seed)
    rows, cols = np.repeat(np.arange(3), 4), np.repeat(np.arange(3), 3)
    signs = np.array([1.0, -1.0, 1.0])
    edges = np.where(rows[:, None] == cols[None, :], signs[rows][:, None] * rng.uniform(1, 2, (12, 9)), 0.0)
    edges += 0.02 * rng.normal(size=edges.shape)
    row_perm, col_perm = rng.permutation(12), rng.permutation(9)
    return edges[row_perm][:, col_perm], rows[row_perm], cols[col_perm]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("n_bundles", [3, "auto"])
def test_edge_bundling_recovers_planted_blocks(n_bundles):
    edges, true_rows, true_cols = _planted_blocks()
    bundling = EdgeBundling(n_bundles=n_bundles).fit(edges)
    assert bundling.n_bundles_ == 3
    assert _same_partition(bundling.row_labels_, true_rows)
    assert _same_partition(bundling.column_labels_, true_cols)
    # Each bundle is one block: 4 outputs × 3 inputs; the inhibitory block's edges are negative.
    assert [(b["n_out"], b["n_in"]) for b in bundling.bundles_] == [(4, 3)] * 3
    fractions = sorted(b["positive_fraction"] for b in bundling.bundles_)
    assert fractions[0] < 0.05 and fractions[1] > 0.95
    assert set(bundling.bundles_[0]) == {
        "bundle",
        "n_out",
        "n_in",
        "positive_mass",
        "negative_mass",
        "positive_fraction",
    }


def test_edge_bundling_handles_dead_neurons():
    edges, true_rows, _ = _planted_blocks(seed=1)
    edges[0] = 0.0  # a dead output neuron
    edges[:, 2] = 0.0  # an input nobody reads
    bundling = EdgeBundling(n_bundles=3).fit(edges)
    assert bundling.row_labels_.shape == (12,)
    assert _same_partition(np.delete(bundling.row_labels_, 0), np.delete(true_rows, 0))


def test_edge_bundling_degenerate_inputs_do_not_crash():
    for edges in (np.ones((1, 1)), np.zeros((3, 4)), np.zeros((1, 1)), np.array([[1.0, -2.0, 3.0]])):
        bundling = EdgeBundling().fit(edges)
        assert bundling.n_bundles_ == 1
        assert np.all(bundling.row_labels_ == 0) and np.all(bundling.column_labels_ == 0)
        assert len(bundling.bundles_) == 1
    zero = EdgeBundling().fit(np.zeros((3, 4))).bundles_[0]
    assert zero["positive_fraction"] == NEUTRAL_FRACTION and zero["positive_mass"] == 0.0
    capped = EdgeBundling(n_bundles=10).fit(np.array([[1.0, 0.0, 2.0], [0.0, -3.0, 0.0]]))
    assert capped.n_bundles_ == 2 and len(capped.bundles_) == 2


def test_edge_bundling_rejects_bad_parameters():
    with pytest.raises(ValueError):
        EdgeBundling(n_bundles=0).fit(np.ones((2, 2)))
    with pytest.raises(ValueError):
        EdgeBundling(n_bundles="many").fit(np.ones((2, 2)))
    with pytest.raises(ValueError):
        EdgeBundling().fit(np.ones((2, 0)))
    bundling = EdgeBundling(n_bundles=3, random_state=7)
    assert (bundling.n_bundles, bundling.random_state) == (3, 7)  # params untouched until fit
    assert not hasattr(bundling, "row_labels_")


def test_auto_n_bundles_range():
    assert auto_n_bundles(np.ones((1, 5))) == 1
    assert auto_n_bundles(np.zeros((4, 4))) == 1
    rng = np.random.default_rng(0)
    assert 2 <= auto_n_bundles(rng.normal(size=(40, 30))) <= 8
