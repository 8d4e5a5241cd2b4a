import random

import pytest

from rpsquest.game.legacy import (
    LEGACY_BOTS,
    Turn,
    dan_weights,
    legacy_move,
    seen_by_bot,
    seen_by_user,
    simulated_player_move,
)
from rpsquest.game.rules import PlayedRound, RoundPoints

# H = paper (2.0), M = rock (1.5), L = scissors (1.0); beater(H) = scissors.
POINTS = RoundPoints(1.5, 2.0, 1.0)
WIN, LOSE, DRAW = ("rock", "scissors"), ("rock", "paper"), ("rock", "rock")


def turns(*pairs, scores=None):
    """Turns from (own, other) pairs; scores after the last round default to level."""
    history = [Turn(own, other, POINTS, 0.0, 0.0) for own, other in pairs]
    if scores and history:
        last = history[-1]
        history[-1] = Turn(last.own, last.other, POINTS, *scores)
    return history


def move(bot, history, rng=None):
    return legacy_move(bot, history, POINTS, rng or random.Random(0))


@pytest.mark.parametrize("bot", LEGACY_BOTS)
def test_every_bot_plays_a_move_with_no_history(bot):
    assert move(bot, []) in ("rock", "paper", "scissors")


@pytest.mark.parametrize(
    ("bot", "history", "expected"),
    [
        ("ace", [], "paper"),
        ("ace", turns(WIN, LOSE, LOSE), "paper"),
        ("ace", turns(LOSE, WIN, ("rock", "scissors")), "rock"),
        ("bob", [], "paper"),
        ("bob", turns(DRAW), "scissors"),
        ("bob", turns(DRAW, DRAW), "rock"),
        (
            "bob",
            turns(("paper", "scissors"), ("paper", "scissors"), ("scissors", "rock")),
            "scissors",
        ),
        ("cal", turns(WIN, WIN, WIN), "paper"),
        ("cal", turns(WIN, WIN), "scissors"),
        ("cal", turns(LOSE, WIN, WIN), "scissors"),
        ("edd", [], "paper"),
        ("edd", turns(LOSE, DRAW, WIN), "paper"),
        ("edd", turns(("scissors", "rock"), ("scissors", "scissors"), ("paper", "paper")), "rock"),
        ("fox", [], "rock"),
        ("fox", turns(WIN, scores=(1.0, 2.0)), "scissors"),
        (
            "fox",
            turns(("rock", "scissors"), ("paper", "rock"), ("paper", "rock"), scores=(3.0, 0.0)),
            "paper",
        ),
        ("fox", turns(DRAW, scores=(0.5, 0.5)), "rock"),
        ("gus", turns(LOSE, WIN), "paper"),
        ("hal", turns(("paper", "rock"), ("paper", "rock"), ("rock", "scissors")), "paper"),
        ("hal", turns(WIN, WIN, LOSE), "rock"),
        ("hal", turns(WIN, WIN), "rock"),
    ],
)
def test_bot_rules_against_fixed_histories(bot, history, expected):
    assert move(bot, history) == expected


def test_bob_counts_tiers_with_each_rounds_own_values():
    shifted = RoundPoints(2.0, 1.0, 1.5)  # H = rock, M = scissors, L = paper
    history = [
        Turn("rock", "paper", shifted, 0.0, 2.0),  # self played H and lost
        Turn("rock", "paper", shifted, 0.0, 4.0),  # H again, lost
        Turn("scissors", "scissors", POINTS, 0.0, 4.0),
    ]

    assert move("bob", history) == "scissors"  # beater(this round's H = paper)


def test_gus_plays_uniformly_after_two_wins():
    seen = {move("gus", turns(WIN, WIN), random.Random(seed)) for seed in range(30)}

    assert seen == {"rock", "paper", "scissors"}


def test_dan_weights_start_from_the_high_value():
    weights = dan_weights([], POINTS)

    assert weights == pytest.approx({"paper": 0.6, "scissors": 0.3, "rock": 0.1})


def test_dan_weights_react_to_the_last_ten_rounds():
    history = turns(
        ("rock", "scissors"), ("rock", "scissors"), ("rock", "scissors"), scores=(4.5, 0.0)
    )

    weights = dan_weights(history, POINTS)

    # paper: 0.6 + 0.15 (won) + 0.10 (beats favourite rock); scissors: 0.3 + 0.10 (ahead)
    total = 0.85 + 0.4 + 0.1
    assert weights == pytest.approx(
        {"paper": 0.85 / total, "scissors": 0.4 / total, "rock": 0.1 / total}
    )


def test_perspectives_swap_own_and_other():
    played = [PlayedRound(1, "rock", "paper", POINTS, 0.0, 2.0)]

    assert seen_by_bot(played)[0] == Turn("paper", "rock", POINTS, 2.0, 0.0)
    assert seen_by_user(played)[0] == Turn("rock", "paper", POINTS, 0.0, 2.0)
    assert seen_by_bot(played)[0].result == "win"


def test_simulated_players_are_reproducible_per_game_and_round():
    history = [PlayedRound(1, "rock", "rock", POINTS, 0.5, 0.5)]

    moves = {simulated_player_move("dan", "g-1", history, POINTS) for _ in range(5)}

    assert len(moves) == 1
