"""Held-out metrics of one model, computed with numpy alone (SPEC §7.4)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rpsquest.game.rules import MOVES

_EPSILON = 1e-12


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, _EPSILON, 1.0))))


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def confusion_matrix(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows are the true move, columns the predicted one, in canonical order."""
    matrix = np.zeros((3, 3), dtype=np.int64)
    np.add.at(matrix, (labels, np.argmax(probabilities, axis=1)), 1)
    return matrix


def evaluate(
    val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    """Validation and test metrics from (probabilities, labels) pairs."""
    (p_val, y_val), (p_test, y_test) = val, test
    matrix = confusion_matrix(p_test, y_test)
    metrics = {
        "val_accuracy": accuracy(p_val, y_val),
        "val_log_loss": log_loss(p_val, y_val),
        "test_accuracy": accuracy(p_test, y_test),
        "test_log_loss": log_loss(p_test, y_test),
        "test_majority_baseline": float(np.bincount(y_test, minlength=3).max() / len(y_test)),
    }
    for index, move in enumerate(MOVES):
        metrics[f"test_recall_{move}"] = float(matrix[index, index] / max(1, matrix[index].sum()))
        predicted = matrix[:, index].sum()
        metrics[f"test_precision_{move}"] = float(matrix[index, index] / max(1, predicted))
    return metrics


def accuracy_by_group(
    probabilities: np.ndarray, labels: np.ndarray, groups: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """`test_{group}_accuracy` of each group of rows (a boolean mask) that holds any row."""
    return {
        f"test_{name}_accuracy": accuracy(probabilities[rows], labels[rows])
        for name, rows in groups.items()
        if rows.any()
    }
