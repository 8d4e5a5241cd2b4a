import pytest

from rpsquest.features import (
    FEATURE_NAMES,
    N_FEATURES,
    N_V2_FEATURES,
    PROBE_VECTOR,
    round_features,
)
from rpsquest.game.rules import MOVES, PlayedRound, round_points, score_round
from tests.conftest import GAME_1


def _history(moves):
    """The §2.3 game: user and bot moves, scored with the game's real values."""
    rounds, user, bot = [], 0.0, 0.0
    for round_no, (user_move, bot_move) in enumerate(moves, start=1):
        points = round_points(GAME_1, round_no)
        scored = score_round(user_move, bot_move, points, user, bot)
        user, bot = scored.user_score, scored.bot_score
        rounds.append(PlayedRound(round_no, user_move, bot_move, points, user, bot))
    return rounds


HISTORY = _history([("rock", "scissors"), ("paper", "scissors"), ("scissors", "scissors")])
# Round 4 of the §2.3 game goes on: paper (H) against rock, a win.
LONGER = _history(
    [("rock", "scissors"), ("paper", "scissors"), ("scissors", "scissors"), ("paper", "rock")]
)


def v2_prefix(vector):
    return vector[:N_V2_FEATURES]


def test_names_expand_lag_major_and_keep_easy_mode_at_49():
    assert (N_V2_FEATURES, N_FEATURES) == (50, 116)
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    assert FEATURE_NAMES[:4] == (
        "user_lag1_rock",
        "user_lag1_paper",
        "user_lag1_scissors",
        "user_lag2_rock",
    )
    assert FEATURE_NAMES[18] == "res_lag1_win"
    assert FEATURE_NAMES[30] == "pts_lag1_rock"
    assert FEATURE_NAMES[42:46] == (
        "tend_favored",
        "tend_fav_beater",
        "tend_fav_prey",
        "score_diff",
    )
    assert FEATURE_NAMES[49] == "easy_mode"


def test_round_one_has_no_history():
    vector = round_features([], round_points(GAME_1, 1), 1, easy=False)

    expected = [0.0] * 27 + [1.4, 1.9, 1.0] * 4 + [0.0] * 7 + [10.0, 10.0, 1.0, 0.0]
    assert v2_prefix(vector) == pytest.approx(expected, abs=1e-9)
    # Without history only this round's tier map is set: rock M, paper H, scissors L.
    tier_map = [0, 1, 0, 1, 0, 0, 0, 0, 1]
    assert vector[N_V2_FEATURES:] == [0.0] * 24 + tier_map + [0.0] * 33


def test_round_two_sees_one_round():
    vector = round_features(HISTORY[:1], round_points(GAME_1, 2), 2, easy=False)

    expected = [0.0] * 50
    expected[0] = expected[11] = expected[18] = 1.0
    expected[27:30] = [1.8, 1.0, 1.3]
    expected[30:33] = [1.4, 1.9, 1.0]
    expected[33:39] = [1.8, 1.0, 1.3] * 2
    expected[39] = expected[44] = 1.0
    expected[45:49] = [1.4, 8.6, 10.0, 2.0]
    assert v2_prefix(vector) == pytest.approx(expected, abs=1e-9)


def test_round_four_is_the_probe_vector():
    vector = round_features(HISTORY, round_points(GAME_1, 4), 4, easy=False)

    assert vector == pytest.approx(PROBE_VECTOR, abs=1e-9)


def test_easy_mode_only_sets_index_49():
    normal = round_features(HISTORY, round_points(GAME_1, 4), 4, easy=False)
    easy = round_features(HISTORY, round_points(GAME_1, 4), 4, easy=True)

    assert easy[:49] == normal[:49]
    assert easy[50:] == normal[50:]
    assert (normal[49], easy[49]) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("index", "value"),
    [
        (FEATURE_NAMES.index("user_lag1_scissors"), 1.0),
        (FEATURE_NAMES.index("bot_lag3_scissors"), 1.0),
        (FEATURE_NAMES.index("res_lag1_draw"), 1.0),
        (FEATURE_NAMES.index("res_lag2_lose"), 1.0),
        (FEATURE_NAMES.index("res_lag3_win"), 1.0),
        (FEATURE_NAMES.index("pts_lag3_paper"), 1.9),
        (FEATURE_NAMES.index("user_tend_paper"), 1 / 3),
        (FEATURE_NAMES.index("tend_fav_beater"), 2 / 3),
        (FEATURE_NAMES.index("user_pts_to_win"), 8.1),
        (FEATURE_NAMES.index("round_no"), 4.0),
    ],
)
def test_named_columns_of_the_probe(index, value):
    assert round_features(HISTORY, round_points(GAME_1, 4), 4, easy=False)[index] == (
        pytest.approx(value, abs=1e-9)
    )


