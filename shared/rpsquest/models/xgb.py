"""Gradient-boosted trees (`forrest`, §7.1): XGBoost on raw features with early stopping that is
applied, and an ONNX export of exactly the trees `predict_proba` uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost

from rpsquest.models.common import (
    INPUT_NAME,
    N_CLASSES,
    N_FEATURES,
    OPSET,
    as_features,
    finalise_onnx,
)
from rpsquest.models.configs import ModelConfig

EARLY_STOPPING_ROUNDS = 30


@dataclass(frozen=True)
class XGBoostModel:
    """A fitted classifier whose predictions stop at the best validation iteration."""

    config: ModelConfig
    classifier: xgboost.XGBClassifier

    @property
    def native(self) -> xgboost.XGBClassifier:
        return self.classifier

    @property
    def best_iteration(self) -> int:
        """Zero-based index of the last tree used; later trees were grown but are ignored."""
        return int(self.classifier.best_iteration)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        # With early stopping, predict_proba stops at best_iteration on its own.
        return self.classifier.predict_proba(as_features(X)).astype(np.float32, copy=False)

    def training_metrics(self) -> dict[str, float]:
        return {
            "best_iteration": self.best_iteration,
            "boosted_rounds": self.classifier.get_booster().num_boosted_rounds(),
        }

    def to_onnx(self) -> bytes:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        # The converter honours best_iteration; parity_check proves it for every model.
        model = onnxmltools.convert_xgboost(
            self.classifier,
            initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
            target_opset=OPSET,
        )
        return finalise_onnx(model, self.config)


def train(
    config: ModelConfig,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    threads: int,
) -> XGBoostModel:
    """Boost up to `n_estimators` trees; stop 30 rounds after validation mlogloss last fell."""
    classifier = xgboost.XGBClassifier(
        objective="multi:softprob",
        num_class=N_CLASSES,
        tree_method="hist",
        random_state=seed,
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        eval_metric="mlogloss",
        n_jobs=threads,
        **config.params,
    )
    classifier.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=False)
    return XGBoostModel(config, classifier)
