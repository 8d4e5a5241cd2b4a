"""The three model families (§7.1): hyperparameter configs, one `train` entry point and the
interface every trained model offers. Family modules load lazily, so importing this package
pulls in neither torch, xgboost nor scikit-learn."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from rpsquest.models.common import (
    ALIASES,
    FAMILIES,
    Alias,
    Family,
    ModelConfig,
    ModelConfigError,
    TrainedModel,
    check_training_data,
)

__all__ = [
    "ALIASES",
    "FAMILIES",
    "Alias",
    "Family",
    "ModelConfig",
    "ModelConfigError",
    "ModelConfigs",
    "TrainedModel",
    "load_configs",
    "parse_config",
    "parse_configs",
    "train",
    "training_threads",
]

# The machine and the train pods have 2 cores; these models are too small to gain from more.
MAX_TRAINING_THREADS = 2
MAX_EPOCHS = 200


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "batch": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    "epochs": (lambda v: _is_int(v) and 1 <= v <= MAX_EPOCHS, f"an integer in [1, {MAX_EPOCHS}]"),
    "sizes": (
        lambda v: isinstance(v, list) and bool(v) and all(_is_int(s) and s >= 1 for s in v),
        "a non-empty list of integers >= 1",
    ),
    "positive": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "nonnegative": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "dropout": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "share": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "flag": (lambda v: isinstance(v, bool), "true or false"),
}

REQUIRED_PARAMS: dict[Family, dict[str, str]] = {
    "feedforward": {
        "hidden": "sizes",
        "dropout": "dropout",
        "batch": "batch",
        "lr": "positive",
        "weight_decay": "nonnegative",
        "patience": "count",
        "reduce_lr_patience": "count",
        "lambda_danger": "nonnegative",
    },
    "xgboost": {
        "n_estimators": "count",
        "learning_rate": "positive",
        "max_depth": "count",
        "min_child_weight": "nonnegative",
        "subsample": "share",
        "colsample_bytree": "share",
        "reg_lambda": "nonnegative",
        "reg_alpha": "nonnegative",
        "gamma": "nonnegative",
    },
    "logistic": {"l2_lambda": "nonnegative", "use_class_weights": "flag"},
}
# Lower epoch caps keep tests and smoke runs short; the spec's cap of 200 is the default.
OPTIONAL_PARAMS: dict[Family, dict[str, str]] = {
    "feedforward": {"max_epochs": "epochs"},
    "xgboost": {},
    "logistic": {},
}


@dataclass(frozen=True, slots=True)
class ModelConfigs:
    """The contents of `configs/model_configs.json`: every config and the starting assignment."""

    configs: Mapping[str, ModelConfig]
    bootstrap_assignment: Mapping[str, Mapping[str, str]]

    def get(self, config_id: str) -> ModelConfig:
        """The config named `config_id`; an unknown id fails with its name."""
        try:
            return self.configs[config_id]
        except KeyError:
            raise ModelConfigError(f"unknown config_id {config_id!r}") from None

    def bootstrap_config(self, family: str, alias: str) -> ModelConfig:
        """The config an alias starts with before any promotion (§7.2)."""
        return self.get(self.bootstrap_assignment[family][alias])


def parse_config(config_id: str, entry: Mapping[str, Any]) -> ModelConfig:
    """Validate one config entry: its family, every required hyperparameter, no unknown key."""
    family = entry.get("family")
    if family not in FAMILIES:
        raise ModelConfigError(f"config {config_id!r}: family must be one of {FAMILIES}")
    family = cast(Family, family)
    params = {key: value for key, value in entry.items() if key != "family"}
    kinds = REQUIRED_PARAMS[family] | OPTIONAL_PARAMS[family]
    missing = sorted(set(REQUIRED_PARAMS[family]) - set(params))
    if missing:
        raise ModelConfigError(f"config {config_id!r}: missing {', '.join(missing)}")
    unknown = sorted(set(params) - set(kinds))
    if unknown:
        raise ModelConfigError(f"config {config_id!r}: unknown {', '.join(unknown)}")
    for key, value in params.items():
        check, expected = _KINDS[kinds[key]]
        if not check(value):
            raise ModelConfigError(f"config {config_id!r}: {key} must be {expected}, got {value!r}")
    return ModelConfig(config_id=config_id, family=family, params=params)


def parse_configs(document: Mapping[str, Any]) -> ModelConfigs:
    """Validate the whole config document, including the starting assignment table."""
    unknown = sorted(set(document) - {"schema", "configs", "bootstrap_assignment"})
    if unknown:
        raise ModelConfigError(f"unknown top-level keys: {', '.join(unknown)}")
    if document.get("schema", 1) != 1:
        raise ModelConfigError(f"unsupported schema {document['schema']!r}")
    entries = document.get("configs")
    if not isinstance(entries, Mapping) or not entries:
        raise ModelConfigError("'configs' must map config ids to configs")
    configs = {config_id: parse_config(config_id, entry) for config_id, entry in entries.items()}

    table = document.get("bootstrap_assignment")
    if not isinstance(table, Mapping) or sorted(table) != sorted(FAMILIES):
        raise ModelConfigError(f"'bootstrap_assignment' must have exactly the families {FAMILIES}")
    assignment: dict[str, dict[str, str]] = {}
    for family in FAMILIES:
        row = table[family]
        if not isinstance(row, Mapping) or sorted(row) != sorted(ALIASES):
            raise ModelConfigError(f"bootstrap_assignment[{family!r}] must name {ALIASES}")
        for alias in ALIASES:
            config_id = row[alias]
            if config_id not in configs or configs[config_id].family != family:
                raise ModelConfigError(
                    f"bootstrap_assignment[{family!r}][{alias!r}]: no {family} config {config_id!r}"
                )
        if len(set(row.values())) != len(ALIASES):
            raise ModelConfigError(f"bootstrap_assignment[{family!r}]: configs must differ")
        assignment[family] = {alias: row[alias] for alias in ALIASES}
    return ModelConfigs(configs=configs, bootstrap_assignment=assignment)


def load_configs(path: str | os.PathLike[str]) -> ModelConfigs:
    """Read and validate `configs/model_configs.json`."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelConfigError(f"cannot read model configs from {path}: {error}") from error
    if not isinstance(document, Mapping):
        raise ModelConfigError(f"{path}: expected a JSON object")
    return parse_configs(document)


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
    """Fit `config`'s family on float32 [n, 50] features and labels 0/1/2 (rock/paper/scissors);
    the validation split drives early stopping where the family has it."""
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
