"""A small synthetic dataset with learnable labels, and fast configs per family."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from rpsquest.features import N_FEATURES
from rpsquest.game.policies import FAMILY_NAMES
from rpsquest.models import ModelConfig, parse_config

# Test-only hyperparameters: small enough that each family trains in well under a second.
FAST_PARAMS = {
    "feedforward": {
        "hidden": [32, 16],
        "dropout": 0.1,
        "batch": 128,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "patience": 5,
        "reduce_lr_patience": 2,
        "lambda_danger": 0.1,
        "max_epochs": 25,
    },
    "xgboost": {
        "n_estimators": 60,
        "learning_rate": 0.2,
        "max_depth": 3,
        "min_child_weight": 1,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "reg_lambda": 1.0,
        "reg_alpha": 0.0,
        "gamma": 0.0,
    },
    "logistic": {"l2_lambda": 0.05, "use_class_weights": True},
}


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def make_dataset(n_rows: int, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows shaped like the feature contract; with probability `signal` the label is the
    move beating the user's last move, otherwise uniform."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    moves = rng.integers(0, 3, size=(n_rows, 3))
    X[:, :9] = 0.0
    for lag in range(3):
        X[np.arange(n_rows), 3 * lag + moves[:, lag]] = 1.0
    X[:, 27:30] = rng.uniform(1.0, 2.0, size=(n_rows, 3))
    X[:, 48] = rng.integers(4, 30, size=n_rows)
    X[:, 49] = 0.0  # a constant column, as easy_mode often is
    follows = rng.random(n_rows) < signal
    y = np.where(follows, (moves[:, 0] + 1) % 3, rng.integers(0, 3, size=n_rows))
    return X, y.astype(np.int64)


def split(X: np.ndarray, y: np.ndarray) -> Split:
    a, b = int(0.7 * len(X)), int(0.85 * len(X))
    return Split(X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:])


@pytest.fixture(scope="session")
def synthetic() -> Split:
    return split(*make_dataset(1500, signal=0.7, seed=11))


@pytest.fixture(scope="session")
def noise() -> Split:
    """Labels independent of the features: every model overfits, so early stopping triggers."""
    return split(*make_dataset(1500, signal=0.0, seed=12))


@pytest.fixture(scope="session")
def fast_configs() -> dict[str, ModelConfig]:
    return {
        family: parse_config(f"test_{family}", {"family": family, **FAST_PARAMS[family]})
        for family in FAMILY_NAMES
    }
