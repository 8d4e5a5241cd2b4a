"""Train a grid of configs on one dataset and compare them side by side (no registration)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from rpsquest.models import ModelConfig, train
from rpsquest.training.dataset import Dataset
from rpsquest.training.evaluation import accuracy_by_group, evaluate


@dataclass(frozen=True)
class SweepResult:
    config: ModelConfig
    metrics: dict[str, float]
    seconds: float


def sweep(configs: Iterable[ModelConfig], dataset: Dataset, seed: int) -> list[SweepResult]:
    """Every config trained with the same seed on the same splits, scored on val and test."""
    results = []
    for config in configs:
        started = time.perf_counter()
        trained = train(
            config, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, seed
        )
        p_val = trained.predict_proba(dataset.X_val)
        p_test = trained.predict_proba(dataset.X_test)
        metrics = evaluate((p_val, dataset.y_val), (p_test, dataset.y_test))
        metrics |= accuracy_by_group(p_test, dataset.y_test, dataset.held_out_human())
        metrics |= trained.training_metrics()
        results.append(SweepResult(config, metrics, time.perf_counter() - started))
    return results
