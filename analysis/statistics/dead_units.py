"""Dead units: the one place that decides which neurons of a layer never fire on the test images.

A neuron is *dead* when its strongest response over every test image (and, for a conv channel,
every position) is zero: after its ReLU it never passed anything on. Only a layer with a ReLU
has dead units; a layer that responds below zero anywhere has none (the output logits), so its
neurons are never called dead. A *dead cluster* is one whose neurons are all dead.

Every view that marks dead units (the Redundancy page's matrix and learned-features mosaic, the
Edges graph) asks these functions, through :meth:`analysis.pipeline.RunAnalyzer.dead_neurons`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["DEAD_WORDS", "alive", "dead_clusters", "dead_neurons"]

#: How every view says it, so a reader meets one phrase.
DEAD_WORDS = "dead: never active on the test images"


def dead_neurons(top_values: np.ndarray, class_means: np.ndarray) -> np.ndarray:
    """Per neuron, whether it is dead (bool array).

    ``top_values`` are the layer's strongest responses ``(k, neurons)`` (or ``(neurons,)``) over the
    test images, ``class_means`` its mean response per class ``(neurons, classes)``; a layer with a
    negative value in either has no ReLU and no dead neurons.
    """
    peaks = np.asarray(top_values, dtype=float)
    peaks = peaks.max(axis=0) if peaks.ndim == 2 else peaks.reshape(-1)
    means = np.asarray(class_means, dtype=float)
    if peaks.size == 0:
        return np.zeros(0, dtype=bool)
    if np.nanmin(peaks) < 0 or (means.size and np.nanmin(means) < 0):
        return np.zeros(peaks.shape, dtype=bool)
    return ~(peaks > 0)  # NaN (nothing recorded) counts as never active


def dead_clusters(labels: np.ndarray, dead: np.ndarray) -> set[int]:
    """The ids of the clusters whose neurons are all dead."""
    labels = np.asarray(labels, dtype=int).reshape(-1)
    dead = np.asarray(dead, dtype=bool).reshape(-1)
    if labels.shape != dead.shape:
        raise ValueError(f"{labels.size} labels for {dead.size} neurons")
    return {int(c) for c in np.unique(labels) if dead[labels == c].all()}


def alive(neurons: Iterable[int], dead: np.ndarray) -> list[int]:
    """``neurons`` without the dead ones, in their order."""
    return [int(n) for n in neurons if not dead[int(n)]]
