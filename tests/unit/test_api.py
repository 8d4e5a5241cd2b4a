"""Every request rule of SPEC §3.2 (start_game) and §3.3 (play), on the wire types alone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rpsquest.api import PlayRequest, StartGameRequest, default_player_name
from rpsquest.errors import RpsError

# Written out from the spec rather than imported, so the test does not share the code's lists.
ML_POLICIES = ["brian", "forrest", "logan"]
LEGACY_POLICIES = ["ace", "bob", "cal", "dan", "edd", "fox", "gus", "hal"]
PLAY = {"game_id": "g1", "game_token": "t", "move": "rock"}


def test_start_game_defaults_everything_but_the_policy():
    request = StartGameRequest.from_json({"policy": "ace"})

    assert request == StartGameRequest(
        policy="ace",
        difficulty="normal",
        player_name=None,
        session_id=None,
        is_test=False,
        source="human",
    )


@pytest.mark.parametrize("policy", ML_POLICIES + LEGACY_POLICIES)
def test_start_game_accepts_every_policy_of_the_spec(policy):
    assert StartGameRequest.from_json({"policy": policy}).policy == policy


@pytest.mark.parametrize("policy", ML_POLICIES)
def test_easy_mode_exists_for_every_ml_policy(policy):
    request = StartGameRequest.from_json({"policy": policy, "difficulty": "easy"})

    assert request.difficulty == "easy"


@pytest.mark.parametrize("policy", LEGACY_POLICIES)
def test_easy_mode_is_refused_for_every_legacy_policy(policy):
    with pytest.raises(RpsError, match="Easy mode exists only for the ML bots") as caught:
        StartGameRequest.from_json({"policy": policy, "difficulty": "easy"})

    assert caught.value.code == "invalid_difficulty"


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"policy": "BRIAN"}, "policy", "brian"),
        ({"policy": "  Hal "}, "policy", "hal"),
        ({"policy": "logan", "difficulty": "EASY"}, "difficulty", "easy"),
        ({"policy": "ace", "difficulty": "normal"}, "difficulty", "normal"),
        ({"policy": "ace", "difficulty": None}, "difficulty", "normal"),
        ({"policy": "ace", "player_name": "  Zoë <b>  "}, "player_name", "Zoë <b>"),
        ({"policy": "ace", "player_name": "x"}, "player_name", "x"),
        ({"policy": "ace", "player_name": "x" * 40}, "player_name", "x" * 40),
        ({"policy": "ace", "session_id": "a.B_9-"}, "session_id", "a.B_9-"),
        ({"policy": "ace", "session_id": "s" * 64}, "session_id", "s" * 64),
        ({"policy": "ace", "is_test": True}, "is_test", True),
        ({"policy": "ace", "is_test": False}, "is_test", False),
        ({"policy": "ace", "source": "telemetry"}, "source", "telemetry"),
        ({"policy": "ace", "source": "human"}, "source", "human"),
        ({"policy": "ace", "colour": "red", "round": "x"}, "policy", "ace"),
    ],
    ids=[
        "policy-upper-case",
        "policy-padded",
        "easy-upper-case",
        "normal",
        "null-difficulty-is-absent",
        "name-trimmed-and-verbatim",
        "name-of-1",
        "name-of-40",
        "session-id-charset",
        "session-id-of-64",
        "test-game",
        "not-a-test-game",
        "telemetry",
        "human",
        "unknown-fields-ignored",
    ],
)
def test_start_game_accepts_what_the_spec_allows(body, field, expected):
    request = StartGameRequest.from_json(body)

    assert getattr(request, field) == expected


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({}, "validation_error", "'policy' is required."),
        ({"policy": None}, "validation_error", "'policy' is required."),
        ({"policy": 3}, "validation_error", "'policy' must be a string."),
        ({"policy": True}, "validation_error", "'policy' must be a string."),
        ({"policy": ["brian"]}, "validation_error", "'policy' must be a string."),
        ({"policy": "zed"}, "unknown_policy", "Unknown policy; choose one of"),
        ({"policy": ""}, "unknown_policy", "Unknown policy; choose one of"),
        ({"policy": "brian", "difficulty": "hard"}, "invalid_difficulty", "'difficulty' must be"),
        ({"policy": "brian", "difficulty": 1}, "validation_error", "'difficulty' must be a string"),
        ({"policy": "hal", "difficulty": "Easy"}, "invalid_difficulty", "only for the ML bots"),
        ({"policy": "ace", "session_id": ""}, "validation_error", "'session_id' must be 1 to 64"),
        ({"policy": "ace", "session_id": "a b"}, "validation_error", "'session_id' must be 1 to"),
        ({"policy": "ace", "session_id": "é"}, "validation_error", "'session_id' must be 1 to 64"),
        ({"policy": "ace", "session_id": "s" * 65}, "validation_error", "'session_id' must be 1"),
        ({"policy": "ace", "session_id": 7}, "validation_error", "'session_id' must be a string"),
        ({"policy": "ace", "player_name": ""}, "validation_error", "'player_name' must be 1 to 40"),
        ({"policy": "ace", "player_name": "   "}, "validation_error", "'player_name' must be 1 to"),
        ({"policy": "ace", "player_name": "x" * 41}, "validation_error", "'player_name' must be 1"),
        ({"policy": "ace", "player_name": "a\nb"}, "validation_error", "control or format"),
        ({"policy": "ace", "player_name": "a\u200bb"}, "validation_error", "control or format"),
        ({"policy": "ace", "player_name": 7}, "validation_error", "'player_name' must be a string"),
        ({"policy": "ace", "is_test": 1}, "validation_error", "'is_test' must be a boolean."),
        ({"policy": "ace", "is_test": 0}, "validation_error", "'is_test' must be a boolean."),
        ({"policy": "ace", "is_test": "true"}, "validation_error", "'is_test' must be a boolean."),
        ({"policy": "ace", "source": "bot"}, "validation_error", "'source' must be 'human' or"),
        ({"policy": "ace", "source": 1}, "validation_error", "'source' must be a string."),
    ],
    ids=[
        "no-policy",
        "null-policy",
        "policy-int",
        "policy-bool",
        "policy-list",
        "unknown-policy",
        "empty-policy",
        "unknown-difficulty",
        "difficulty-int",
        "easy-legacy-mixed-case",
        "empty-session-id",
        "session-id-space",
        "session-id-non-ascii",
        "session-id-of-65",
        "session-id-int",
        "empty-name",
        "blank-name",
        "name-of-41",
        "name-control-character",
        "name-format-character",
        "name-int",
        "is-test-1",
        "is-test-0",
        "is-test-string",
        "unknown-source",
        "source-int",
    ],
)
def test_start_game_rejects_what_the_spec_forbids(body, code, message):
    with pytest.raises(RpsError, match=re.escape(message)) as caught:
        StartGameRequest.from_json(body)

    assert caught.value.code == code


@pytest.mark.parametrize(
    ("session_id", "name"),
    [("ab1-xyz", "Player-AB1"), ("z", "Player-Z"), ("-._", "Player"), ("é-b.c9", "Player-BC9")],
)
def test_the_default_player_name_tags_the_first_three_alphanumerics(session_id, name):
    assert default_player_name(session_id) == name


def test_play_defaults_to_no_round_number():
    request = PlayRequest.from_json(PLAY)

    assert request == PlayRequest(game_id="g1", game_token="t", move="rock", round=None)


@pytest.mark.parametrize(
    ("fields", "field", "expected"),
    [
        ({"move": "PAPER"}, "move", "paper"),
        ({"move": " Scissors "}, "move", "scissors"),
        ({"round": 1}, "round", 1),
        ({"round": 12}, "round", 12),
        ({"round": None}, "round", None),
        ({"game_id": "g" * 64}, "game_id", "g" * 64),
        ({"colour": "red", "is_test": "x"}, "move", "rock"),
    ],
    ids=[
        "move-upper-case",
        "move-padded",
        "round-1",
        "round-12",
        "null-round-is-absent",
        "game-id-of-64",
        "unknown-fields-ignored",
    ],
)
def test_play_accepts_what_the_spec_allows(fields, field, expected):
    request = PlayRequest.from_json({**PLAY, **fields})

    assert getattr(request, field) == expected


def _without(field: str) -> dict[str, Any]:
    return {key: value for key, value in PLAY.items() if key != field}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (_without("game_id"), "validation_error", "'game_id' is required: a string of at most 64"),
        ({**PLAY, "game_id": ""}, "validation_error", "'game_id' is required"),
        ({**PLAY, "game_id": "g" * 65}, "validation_error", "'game_id' is required"),
        ({**PLAY, "game_id": 5}, "validation_error", "'game_id' must be a string."),
        (_without("game_token"), "validation_error", "'game_token' is required."),
        ({**PLAY, "game_token": ""}, "validation_error", "'game_token' is required."),
        ({**PLAY, "game_token": 5}, "validation_error", "'game_token' must be a string."),
        (_without("move"), "validation_error", "'move' is required."),
        ({**PLAY, "move": 1}, "validation_error", "'move' must be a string."),
        ({**PLAY, "move": "lizard"}, "invalid_move", "'move' must be rock, paper or scissors."),
        ({**PLAY, "move": ""}, "invalid_move", "'move' must be rock, paper or scissors."),
        ({**PLAY, "round": 0}, "validation_error", "'round' must be an integer of at least 1."),
        ({**PLAY, "round": -1}, "validation_error", "'round' must be an integer of at least 1."),
        ({**PLAY, "round": True}, "validation_error", "'round' must be an integer."),
        ({**PLAY, "round": 1.0}, "validation_error", "'round' must be an integer."),
        ({**PLAY, "round": "1"}, "validation_error", "'round' must be an integer."),
    ],
    ids=[
        "no-game-id",
        "empty-game-id",
        "game-id-of-65",
        "game-id-int",
        "no-token",
        "empty-token",
        "token-int",
        "no-move",
        "move-int",
        "unknown-move",
        "empty-move",
        "round-0",
        "round-negative",
        "round-bool",
        "round-float",
        "round-string",
    ],
)
def test_play_rejects_what_the_spec_forbids(body, code, message):
    with pytest.raises(RpsError, match=re.escape(message)) as caught:
        PlayRequest.from_json(body)

    assert caught.value.code == code
