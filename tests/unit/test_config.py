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


def test_retention_keeps_the_newest_three_versions_of_a_lineage_unless_told_otherwise():
    assert Settings.from_env({}).retention_versions == 3
    assert Settings.from_env({"RPS_RETENTION_VERSIONS": "1"}).retention_versions == 1


@pytest.mark.parametrize("value", ["0", "-2"])
def test_retention_must_keep_each_lineages_newest_version(value):
    with pytest.raises(ValueError, match=f"RPS_RETENTION_VERSIONS={value} must be at least 1"):
        Settings.from_env({"RPS_RETENTION_VERSIONS": value})


def test_play_keeps_the_adaptive_state_of_512_sessions_unless_told_otherwise():
    assert Settings.from_env({}).adaptive_sessions == 1024
    assert Settings.from_env({"RPS_ADAPTIVE_SESSIONS": "64"}).adaptive_sessions == 64
    with pytest.raises(ValueError, match="RPS_ADAPTIVE_SESSIONS=0 must be at least 1"):
        Settings.from_env({"RPS_ADAPTIVE_SESSIONS": "0"})
