"""Settings read from the environment."""

import pytest

from rpsquest.config import Settings


def test_each_new_model_plays_two_arena_sessions_per_type_unless_told_otherwise():
    assert Settings.from_env({}).train_arena_sessions == 2
    assert Settings.from_env({"RPS_TRAIN_ARENA_SESSIONS": "5"}).train_arena_sessions == 5
    assert Settings.from_env({"RPS_TRAIN_ARENA_SESSIONS": "0"}).train_arena_sessions == 0


def test_a_session_count_that_is_not_an_integer_is_refused_by_name():
    with pytest.raises(ValueError, match="RPS_TRAIN_ARENA_SESSIONS='two'"):
        Settings.from_env({"RPS_TRAIN_ARENA_SESSIONS": "two"})
