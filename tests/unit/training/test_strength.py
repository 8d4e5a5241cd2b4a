"""The strength check a training cycle runs on each new model: its policy, acting with that one
model, against the zoo on the arena's evaluation seeds."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from rpsquest.arena.zoo import ZOO_TYPES
from rpsquest.features import N_FEATURES
from rpsquest.models import parse_config, train
from rpsquest.models.common import INPUT_NAME
from rpsquest.models.export import create_session
from rpsquest.training.strength import Strength, measure_strength, type_metric


@pytest.fixture(scope="module")
def small_model():
    """A real logistic model, trained in a fraction of a second on rows of the right width."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, N_FEATURES)).astype(np.float32)
    y = rng.integers(0, 3, size=600)
    config = parse_config(
        "mn_small", {"family": "logistic", "l2_lambda": 0.05, "use_class_weights": True}
    )
    trained = train(config, X[:400], y[:400], X[400:], y[400:], seed=1)
    return create_session(trained.to_onnx())


def test_the_check_rates_every_zoo_type_and_averages_them(make_settings, small_model):
    strength = measure_strength(make_settings(), "logistic", small_model, sessions=1)

    assert tuple(strength.win_rates) == ZOO_TYPES
    assert all(0.0 <= rate <= 1.0 for rate in strength.win_rates.values())
    assert strength.headline == pytest.approx(statistics.fmean(strength.win_rates.values()))


class Unusable:
    """An ONNX session stand-in whose probabilities are not numbers."""

    def run(self, outputs, feeds):
        return [np.full((len(feeds[INPUT_NAME]), 3), math.nan, dtype=np.float32)]


def test_a_model_whose_answers_fall_back_has_no_strength(make_settings):
    with pytest.raises(ValueError, match="did not answer"):
        measure_strength(
            make_settings(), "feedforward", Unusable(), sessions=1, kinds=("constant",)
        )


def test_the_metrics_name_each_type_with_underscores_and_read_back():
    strength = Strength(0.8, {"freq-counter": 0.7, "constant": 0.9})

    metrics = strength.as_metrics()

    assert metrics == {"arena_headline": 0.8, "arena_freq_counter": 0.7, "arena_constant": 0.9}
    assert type_metric("markov2-bot") == "arena_markov2_bot"
    assert Strength.from_metrics({**metrics, "test_accuracy": 0.4}) == Strength(
        0.8, {"constant": 0.9, "freq-counter": 0.7}
    )
    assert Strength.from_metrics({"test_accuracy": 0.4}) is None
