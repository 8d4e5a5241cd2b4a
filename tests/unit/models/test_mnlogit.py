import math

import numpy as np
import pytest

from rpsquest.features import N_FEATURES
from rpsquest.models import parse_config, train
from rpsquest.models.mnlogit import build_pipeline, inverse_regularisation


@pytest.mark.parametrize(
    ("l2_lambda", "n_train", "expected"),
    [(0.05, 1000, 0.01), (0.2, 500, 0.005), (1.0, 8000, 1 / 16000), (0.0, 1000, math.inf)],
)
def test_c_is_one_over_twice_n_lambda(l2_lambda, n_train, expected):
    assert inverse_regularisation(l2_lambda, n_train) == pytest.approx(expected)


@pytest.mark.parametrize(("use_class_weights", "class_weight"), [(True, "balanced"), (False, None)])
def test_class_weights_are_balanced_only_when_asked(use_class_weights, class_weight):
    pipeline = build_pipeline({"l2_lambda": 0.1, "use_class_weights": use_class_weights}, 100)

    classifier = pipeline["classifier"]
    assert classifier.class_weight == class_weight
    assert (classifier.solver, classifier.max_iter) == ("lbfgs", 1000)
    assert [name for name, _ in pipeline.steps] == ["scaler", "classifier"]


# The synthetic training split has 1,050 rows: C = 1 / (2 * 1050 * 0.4) = 1 / 840.
@pytest.mark.parametrize(
    ("l2_lambda", "use_class_weights", "expected_c"), [(0.4, True, 1 / 840), (0.0, False, math.inf)]
)
def test_trained_pipeline_uses_the_training_split_size(
    synthetic, l2_lambda, use_class_weights, expected_c
):
    s = synthetic
    params = {"l2_lambda": l2_lambda, "use_class_weights": use_class_weights}
    config = parse_config("test_mn", {"family": "logistic", **params})

    model = train(config, s.X_train, s.y_train, s.X_val, s.y_val, seed=0)

    classifier = model.native["classifier"]
    assert len(s.X_train) == 1050
    assert classifier.get_params()["C"] == pytest.approx(expected_c)
    assert classifier.class_weight == ("balanced" if use_class_weights else None)
    assert classifier.coef_.shape == (3, N_FEATURES)
    assert model.converged


def test_an_unpenalised_fit_over_nearly_collinear_features_keeps_onnx_parity():
    """Weights in the tens of thousands that cancel: float32 arithmetic drifted by about 1e-3
    here, the double-precision graph matches the native model."""
    from rpsquest.models.export import parity_check

    rng = np.random.default_rng(1)
    X = rng.integers(0, 2, (4000, N_FEATURES)).astype(np.float32)
    X[:, 1] = X[:, 0] + rng.normal(0, 1e-3, len(X)).astype(np.float32)
    y = ((X[:, 1] - X[:, 0]) * 1000 > rng.logistic(0, 1, len(X))).astype(int) + (X[:, 2] > 0)
    config = parse_config(
        "test_mn", {"family": "logistic", "l2_lambda": 0.0, "use_class_weights": False}
    )
    model = train(config, X[:3000], y[:3000], X[3000:], y[3000:], seed=0)

    assert np.abs(model.pipeline["classifier"].coef_).max() > 1e4
    assert parity_check(model, model.to_onnx(), X[3000:]) < 1e-6
