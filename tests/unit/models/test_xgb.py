import numpy as np
import pytest

from rpsquest.models import parse_config, train
from rpsquest.models.export import parity_check
from rpsquest.models.xgb import EARLY_STOPPING_ROUNDS


@pytest.mark.slow
def test_onnx_uses_the_best_iteration_after_early_stopping(noise):
    s = noise
    params = {
        "n_estimators": 300,
        "learning_rate": 0.5,
        "max_depth": 4,
        "min_child_weight": 1,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "reg_lambda": 1.0,
        "reg_alpha": 0.0,
        "gamma": 0.0,
    }
    config = parse_config("test_xgb", {"family": "xgboost", **params})

    model = train(config, s.X_train, s.y_train, s.X_val, s.y_val, seed=1)

    grown = model.classifier.get_booster().num_boosted_rounds()
    assert grown == model.best_iteration + 1 + EARLY_STOPPING_ROUNDS < 300
    every_tree = model.classifier.predict_proba(s.X_test, iteration_range=(0, grown))
    assert np.abs(every_tree - model.predict_proba(s.X_test)).max() > 1e-3
    assert parity_check(model, model.to_onnx(), s.X_test) < 1e-5
    assert model.training_metrics()["best_iteration"] == model.best_iteration
