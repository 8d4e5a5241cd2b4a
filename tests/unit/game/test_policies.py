from typing import get_args

import pytest

from rpsquest.game.policies import (
    ALIASES,
    FAMILY_NAMES,
    FamilyName,
    ev_move,
    expected_values,
    family_name,
)
from rpsquest.game.rules import RoundPoints

ROUND_4 = RoundPoints(1.5, 2.0, 1.0)


@pytest.mark.parametrize(
    ("probabilities", "scores", "expected", "move"),
    [
        ((0.5, 0.3, 0.2), (2.5, 2.4), (-0.2975, 0.8015, -0.4490), "paper"),
        ((0.2, 0.3, 0.5), (8.5, 9.0), (2.1450, -3.1075, -2.0125), "rock"),
        ((1 / 3, 1 / 3, 1 / 3), (0.0, 0.0), (-0.1667, 0.3333, -0.1667), "paper"),
    ],
)
def test_expected_values_match_the_worked_examples(probabilities, scores, expected, move):
    values = expected_values(probabilities, ROUND_4, *scores)

    assert [round(values[m], 4) for m in ("rock", "paper", "scissors")] == list(expected)
    assert ev_move(probabilities, ROUND_4, *scores) == move


def test_equal_values_break_ties_in_canonical_order():
    flat = RoundPoints(1.0, 1.0, 1.0)

    assert ev_move((1 / 3, 1 / 3, 1 / 3), flat, 0.0, 0.0) == "rock"


@pytest.mark.parametrize(
    ("draw", "move"), [(0.0, "scissors"), (0.69, "scissors"), (0.7, "rock"), (0.9, "paper")]
)
def test_easy_mode_mostly_plays_the_worst_move(draw, move):
    # EVs: paper 0.8015 > rock -0.2975 > scissors -0.4490
    assert ev_move((0.5, 0.3, 0.2), ROUND_4, 2.5, 2.4, easy_draw=draw) == move


def test_the_family_type_names_exactly_the_catalogued_families():
    assert get_args(FamilyName) == FAMILY_NAMES
    assert ALIASES == ("Production", "B", "shadow1", "shadow2")


@pytest.mark.parametrize(("value", "name"), [("xgboost", "xgboost"), ("legacy", None), ([], None)])
def test_family_name_finds_only_catalogued_families(value, name):
    assert family_name(value) == name
