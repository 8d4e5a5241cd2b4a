import math

import numpy as np
import pytest
import torch

from rpsquest.models import parse_config, train
from rpsquest.models.export import parity_check
from rpsquest.models.feedforward import ProbabilityNetwork, fit_scaler


def ffnn_config(**overrides):
    params = {
        "hidden": [64, 64],
        "dropout": 0.0,
        "batch": 64,
        "lr": 1e-2,
        "weight_decay": 0.0,
        "patience": 3,
        "reduce_lr_patience": 2,
        "lambda_danger": 0.0,
        "max_epochs": 60,
    }
    return parse_config("test_ffnn", {"family": "feedforward", **params, **overrides})


@pytest.mark.slow
def test_early_stopping_restores_the_best_epoch(noise):
    s = noise

    model = train(ffnn_config(), s.X_train, s.y_train, s.X_val, s.y_val, seed=5)

    losses = model.val_losses
    assert len(losses) < 60
    assert len(losses) == model.best_epoch + 3
    assert model.best_epoch == int(np.argmin(losses)) + 1
    assert model.training_metrics()["best_epoch"] == model.best_epoch
    with torch.no_grad():
        logits = model.network.logits(torch.from_numpy(s.X_val))
        kept = torch.nn.functional.cross_entropy(logits, torch.from_numpy(s.y_val)).item()
    assert kept == pytest.approx(losses[model.best_epoch - 1], abs=1e-6)
    assert kept < losses[-1]


def test_a_one_row_last_batch_does_not_crash_batch_norm(synthetic):
    s = synthetic
    rows = 129  # two batches of 64 and one lone row

    model = train(
        ffnn_config(max_epochs=2), s.X_train[:rows], s.y_train[:rows], s.X_val, s.y_val, seed=5
    )

    assert model.best_epoch >= 1
    assert np.isfinite(model.predict_proba(s.X_test)).all()


def test_the_danger_term_damps_the_beater_of_the_likeliest_move(synthetic):
    X = synthetic.X_test
    plain = ProbabilityNetwork(*fit_scaler(X), hidden=[8], dropout=0.0, lambda_danger=0.0)
    damped = ProbabilityNetwork(*fit_scaler(X), hidden=[8], dropout=0.0, lambda_danger=0.5)
    damped.load_state_dict(plain.state_dict())
    plain.eval()
    damped.eval()

    with torch.no_grad():
        p = plain(torch.from_numpy(X)).numpy()
        q = damped(torch.from_numpy(X)).numpy()

    expected = p.copy()
    rows = np.arange(len(p))
    expected[rows, (p.argmax(axis=1) + 1) % 3] *= math.exp(-0.5)
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(q, expected, atol=1e-6)


@pytest.mark.slow
def test_the_danger_adjustment_is_inside_the_onnx_graph(synthetic):
    s = synthetic
    model = train(
        ffnn_config(lambda_danger=1.0, max_epochs=3), s.X_train, s.y_train, s.X_val, s.y_val, seed=5
    )

    assert parity_check(model, model.to_onnx(), s.X_test) < 1e-5


def test_the_scaler_leaves_constant_features_unscaled(synthetic):
    mean, scale = fit_scaler(synthetic.X_train)

    assert scale[49] == 1.0
    assert mean[49] == 0.0
    assert np.allclose(scale[10:27], synthetic.X_train[:, 10:27].std(axis=0), rtol=1e-5)
