"""Error rates: overall, per class, and the confusion matrix, from labels and predictions."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: rows = true class, columns = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    return np.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_error(confusion: np.ndarray) -> np.ndarray:
    """Fraction of each true class predicted wrongly (NaN for a class without examples)."""
    totals = confusion.sum(axis=1).astype(np.float64)
    correct = np.diag(confusion).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 1.0 - correct / np.maximum(totals, 1), np.nan)


def error_rate(confusion: np.ndarray) -> float:
    total = confusion.sum()
    return float(1.0 - np.trace(confusion) / total) if total else float("nan")
