"""Dead units: a ReLU neuron that never fires on the test images is dead; a layer without ReLU has none."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.dead_units import alive, dead_clusters, dead_neurons


def test_a_neuron_whose_strongest_response_is_zero_is_dead():
    top_values = np.array([[2.0, 0.0, 0.3, 0.0], [1.0, 0.0, 0.1, 0.0]])  # (k, neurons), descending
    means = np.array([[1.0, 0.5], [0.0, 0.0], [0.1, 0.0], [0.0, 0.0]])
    assert dead_neurons(top_values, means).tolist() == [False, True, False, True]
    assert dead_neurons(top_values[0], means).tolist() == [False, True, False, True]  # peaks alone


def test_a_layer_without_relu_has_no_dead_neurons():
    logits = np.array([[1.5, -0.2, 0.0]])
    assert not dead_neurons(logits, np.array([[0.5, -1.0], [-0.2, -0.4], [0.0, 0.0]])).any()
    # all peaks ≥ 0 but a negative class mean: still no ReLU after it
    assert not dead_neurons(np.array([[1.0, 0.0]]), np.array([[0.2, -0.1], [0.0, 0.0]])).any()
    assert dead_neurons(np.zeros((1, 0)), np.zeros((0, 2))).size == 0


def test_dead_clusters_are_the_ones_with_only_dead_neurons():
    labels = np.array([0, 1, 1, 2, 2])
    dead = np.array([False, True, True, True, False])
    assert dead_clusters(labels, dead) == {1}
    assert alive([4, 3, 0], dead) == [4, 0]
    with pytest.raises(ValueError):
        dead_clusters(labels, dead[:3])
