"""Multinomial logistic regression (`logan`, §7.1): StandardScaler -> LogisticRegression (lbfgs),
with the config's L2 strength mapped onto scikit-learn's C.

The exported graph computes in double precision, as scikit-learn does, between a cast of the
float32 features and a cast of the probabilities: an unpenalised fit over collinear features
(rps50-v3's tier map) has large weights that cancel, and float32 arithmetic drifted past the
1e-5 parity there."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from rpsquest.models.common import (
    INPUT_NAME,
    N_FEATURES,
    OPSET,
    as_features,
    finalise_onnx,
    float_interface,
)
from rpsquest.models.configs import ModelConfig

MAX_ITER = 1000

logger = logging.getLogger(__name__)


def inverse_regularisation(l2_lambda: float, n_train: int) -> float:
    """scikit-learn's C for the penalty l2_lambda·‖w‖² on the mean loss: C = 1/(2·n·λ).
    λ = 0 means unpenalised, which scikit-learn ≥ 1.8 spells C = inf."""
    if l2_lambda == 0:
        return math.inf
    return 1.0 / (2.0 * n_train * l2_lambda)


def build_pipeline(params: Mapping[str, Any], n_train: int) -> Pipeline:
    """The unfitted scaler and classifier for a logistic config and a training-set size."""
    classifier = LogisticRegression(
        C=inverse_regularisation(float(params["l2_lambda"]), n_train),
        class_weight="balanced" if params["use_class_weights"] else None,
        solver="lbfgs",
        max_iter=MAX_ITER,
    )
    return Pipeline([("scaler", StandardScaler()), ("classifier", classifier)])


@dataclass(frozen=True)
class LogisticModel:
    """A fitted scaler + classifier pipeline."""

    config: ModelConfig
    pipeline: Pipeline
    converged: bool

    @property
    def native(self) -> Pipeline:
        return self.pipeline

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        rows = as_features(X).astype(np.float64)  # the precision the exported graph runs in
        return self.pipeline.predict_proba(rows).astype(np.float32, copy=False)

    def training_metrics(self) -> dict[str, float]:
        return {"lbfgs_iterations": int(self.pipeline["classifier"].n_iter_.max())}

    def to_onnx(self) -> bytes:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType

        model = to_onnx(
            self.pipeline,
            initial_types=[(INPUT_NAME, DoubleTensorType([None, N_FEATURES]))],
            options={id(self.pipeline["classifier"]): {"zipmap": False}},
            target_opset=OPSET,
        )
        return finalise_onnx(float_interface(model), self.config)


def train(
    config: ModelConfig,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    threads: int,
) -> LogisticModel:
    """Fit on the training split; lbfgs is deterministic and has no early stopping, so the
    validation split, seed and threads go unused."""
    pipeline = build_pipeline(config.params, len(X_train))
    with warnings.catch_warnings():
        # Reported through `converged` and a log line instead: an unconverged fit is still usable
        # and must not fail where warnings are errors.
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X_train, y_train)
    converged = int(pipeline["classifier"].n_iter_.max()) < MAX_ITER
    if not converged:
        logger.warning("%s: lbfgs stopped at max_iter=%d", config.config_id, MAX_ITER)
    return LogisticModel(config, pipeline, converged)
