"""Hyperparameter configs (§7.2): one named set of hyperparameters per family, and the starting
assignment of configs to aliases, read from `configs/model_configs.json`. Free of numpy, so
promote reads the starting table without the training libraries."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpsquest.game.policies import ALIASES, FAMILY_NAMES, Alias, FamilyName, family_name

MAX_EPOCHS = 200


class ModelConfigError(ValueError):
    """A hyperparameter config or the config file is malformed or unknown."""


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One named set of hyperparameters for one family (§7.2)."""

    config_id: str
    family: FamilyName
    params: Mapping[str, Any]  # read-only by convention; a plain dict stays picklable

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))


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

REQUIRED_PARAMS: dict[FamilyName, dict[str, str]] = {
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
OPTIONAL_PARAMS: dict[FamilyName, dict[str, str]] = {
    "feedforward": {"max_epochs": "epochs"},
    "xgboost": {},
    "logistic": {},
}


@dataclass(frozen=True, slots=True)
class ModelConfigs:
    """The contents of `configs/model_configs.json`: every config and the starting assignment."""

    configs: Mapping[str, ModelConfig]
    bootstrap_assignment: Mapping[FamilyName, Mapping[Alias, str]]

    def get(self, config_id: str) -> ModelConfig:
        """The config named `config_id`; an unknown id fails with its name."""
        try:
            return self.configs[config_id]
        except KeyError:
            raise ModelConfigError(f"unknown config_id {config_id!r}") from None

    def bootstrap_config(self, family: FamilyName, alias: Alias) -> ModelConfig:
        """The config an alias starts with before any promotion (§7.2)."""
        return self.get(self.bootstrap_assignment[family][alias])


def parse_config(config_id: str, entry: Mapping[str, Any]) -> ModelConfig:
    """Validate one config entry: its family, every required hyperparameter, no unknown key."""
    family = family_name(entry.get("family"))
    if family is None:
        raise ModelConfigError(f"config {config_id!r}: family must be one of {FAMILY_NAMES}")
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
    if not isinstance(table, Mapping) or sorted(table) != sorted(FAMILY_NAMES):
        raise ModelConfigError(
            f"'bootstrap_assignment' must have exactly the families {FAMILY_NAMES}"
        )
    assignment: dict[FamilyName, dict[Alias, str]] = {}
    for family in FAMILY_NAMES:
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
