"""The three model families (§7.1): hyperparameter configs, one `train` entry point and the
interface every trained model offers. Family modules load lazily, and the configs need no numpy,
so importing this package pulls in neither numpy, torch, xgboost nor scikit-learn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rpsquest.models.configs import (
    ModelConfig,
    ModelConfigError,
    ModelConfigs,
    load_configs,
    parse_config,
    parse_configs,
)

if TYPE_CHECKING:
    import numpy as np

    from rpsquest.models.common import TrainedModel

__all__ = [
    "ModelConfig",
    "ModelConfigError",
    "ModelConfigs",
    "load_configs",
    "parse_config",
    "parse_configs",
    "train",
    "training_threads",
]

# The machine and the train pods have 2 cores; these models are too small to gain from more.
MAX_TRAINING_THREADS = 2


def training_threads() -> int:
    """CPU threads a training run may use: the cores we are allowed, at most two."""
    if hasattr(os, "sched_getaffinity"):
        available = len(os.sched_getaffinity(0))
    else:  # macOS has no affinity API
        available = os.cpu_count() or 1
    return max(1, min(MAX_TRAINING_THREADS, available))


def train(
    config: ModelConfig,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    threads: int | None = None,
) -> TrainedModel:
    """Fit `config`'s family on float32 [n, N_FEATURES] features and labels 0/1/2 (rock, paper,
    scissors); the validation split drives early stopping where the family has it."""
    from rpsquest.models.common import check_training_data  # numpy: only once training starts

    X_train, y_train, X_val, y_val = check_training_data(X_train, y_train, X_val, y_val)
    threads = threads or training_threads()
    match config.family:
        case "feedforward":
            from rpsquest.models import feedforward

            return feedforward.train(config, X_train, y_train, X_val, y_val, seed, threads)
        case "xgboost":
            from rpsquest.models import xgb

            return xgb.train(config, X_train, y_train, X_val, y_val, seed, threads)
        case "logistic":
            from rpsquest.models import mnlogit

            return mnlogit.train(config, X_train, y_train, X_val, y_val, seed, threads)
    raise ModelConfigError(f"unknown family {config.family!r}")