# The value-relative indices (50-115), derived by hand from the §2.3 game. Rounds 1-4 rank the
# moves (H, M, L) paper, rock, scissors, except round 2: rock, scissors, paper. So the user's
# tiers are M, L, L (then H in LONGER), the bot's L, M, L (then M).
PROBE_TIERS = {
    "user_tier_lag1_L": 1, "user_tier_lag2_L": 1, "user_tier_lag3_M": 1,
    "bot_tier_lag1_L": 1, "bot_tier_lag2_M": 1, "bot_tier_lag3_L": 1,
    "rock_is_M": 1, "paper_is_H": 1, "scissors_is_L": 1,
    "user_tier_last5_M": 1 / 3, "user_tier_last5_L": 2 / 3,
    # a win was followed by L, a loss by L; the draw is the last round
    "after_win_tier_L": 1, "after_lose_tier_L": 1,
    # M -> L is down, L -> L a repeat
    "user_tier_repeat": 1 / 2, "user_tier_down": 1 / 2,
    # rock -> paper -> scissors: each time the beater of the last move
    "user_move_beater": 1,
    "rock_tier_tend": 1 / 3, "scissors_tier_tend": 2 / 3,
    "rock_tier_last5": 1 / 3, "scissors_tier_last5": 2 / 3,
    # from L: paper (H) is a step down, scissors (L) a repeat; rock is beater(scissors)
    "paper_tier_step": 1 / 2, "scissors_tier_step": 1 / 2,
    "rock_move_step": 1,
}  # fmt: skip
LONGER_TIERS = {
    "user_tier_lag1_H": 1, "user_tier_lag2_L": 1, "user_tier_lag3_L": 1, "user_tier_lag4_M": 1,
    "bot_tier_lag1_M": 1, "bot_tier_lag2_L": 1, "bot_tier_lag3_M": 1,
    "rock_is_M": 1, "paper_is_H": 1, "scissors_is_L": 1,
    "user_tier_last5_H": 1 / 4, "user_tier_last5_M": 1 / 4, "user_tier_last5_L": 1 / 2,
    "after_win_tier_L": 1, "after_lose_tier_L": 1, "after_draw_tier_H": 1,
    # M -> L down, L -> L repeat, L -> H down (up from L is M)
    "user_tier_repeat": 1 / 3, "user_tier_down": 2 / 3,
    # ... then scissors -> paper, the prey of scissors
    "user_move_beater": 2 / 3, "user_move_prey": 1 / 3,
    "rock_tier_tend": 1 / 4, "paper_tier_tend": 1 / 4, "scissors_tier_tend": 1 / 2,
    "rock_tier_last5": 1 / 4, "paper_tier_last5": 1 / 4, "scissors_tier_last5": 1 / 2,
    # the last round was a win, and after the win came L
    "scissors_after_result": 1,
    # from H: rock (M) is down, paper (H) a repeat, scissors (L) up
    "rock_tier_step": 2 / 3, "paper_tier_step": 1 / 3,
    # from paper: rock is its prey, scissors its beater
    "rock_move_step": 1 / 3, "scissors_move_step": 2 / 3,
}  # fmt: skip


@pytest.mark.parametrize(
    ("history", "round_no", "expected"),
    [(HISTORY, 4, PROBE_TIERS), (LONGER, 5, LONGER_TIERS)],
    ids=["round 4 (the probe)", "round 5"],
)
def test_value_relative_features_by_hand(history, round_no, expected):
    vector = round_features(history, round_points(GAME_1, round_no), round_no, easy=False)

    named = dict(zip(FEATURE_NAMES[N_V2_FEATURES:], vector[N_V2_FEATURES:], strict=True))
    assert named == pytest.approx({name: expected.get(name, 0.0) for name in named}, abs=1e-9)


def test_a_tier_habit_shows_at_the_move_holding_that_tier():
    # the cheapest move every round, whichever it is
    always_low = _history([(round_points(GAME_1, n).low, "rock") for n in range(1, 7)])
    points = round_points(GAME_1, 7)

    vector = round_features(always_low, points, 7, easy=False)

    named = dict(zip(FEATURE_NAMES, vector, strict=True))
    assert [named[f"{m}_tier_tend"] for m in MOVES] == _one_at(MOVES.index(points.low))
    assert [named[f"{m}_tier_step"] for m in MOVES] == _one_at(MOVES.index(points.low))


def _one_at(index):
    return [1.0 if i == index else 0.0 for i in range(3)]
