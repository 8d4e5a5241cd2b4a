import numpy as np
import pytest

from rpsquest.arena.selfplay import OneModel, play_match, server_bot
from rpsquest.features import N_FEATURES
from rpsquest.game.bots import AliasPrediction
from rpsquest.game.rules import match_winner
from rpsquest.models.common import INPUT_NAME


class Prophet:
    """A model bank that always predicts the same probabilities for one alias."""

    def __init__(self, alias, probabilities):
        self.alias = alias
        self.probabilities = probabilities
        self.calls = 0

    def predict(self, family, features):
        assert len(features) == N_FEATURES
        self.calls += 1
        return {self.alias: AliasPrediction(self.alias, 1, None, self.probabilities)}

    def assignment_id(self, family, alias):
        return None


@pytest.mark.parametrize("policy", ["brian", "forrest", "logan", "ace", "hal"])
def test_a_match_is_played_to_the_finish(policy):
    rounds = play_match("m-1", "edd", policy, "secret").rounds

    last = rounds[-1]
    assert match_winner(last.user_score, last.bot_score) is not None
    assert [r.round_no for r in rounds] == list(range(1, len(rounds) + 1))


def test_an_ml_policy_acts_through_the_given_alias_after_the_gambit():
    bank = Prophet("B", (0.9, 0.05, 0.05))

    rounds = play_match("m-2", "cal", "brian", "secret", bank, alias="B").rounds

    assert bank.calls == len(rounds) - 3


def test_without_the_adaptive_policy_the_acting_model_alone_decides():
    bank = Prophet("B", (0.9, 0.05, 0.05))
    plain = server_bot("secret", bank, adaptive=False)

    rounds = play_match("m-2", "cal", "brian", "secret", alias="B", bot=plain).rounds

    assert {r.bot_move for r in rounds[3:]} == {"paper"}  # EV against a near-certain rock


def test_matches_are_reproducible():
    assert play_match("m-3", "dan", "gus", "s") == play_match("m-3", "dan", "gus", "s")


class FixedSession:
    """An ONNX session stand-in that answers the same probabilities for every row."""

    def run(self, outputs, feeds):
        assert feeds[INPUT_NAME].shape == (1, N_FEATURES)
        return [np.array([[0.25, 0.25, 0.5]], dtype=np.float32)]


def test_one_model_answers_alike_as_each_of_its_aliases():
    bank = OneModel(FixedSession(), ("Production", "B"), version=4)

    answers = bank.predict("logistic", [0.0] * N_FEATURES)

    assert answers == {
        alias: AliasPrediction(alias, 4, None, (0.25, 0.25, 0.5)) for alias in ("Production", "B")
    }
    assert bank.assignment_id("logistic", "B") is None
