import pytest

from rpsquest.game.rules import (
    MOVES,
    RoundPoints,
    beater,
    match_winner,
    outcome,
    prey,
    reaches_target,
    round_points,
    score_round,
)
from tests.conftest import GAME_1, GAME_2, GAME_3


@pytest.mark.parametrize(
    ("game_id", "round_no", "expected"),
    [
        (GAME_1, 1, (1.4, 1.9, 1.0)),
        (GAME_1, 2, (1.8, 1.0, 1.3)),
        (GAME_1, 3, (1.5, 2.0, 1.0)),
        (GAME_1, 4, (1.5, 2.0, 1.0)),
        (GAME_1, 5, (1.4, 1.9, 1.0)),
        (GAME_2, 1, (1.0, 1.5, 2.0)),
        (GAME_2, 2, (1.0, 1.2, 1.7)),
        (GAME_2, 3, (1.2, 1.7, 1.0)),
        (GAME_3, 1, (1.3, 1.8, 1.0)),
        (GAME_3, 2, (1.3, 1.8, 1.0)),
        (GAME_3, 3, (1.9, 1.0, 1.4)),
    ],
)
def test_round_points_match_the_worked_examples(game_id, round_no, expected):
    assert round_points(game_id, round_no) == RoundPoints(*expected)


@pytest.mark.parametrize("round_no", range(1, 60))
def test_round_values_are_distinct_and_ranked_in_a_cycle(round_no):
    points = round_points("some-game", round_no)

    assert points[points.high] > points[points.middle] > points[points.low] == 1.0
    assert prey(points.high) == points.middle
    assert prey(points.middle) == points.low
    assert prey(points.low) == points.high


def test_prey_and_beater_are_inverse_and_follow_the_rules():
    assert [prey(m) for m in MOVES] == ["scissors", "rock", "paper"]
    assert all(beater(prey(m)) == m for m in MOVES)
    assert outcome("rock", "scissors") == "win"
    assert outcome("rock", "paper") == "lose"
    assert outcome("paper", "paper") == "draw"


def test_scoring_follows_the_worked_example():
    rows = [("rock", "scissors"), ("paper", "scissors"), ("scissors", "scissors")]
    expected = [
        ("win", 1.4, 0.0, 1.4, 0.0),
        ("lose", 0.0, 1.3, 1.4, 1.3),
        ("draw", 0.5, 0.5, 1.9, 1.8),
    ]
    user_score = bot_score = 0.0
    for round_no, ((user, bot), want) in enumerate(zip(rows, expected, strict=True), start=1):
        scored = score_round(user, bot, round_points(GAME_1, round_no), user_score, bot_score)
        user_score, bot_score = scored.user_score, scored.bot_score

        got = (scored.result, scored.user_delta, scored.bot_delta, user_score, bot_score)
        assert got == want
        assert not scored.finished


@pytest.mark.parametrize(
    ("before", "after", "winner"),
    [((9.5, 9.6), (10.0, 10.1), "bot"), ((9.5, 9.5), (10.0, 10.0), "tie")],
)
def test_a_draw_can_finish_for_both_sides(before, after, winner):
    points = round_points(GAME_1, 1)

    scored = score_round("rock", "rock", points, *before)

    assert (scored.user_score, scored.bot_score) == after
    assert scored.winner == winner


def test_the_winner_gains_its_own_value_and_scores_are_not_capped():
    scored = score_round("paper", "rock", round_points(GAME_1, 1), 9.0, 3.0)

    assert scored.user_score == 10.9
    assert scored.winner == "user"


def test_scores_stay_exact_tenths():
    scored = score_round("paper", "rock", RoundPoints(1.4, 1.9, 1.0), 0.1, 0.0)

    assert scored.user_score == 2.0


@pytest.mark.parametrize(
    ("score", "reached"), [(9.9, False), (10 - 1e-7, True), (10.0, True), (12.3, True)]
)
def test_reaching_the_target_tolerates_float_noise(score, reached):
    assert reaches_target(score) is reached


def test_match_winner_is_none_while_the_game_goes_on():
    assert match_winner(9.9, 9.8) is None
    assert match_winner(10.0, 9.8) == "user"
    assert match_winner(10.2, 10.1) == "user"
