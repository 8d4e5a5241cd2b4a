"""start_game and play as real servers: a whole game, every error code, concurrency."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cloudevents.conversion import to_binary

from rpsquest.events import TRAINING_REQUESTED, new_event
from rpsquest.game.legacy import simulated_player_move
from rpsquest.game.rules import PlayedRound, RoundPoints
from tests.helpers import assert_error, move, new_game
from tests.integration.conftest import ADMIN_TOKEN


@pytest.mark.parametrize("policy", ["brian", "hal"])
def test_a_whole_game_is_played_to_the_finish_over_http(platform, policy):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game, policy=policy, player_name="  Zoë <b>  ")
    assert game["player_name"] == "Zoë <b>"
    assert game["play_url"] == play.url
    history, points = [], RoundPoints(**game["round_points"])

    while True:
        user_move = simulated_player_move("edd", game["game_id"], history, points)
        response = requests.post(
            game["play_url"],
            json={"game_id": game["game_id"], "game_token": game["game_token"], "move": user_move},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        reply = response.json()
        assert reply["round"] == len(history) + 1
        assert reply["round_points"] == points.as_dict()
        history.append(
            PlayedRound(
                reply["round"],
                user_move,
                reply["bot_move"],
                points,
                reply["user_score"],
                reply["bot_score"],
            )
        )
        if reply["finished"]:
            break
        points = RoundPoints(**reply["next_round_points"])

    assert reply["winner"] in ("user", "bot", "tie")
    assert reply["next_round_points"] is None
    assert max(reply["user_score"], reply["bot_score"]) >= 10
    assert_error(move(play, game), 409, "game_finished")
    replay = move(play, game, user_move, round=reply["round"])
    assert replay.status_code == 200
    assert replay.json() == reply


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"{}", 400, "validation_error"),
        (b'{"policy": 3}', 400, "validation_error"),
        (b'{"policy": "zed"}', 400, "unknown_policy"),
        (b'{"policy": "ace", "difficulty": "easy"}', 400, "invalid_difficulty"),
        (b'{"policy": "brian", "difficulty": "hard"}', 400, "invalid_difficulty"),
        (b'{"policy": "brian", "session_id": "a b"}', 400, "validation_error"),
        (b'{"policy": "brian", "player_name": "a\\u200bb"}', 400, "validation_error"),
        (b'{"policy": "brian", "player_name": "   "}', 400, "validation_error"),
        (b'{"policy": "brian", "player_name": "' + b"x" * 41 + b'"}', 400, "validation_error"),
        (b'{"policy": "brian", "is_test": 1}', 400, "validation_error"),
        (b'{"policy": "brian", "source": "telemetry"}', 401, "unauthorized"),
        (b'{"policy": "brian", "x": "' + b"x" * 17000 + b'"}', 413, "payload_too_large"),
    ],
)
def test_start_game_rejects_bad_input_with_a_clear_4xx(platform, body, status, code):
    start_game = platform.start_game

    response = requests.post(
        start_game.url, data=body, timeout=10, headers={"Content-Type": "application/json"}
    )

    assert_error(response, status, code)


def test_start_game_accepts_telemetry_only_from_the_admin(platform):
    start_game = platform.start_game
    body = {"policy": "forrest", "source": "telemetry"}

    wrong = requests.post(
        start_game.url, json=body, timeout=10, headers={"Authorization": "Bearer nope"}
    )
    right = requests.post(
        start_game.url + "start_game",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )

    assert_error(wrong, 403, "forbidden")
    assert right.status_code == 201


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"move": "lizard"}, 400, "invalid_move"),
        ({"round": True}, 400, "validation_error"),
        ({"round": 0}, 400, "validation_error"),
        ({"game_id": "g" * 65}, 400, "validation_error"),
        ({"game_id": "missing"}, 404, "game_not_found"),
        ({"game_token": "stolen"}, 403, "bad_token"),
        ({"round": 2}, 409, "round_conflict"),
    ],
)
def test_play_rejects_a_bad_move_with_a_clear_4xx_and_plays_on(platform, fields, status, code):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game)

    response = move(play, game, **fields)

    assert_error(response, status, code)
    assert move(play, game, "PAPER", round=1).json()["user_move"] == "paper"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "play", None, 405, "method_not_allowed"),
        ("POST", "nowhere", {}, 404, "not_found"),
        ("GET", "metrics", None, 401, "unauthorized"),
    ],
)
def test_play_answers_other_routes_with_a_clear_4xx(platform, method, path, body, status, code):
    response = requests.request(method, platform.play.url + path, json=body, timeout=10)

    assert_error(response, status, code)


def test_an_oversized_body_is_refused_before_and_while_reading(platform):
    play = platform.play
    big = b'{"move": "' + b"r" * 20000 + b'"}'

    declared = requests.post(play.url, data=big, timeout=10)
    streamed = requests.post(play.url, data=iter([big[:8000], big[8000:]]), timeout=10)

    assert_error(declared, 413, "payload_too_large")
    assert_error(streamed, 413, "payload_too_large")


def test_twenty_concurrent_plays_of_one_round_store_it_once(platform):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game)

    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda _: move(play, game, "paper", round=1), range(20)))

    assert {r.status_code for r in replies} == {200}
    assert len({r.content for r in replies}) == 1
    assert move(play, game, "rock").json()["round"] == 2


def test_twenty_concurrent_plays_without_round_numbers_never_lose_a_round(platform):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game, policy="gus")

    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda _: move(play, game, "rock"), range(20)))

    played = sorted(r.json()["round"] for r in replies if r.status_code == 200)
    assert played == list(range(1, len(played) + 1))
    assert {r.status_code for r in replies} <= {200, 409}
    last = max((r.json() for r in replies if r.status_code == 200), key=lambda r: r["round"])
    replayed = [move(play, game, "rock", round=n).json() for n in played]
    assert replayed[-1] == last
    assert sum(r["user_delta"] for r in replayed) == pytest.approx(last["user_score"])
    assert sum(r["bot_delta"] for r in replayed) == pytest.approx(last["bot_score"])


def test_two_play_instances_share_one_game(platform, launch):
    start_game, play = platform.start_game, platform.play
    other = launch("play", RPS_DATABASE_URL=platform.database_url)
    game = new_game(start_game)

    rounds = [move(server, game).json()["round"] for server in (play, other, play, other)]

    assert rounds == [1, 2, 3, 4]


def test_health_and_metrics(platform):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game, policy="ace", is_test=True)
    move(play, game)

    health = requests.get(play.url + "healthz", timeout=10).json()
    metrics = requests.get(
        play.url + "metrics", timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    assert health == {
        "status": "ok",
        "function": "play",
        "version": "0.1.0",
        "feature_contract": "rps50-v3",
        "manifest_version": None,  # no model has been published in this store
    }
    assert metrics.status_code == 200
    text = metrics.text
    assert (
        'rps_rounds_played_total{alias="none",family="legacy",phase="gambit",'
        'policy="ace",result="lose"}'
    ) in text
    assert 'rps_http_request_duration_seconds_bucket{function="play"' in text
    assert (
        'rps_model_fallbacks_total{alias="B",family="logistic",reason="invalid_output"} 0.0' in text
    )


def test_cors_answers_only_listed_origins(platform):
    start_game = platform.start_game

    allowed = requests.options(
        start_game.url, headers={"Origin": "https://rps.example"}, timeout=10
    )
    other = requests.post(
        start_game.url,
        json={"policy": "ace"},
        timeout=10,
        headers={"Origin": "https://evil.example"},
    )

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://rps.example"
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.slow
def test_a_locked_database_answers_503_and_loses_nothing(launch, tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    start_game = launch("start_game", RPS_DATABASE_URL=url)
    play = launch("play", RPS_DATABASE_URL=url)
    game = new_game(start_game)
    assert move(play, game).status_code == 200

    blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        blocked = move(play, game)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    assert_error(blocked, 503, "unavailable")
    assert move(play, game).json()["round"] == 2


def _start_body():
    return {"Content-Type": "application/json"}, json.dumps({"policy": "ace"})


def _training_request():
    return to_binary(new_event("admin", TRAINING_REQUESTED, {"force": True}, "test"))


@pytest.mark.parametrize(
    ("function", "request_for"), [("start_game", _start_body), ("train", _training_request)]
)
def test_an_unreachable_database_is_a_transient_503_not_a_crash(launch, function, request_for):
    nowhere = "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=1"
    server = launch(function, RPS_DATABASE_URL=nowhere)
    headers, body = request_for()

    response = requests.post(server.url, data=body, headers=headers, timeout=30)

    assert_error(response, 503, "unavailable")
