"""Classification metrics in plain numpy (``evaluate``'s metric scripts come from the Hub)."""

from __future__ import annotations

from typing import Any

import numpy as np

from emotui.core.vocabulary import EventField, ResultKey


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_labels: int) -> np.ndarray:
    """Rows: true label, columns: predicted label."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return matrix


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # sklearn's zero_division=0: a class never predicted (or never present) scores 0, not NaN.
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def classification_metrics(labels, preds, label_names: list[str]) -> dict[str, Any]:
    """accuracy, macro_f1, per_class {name: precision, recall, f1, support}, confusion_matrix."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    n = len(label_names)
    matrix = confusion_matrix(labels, preds, n)
    tp = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    accuracy = float(tp.sum() / max(len(labels), 1))
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i])}
        for i, name in enumerate(label_names)
    }
    return {
        EventField.ACCURACY: accuracy,
        # Macro over all classes of the label set (as sklearn with labels=range(n)).
        EventField.MACRO_F1: float(f1.mean()) if n else 0.0,
        ResultKey.PER_CLASS: per_class,
        ResultKey.CONFUSION_MATRIX: matrix.tolist(),
    }


def majority_rate(labels) -> float:
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        return 0.0
    return float(np.bincount(labels).max() / labels.size)
