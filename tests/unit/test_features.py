import pytest

from rpsquest.features import FEATURE_NAMES, N_FEATURES, PROBE_VECTOR, round_features
from rpsquest.game.rules import PlayedRound, round_points, score_round
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


def test_names_expand_lag_major_and_keep_easy_mode_last():
    assert N_FEATURES == 50
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
    assert vector == pytest.approx(expected, abs=1e-9)


def test_round_two_sees_one_round():
    vector = round_features(HISTORY[:1], round_points(GAME_1, 2), 2, easy=False)

    expected = [0.0] * 50
    expected[0] = expected[11] = expected[18] = 1.0
    expected[27:30] = [1.8, 1.0, 1.3]
    expected[30:33] = [1.4, 1.9, 1.0]
    expected[33:39] = [1.8, 1.0, 1.3] * 2
    expected[39] = expected[44] = 1.0
    expected[45:49] = [1.4, 8.6, 10.0, 2.0]
    assert vector == pytest.approx(expected, abs=1e-9)


def test_round_four_is_the_probe_vector():
    vector = round_features(HISTORY, round_points(GAME_1, 4), 4, easy=False)

    assert vector == pytest.approx(PROBE_VECTOR, abs=1e-9)


def test_easy_mode_only_sets_index_49():
    normal = round_features(HISTORY, round_points(GAME_1, 4), 4, easy=False)
    easy = round_features(HISTORY, round_points(GAME_1, 4), 4, easy=True)

    assert easy[:49] == normal[:49]
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
