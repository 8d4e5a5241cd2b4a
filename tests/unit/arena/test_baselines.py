from collections import Counter

import pytest

from rpsquest.arena.baselines import BASELINES, baseline_bot, markov1_probabilities
from rpsquest.game.bots import Situation
from tests.conftest import GAME_1
from tests.helpers import POINTS, rounds_of

OPENING = ("scissors", "rock", "paper")


def situation(*pairs, game_id=GAME_1):
    history = rounds_of(*pairs)
    return Situation(
        game_id=game_id,
        policy="baseline",
        family="legacy",
        alias=None,
        easy=False,
        opening=OPENING,
        history=tuple(history),
        points=POINTS,
        round_no=len(history) + 1,
        features=(),
    )


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("played", [0, 1, 2])
def test_a_baseline_plays_the_gambit_first(name, played):
    decision = baseline_bot(name, "secret")(situation(*["rock/rock"] * played))

    assert (decision.move, decision.phase) == (OPENING[played], "gambit")


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        (("rock", "rock", "rock"), (3 / 5, 1 / 5, 1 / 5)),
        (("rock", "paper", "rock", "paper", "rock"), (1 / 5, 3 / 5, 1 / 5)),
        (("paper", "scissors", "rock"), (1 / 3, 1 / 3, 1 / 3)),  # rock never led anywhere
    ],
)
def test_markov1_counts_what_followed_the_users_last_move_plus_one(users, expected):
    probabilities = markov1_probabilities(situation(*(f"{move}/rock" for move in users)))

    assert probabilities == pytest.approx(expected)


@pytest.mark.parametrize(
    ("name", "users", "expected"),
    [
        # SPEC §5.1's third EV example: uniform probabilities at 1.5/2.0/1.0 play paper
        ("ev-uniform", ("paper", "scissors", "paper", "scissors", "paper"), "paper"),
        # P = (1/5, 1/5, 3/5): EV rock 0.5, paper -0.2, scissors -0.1
        ("ev-markov1", ("paper", "scissors", "paper", "scissors", "paper"), "rock"),
        # P = (3/5, 1/5, 1/5): EV rock -0.1, paper 1.0, scissors -0.7
        ("ev-markov1", ("rock", "rock", "rock"), "paper"),
    ],
)
def test_an_ev_baseline_takes_the_best_expected_value(name, users, expected):
    decision = baseline_bot(name, "secret")(situation(*(f"{move}/rock" for move in users)))

    assert (decision.move, decision.phase) == (expected, "baseline")


def test_the_uniform_baseline_is_keyed_and_even():
    def moves(secret):
        bot = baseline_bot("uniform", secret)
        return [bot(situation(*["rock/rock"] * 3, game_id=f"g-{k}")).move for k in range(3000)]

    counts = Counter(moves("secret"))

    assert moves("secret") == moves("secret") != moves("other")
    assert len(counts) == 3
    assert all(abs(n / 3000 - 1 / 3) < 0.03 for n in counts.values())
