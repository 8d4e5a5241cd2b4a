"""Every request rule of SPEC §3.2 (start_game) and §3.3 (play), and of the public reads, on
the wire types alone."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import pytest

from rpsquest import api
from rpsquest.api import (
    DeadLetterQuery,
    GameStateRequest,
    LeaderboardQuery,
    PlayRequest,
    ReplayRequest,
    SessionQuery,
    StartGameRequest,
    default_player_name,
)
from rpsquest.errors import RpsError

# Written out from the spec rather than imported, so the test does not share the code's lists.
ML_POLICIES = ["brian", "forrest", "logan"]
LEGACY_POLICIES = ["ace", "bob", "cal", "dan", "edd", "fox", "gus", "hal"]
PLAY = {"game_id": "g1", "game_token": "t", "move": "rock"}
SESSION_ID_RULE = "'session_id' must be 1 to 64 characters of A-Z a-z 0-9 . _ -"


def start(**fields: Any) -> dict[str, Any]:
    """A start_game body against ace, with `fields` over it."""
    return {"policy": "ace", **fields}


def play(**fields: Any) -> dict[str, Any]:
    """A play body, with `fields` over it."""
    return {**PLAY, **fields}


def play_without(field: str) -> dict[str, Any]:
    """A play body lacking `field`."""
    return {key: value for key, value in PLAY.items() if key != field}


# Cases by id: the body, then the field and the value the request holds ...
START_GAME_ACCEPTED = {
    "policy-upper-case": ({"policy": "BRIAN"}, "policy", "brian"),
    "policy-padded": ({"policy": "  Hal "}, "policy", "hal"),
    "easy-upper-case": (start(policy="logan", difficulty="EASY"), "difficulty", "easy"),
    "normal": (start(difficulty="normal"), "difficulty", "normal"),
    "null-is-absent": (start(difficulty=None), "difficulty", "normal"),
    "name-trimmed-verbatim": (start(player_name="  Zoë <b>  "), "player_name", "Zoë <b>"),
    "name-of-1": (start(player_name="x"), "player_name", "x"),
    "name-of-40": (start(player_name="x" * 40), "player_name", "x" * 40),
    "session-id-charset": (start(session_id="a.B_9-"), "session_id", "a.B_9-"),
    "session-id-of-64": (start(session_id="s" * 64), "session_id", "s" * 64),
    "test-game": (start(is_test=True), "is_test", True),
    "not-a-test-game": (start(is_test=False), "is_test", False),
    "telemetry": (start(source="telemetry"), "source", "telemetry"),
    "human": (start(source="human"), "source", "human"),
    "unknown-fields-ignored": (start(colour="red", round="x"), "policy", "ace"),
}
PLAY_ACCEPTED = {
    "move-upper-case": (play(move="PAPER"), "move", "paper"),
    "move-padded": (play(move=" Scissors "), "move", "scissors"),
    "round-1": (play(round=1), "round", 1),
    "round-12": (play(round=12), "round", 12),
    "null-is-absent": (play(round=None), "round", None),
    "game-id-of-64": (play(game_id="g" * 64), "game_id", "g" * 64),
    "unknown-fields-ignored": (play(colour="red", is_test="x"), "move", "rock"),
}
# ... or the body, then the error code and what its message says.
START_GAME_REFUSED = {
    "no-policy": ({}, "validation_error", "'policy' is required"),
    "null-policy": ({"policy": None}, "validation_error", "'policy' is required"),
    "policy-int": ({"policy": 3}, "validation_error", "'policy' must be a string"),
    "policy-bool": ({"policy": True}, "validation_error", "'policy' must be a string"),
    "policy-list": ({"policy": ["brian"]}, "validation_error", "'policy' must be a string"),
    "unknown-policy": ({"policy": "zed"}, "unknown_policy", "Unknown policy"),
    "empty-policy": ({"policy": ""}, "unknown_policy", "Unknown policy"),
    "unknown-difficulty": (
        start(policy="brian", difficulty="hard"),
        "invalid_difficulty",
        "'difficulty' must be 'normal' or 'easy'",
    ),
    "difficulty-int": (
        start(policy="brian", difficulty=1),
        "validation_error",
        "'difficulty' must be a string",
    ),
    "easy-legacy-mixed-case": (
        start(policy="hal", difficulty="Easy"),
        "invalid_difficulty",
        "only for the ML bots",
    ),
    "empty-session-id": (start(session_id=""), "validation_error", SESSION_ID_RULE),
    "session-id-space": (start(session_id="a b"), "validation_error", SESSION_ID_RULE),
    "session-id-non-ascii": (start(session_id="é"), "validation_error", SESSION_ID_RULE),
    "session-id-of-65": (start(session_id="s" * 65), "validation_error", SESSION_ID_RULE),
    "session-id-int": (start(session_id=7), "validation_error", "'session_id' must be a string"),
    "empty-name": (start(player_name=""), "validation_error", "'player_name' must be 1 to 40"),
    "blank-name": (start(player_name="   "), "validation_error", "'player_name' must be 1 to 40"),
    "name-of-41": (start(player_name="x" * 41), "validation_error", "'player_name' must be 1"),
    "name-control": (start(player_name="a\nb"), "validation_error", "control or format"),
    "name-format": (start(player_name="a\u200bb"), "validation_error", "control or format"),
    "name-int": (start(player_name=7), "validation_error", "'player_name' must be a string"),
    "is-test-1": (start(is_test=1), "validation_error", "'is_test' must be a boolean"),
    "is-test-0": (start(is_test=0), "validation_error", "'is_test' must be a boolean"),
    "is-test-string": (start(is_test="true"), "validation_error", "'is_test' must be a boolean"),
    "unknown-source": (start(source="bot"), "validation_error", "'source' must be 'human' or"),
    "source-int": (start(source=1), "validation_error", "'source' must be a string"),
}
PLAY_REFUSED = {
    "no-game-id": (play_without("game_id"), "validation_error", "'game_id' is required"),
    "empty-game-id": (play(game_id=""), "validation_error", "'game_id' is required"),
    "game-id-of-65": (play(game_id="g" * 65), "validation_error", "at most 64"),
    "game-id-int": (play(game_id=5), "validation_error", "'game_id' must be a string"),
    "game-id-nul": (play(game_id="g\x00"), "validation_error", "printable"),  # PostgreSQL
    "no-token": (play_without("game_token"), "validation_error", "'game_token' is required"),
    "empty-token": (play(game_token=""), "validation_error", "'game_token' is required"),
    "token-int": (play(game_token=5), "validation_error", "'game_token' must be a string"),
    "no-move": (play_without("move"), "validation_error", "'move' is required"),
    "move-int": (play(move=1), "validation_error", "'move' must be a string"),
    "unknown-move": (play(move="lizard"), "invalid_move", "'move' must be rock, paper or"),
    "empty-move": (play(move=""), "invalid_move", "'move' must be rock, paper or scissors"),
    "round-0": (play(round=0), "validation_error", "'round' must be an integer of at least 1"),
    "round-negative": (play(round=-1), "validation_error", "'round' must be an integer of"),
    "round-bool": (play(round=True), "validation_error", "'round' must be an integer."),
    "round-float": (play(round=1.0), "validation_error", "'round' must be an integer."),
    "round-string": (play(round="1"), "validation_error", "'round' must be an integer."),
}


def both(start_game: Mapping[str, tuple], play: Mapping[str, tuple]) -> list[Any]:
    """The cases of both requests, each led by its request type, which its id names too."""
    return [
        pytest.param(request_type, *case, id=f"{kind}-{name}")
        for request_type, kind, cases in (
            (StartGameRequest, "start_game", start_game),
            (PlayRequest, "play", play),
        )
        for name, case in cases.items()
    ]


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
    ("session_id", "name"),
    [("ab1-xyz", "Player-AB1"), ("z", "Player-Z"), ("-._", "Player"), ("é-b.c9", "Player-BC9")],
)
def test_the_default_player_name_tags_the_first_three_alphanumerics(session_id, name):
    assert default_player_name(session_id) == name


def test_play_defaults_to_no_round_number():
    request = PlayRequest.from_json(PLAY)

    assert request == PlayRequest(game_id="g1", game_token="t", move="rock", round=None)


@pytest.mark.parametrize(
    ("request_type", "body", "field", "expected"), both(START_GAME_ACCEPTED, PLAY_ACCEPTED)
)
def test_a_request_the_spec_allows_is_parsed(request_type, body, field, expected):
    request = request_type.from_json(body)

    assert getattr(request, field) == expected


@pytest.mark.parametrize(
    ("request_type", "body", "code", "message"), both(START_GAME_REFUSED, PLAY_REFUSED)
)
def test_a_request_the_spec_forbids_is_refused_with_its_code(request_type, body, code, message):
    with pytest.raises(RpsError, match=re.escape(message)) as caught:
        request_type.from_json(body)

    assert caught.value.code == code


# The public reads: a parser, what it reads, then what it makes of it ...
READS_ACCEPTED = {
    "board-defaults": (LeaderboardQuery.from_args, {}, LeaderboardQuery("all", None)),
    "board-week-of-a-policy": (
        LeaderboardQuery.from_args,
        {"period": "7d", "policy": " Brian"},
        LeaderboardQuery("7d", "brian"),
    ),
    "board-month": (LeaderboardQuery.from_args, {"period": "30d"}, LeaderboardQuery("30d")),
    "session": (SessionQuery.from_headers, {"X-Session-Id": "a.B_9-"}, SessionQuery("a.B_9-")),
    "session-of-64": (
        SessionQuery.from_headers,
        {"X-Session-Id": "s" * 64},
        SessionQuery("s" * 64),
    ),
    "state-ignores-a-move": (
        GameStateRequest.from_json,
        {"game_id": "g1", "game_token": "t", "move": "lizard"},
        GameStateRequest("g1", "t"),
    ),
}
# ... or the error code and what its message says.
SESSION_HEADER_RULE = "The X-Session-Id header must be 1 to 64 characters of A-Z a-z 0-9 . _ -"
READS_REFUSED = {
    "board-year": (
        LeaderboardQuery.from_args,
        {"period": "1y"},
        "validation_error",
        "7d, 30d, all",
    ),
    "board-upper-case": (
        LeaderboardQuery.from_args,
        {"period": "7D"},
        "validation_error",
        "'period'",
    ),
    "board-unknown-policy": (
        LeaderboardQuery.from_args,
        {"policy": "zed"},
        "unknown_policy",
        "Unknown policy",
    ),
    "board-empty-policy": (LeaderboardQuery.from_args, {"policy": ""}, "unknown_policy", "Unknown"),
    "no-session": (SessionQuery.from_headers, {}, "validation_error", "header is required"),
    "empty-session": (
        SessionQuery.from_headers,
        {"X-Session-Id": ""},
        "validation_error",
        SESSION_HEADER_RULE,
    ),
    "session-space": (
        SessionQuery.from_headers,
        {"X-Session-Id": "a b"},
        "validation_error",
        SESSION_HEADER_RULE,
    ),
    "session-of-65": (
        SessionQuery.from_headers,
        {"X-Session-Id": "s" * 65},
        "validation_error",
        SESSION_HEADER_RULE,
    ),
    "state-no-game-id": (
        GameStateRequest.from_json,
        {"game_token": "t"},
        "validation_error",
        "'game_id' is required",
    ),
    "state-game-id-int": (
        GameStateRequest.from_json,
        {"game_id": 5, "game_token": "t"},
        "validation_error",
        "'game_id' must be a string",
    ),
    "state-no-token": (
        GameStateRequest.from_json,
        {"game_id": "g1"},
        "validation_error",
        "'game_token' is required",
    ),
    # str.isdigit takes these, int() does not (found by the fuzz test)
    "limit-superscript": (
        DeadLetterQuery.from_args,
        {"limit": "\u00b2"},
        "validation_error",
        "1 to",
    ),
    "limit-huge": (DeadLetterQuery.from_args, {"limit": "9" * 5000}, "validation_error", "1 to"),
    # past an INTEGER key: SQLite and PostgreSQL refused the query itself
    "replay-id-huge": (ReplayRequest.from_json, {"id": 2**31}, "validation_error", "1 to"),
}


@pytest.mark.parametrize(
    ("parse", "given", "expected"), READS_ACCEPTED.values(), ids=READS_ACCEPTED
)
def test_a_read_the_api_allows_is_parsed(parse, given, expected):
    assert parse(given) == expected


@pytest.mark.parametrize(
    ("parse", "given", "code", "message"), READS_REFUSED.values(), ids=READS_REFUSED
)
def test_a_read_the_api_forbids_is_refused_with_its_code(parse, given, code, message):
    with pytest.raises(RpsError, match=re.escape(message)) as caught:
        parse(given)

    assert caught.value.code == code


@pytest.mark.parametrize(
    "request_type",
    [kind for kind in vars(api).values() if dataclasses.is_dataclass(kind)],
    ids=lambda kind: kind.__name__,
)
def test_a_request_schema_names_exactly_the_fields_its_parser_reads(request_type):
    """The OpenAPI documents take these schemas: a field added to the parser but not to its
    schema (or the reverse) fails here."""
    names = {f.name for f in dataclasses.fields(request_type)}
    required = {
        f.name
        for f in dataclasses.fields(request_type)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }

    schema = request_type.schema

    def field_of(name):
        return "session_id" if name == "X-Session-Id" else name

    assert {field_of(n) for n in schema["properties"]} == names
    assert {field_of(n) for n in schema["required"]} == required
