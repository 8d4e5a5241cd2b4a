"""The public reads as real servers: start_game's leaderboard, bots and session record, and
play's POST /state to resume a game; every bad input is a JSON 4xx."""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import create_engine, insert

from rpsquest.store.games import utc_now
from rpsquest.store.schema import games
from tests.factories import game_row
from tests.helpers import assert_error, move, new_game
from tests.integration.conftest import ADMIN_TOKEN


def state(play, game, **fields):
    body = {"game_id": game["game_id"], "game_token": game["game_token"], **fields}
    return requests.post(play.url + "state", json=body, timeout=10)


def play_to_the_end(play, game):
    replies = [move(play, game).json()]
    while not replies[-1]["finished"]:
        replies.append(move(play, game).json())
    return replies


def me(start_game, session_id):
    return requests.get(start_game.url + "me", headers={"X-Session-Id": session_id}, timeout=10)


def test_a_game_in_progress_resumes_where_it_stands(platform):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game, player_name="Ada")
    replies = [move(play, game, m).json() for m in ("rock", "paper", "scissors", "rock")]

    response = state(play, game)

    assert response.status_code == 200, response.text
    resumed = response.json()
    assert [r["round"] for r in resumed["rounds"]] == [1, 2, 3, 4]
    assert [r["bot_move"] for r in resumed["rounds"]] == [r["bot_move"] for r in replies]
    assert resumed["rounds"][-1]["user_score"] == replies[-1]["user_score"]
    assert (resumed["next_round"], resumed["finished"], resumed["winner"]) == (5, False, None)
    assert resumed["next_round_points"] == replies[-1]["next_round_points"]
    assert "alias" not in response.text
    assert "features" not in response.text


def test_a_finished_game_resumes_as_it_ended(platform):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game, policy="cal")
    replies = play_to_the_end(play, game)

    resumed = state(play, game).json()

    assert len(resumed["rounds"]) == len(replies)
    assert (resumed["finished"], resumed["winner"]) == (True, replies[-1]["winner"])
    assert (resumed["user_score"], resumed["bot_score"]) == (
        replies[-1]["user_score"],
        replies[-1]["bot_score"],
    )
    assert (resumed["next_round"], resumed["next_round_points"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'"a string"', 400, "invalid_json"),
        (b"{}", 400, "validation_error"),
        (b'{"game_id": 7, "game_token": "t"}', 400, "validation_error"),
        (b'{"game_id": "g"}', 400, "validation_error"),
        (b'{"game_id": "missing", "game_token": "t"}', 404, "game_not_found"),
    ],
)
def test_state_rejects_a_bad_body_with_a_clear_4xx(platform, body, status, code):
    response = requests.post(
        platform.play.url + "state",
        data=body,
        timeout=10,
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, status, code)


def test_state_refuses_another_games_token_as_play_does(platform):
    start_game, play = platform.start_game, platform.play
    game = new_game(start_game)

    resumed = state(play, game, game_token="stolen")
    played = move(play, game, game_token="stolen")

    assert_error(resumed, 403, "bad_token")
    assert resumed.json() == played.json()


def test_a_session_sees_its_finished_game_at_once(platform):
    start_game, play = platform.start_game, platform.play
    session_id = f"s-{uuid.uuid4().hex}"
    assert me(start_game, session_id).json()["games"] == 0
    game = new_game(start_game, policy="cal", session_id=session_id, player_name="Bea")
    winner = play_to_the_end(play, game)[-1]["winner"]
    new_game(start_game, policy="hal", session_id=session_id, player_name="Bea 2")

    record = me(start_game, session_id).json()

    assert record["player_name"] == "Bea 2"
    assert record["games"] == 1
    assert record["wins"] == (winner == "user")
    assert [b["policy"] for b in record["bots"]] == ["cal"]
    assert [(g["policy"], g["finished"]) for g in record["recent_games"]] == [
        ("hal", False),
        ("cal", True),
    ]
    assert record["recent_games"][1]["winner"] == winner


def test_the_leaderboard_ranks_sessions_under_their_latest_name_and_never_shows_them(platform):
    sessions = {f"lb-{uuid.uuid4().hex}": wins for wins in (4, 3)}
    rows = [
        game_row(
            f"{session}-{k}",
            session_id=session,
            player_name=f"Fox fan {wins}",
            policy="fox",
            created_at=utc_now(),
            finished_at=utc_now(),
            winner="user" if k < wins else "bot",
        )
        for session, wins in sessions.items()
        for k in range(5)
    ]
    engine = create_engine(platform.database_url)
    with engine.begin() as connection:
        connection.execute(insert(games), rows)
    engine.dispose()

    response = requests.get(
        platform.start_game.url + "leaderboard",
        params={"period": "30d", "policy": "FOX"},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    board = response.json()
    assert (board["period"], board["policy"]) == ("30d", "fox")
    assert board["players"] == [
        {
            "rank": 1,
            "player_name": "Fox fan 4",
            "games": 5,
            "wins": 4,
            "win_rate": 0.8,
            "best_streak": 4,
        },
        {
            "rank": 2,
            "player_name": "Fox fan 3",
            "games": 5,
            "wins": 3,
            "win_rate": 0.6,
            "best_streak": 3,
        },
    ]
    assert not any(session in response.text for session in sessions)


def test_the_bots_answer_every_policys_week(platform):
    response = requests.get(platform.start_game.url + "bots", timeout=10)

    assert response.status_code == 200, response.text
    bots = response.json()["bots"]
    assert [b["policy"] for b in bots][:3] == ["brian", "forrest", "logan"]
    assert len(bots) == 11
    assert all(isinstance(b["games"], int) and b["bot_wins"] <= b["games"] for b in bots)


@pytest.mark.parametrize(
    ("path", "params", "headers", "status", "code"),
    [
        ("leaderboard", {"period": "1y"}, {}, 400, "validation_error"),
        ("leaderboard", {"period": ""}, {}, 400, "validation_error"),
        ("leaderboard", {"policy": "zed"}, {}, 400, "unknown_policy"),
        ("me", {}, {}, 400, "validation_error"),
        ("me", {}, {"X-Session-Id": "a b"}, 400, "validation_error"),
        ("me", {}, {"X-Session-Id": "s" * 65}, 400, "validation_error"),
        ("me", {"session_id": "s"}, {}, 400, "validation_error"),  # never from the URL
    ],
)
def test_the_reads_reject_bad_input_with_a_clear_4xx(platform, path, params, headers, status, code):
    response = requests.get(
        platform.start_game.url + path, params=params, headers=headers, timeout=10
    )

    assert_error(response, status, code)


def test_the_reads_answer_get_only(platform):
    start_game, play = platform.start_game, platform.play

    posted = requests.post(start_game.url + "me", timeout=10)
    assert_error(posted, 405, "method_not_allowed")
    assert posted.headers["Allow"] == "GET, OPTIONS"
    fetched = requests.get(play.url + "state", timeout=10)
    assert_error(fetched, 405, "method_not_allowed")
    assert fetched.headers["Allow"] == "POST, OPTIONS"


def test_the_page_origin_may_send_the_session_header(platform):
    response = requests.options(
        platform.start_game.url + "me",
        headers={
            "Origin": "https://rps.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-session-id",
        },
        timeout=10,
    )

    assert response.headers["Access-Control-Allow-Origin"] == "https://rps.example"
    allowed = response.headers["Access-Control-Allow-Headers"].lower().split(", ")
    assert "x-session-id" in allowed


def test_the_reads_are_counted_per_route(platform):
    start_game = platform.start_game
    requests.get(start_game.url + "bots", timeout=10)

    text = requests.get(
        start_game.url + "metrics", timeout=10, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).text

    assert (
        'rps_http_requests_total{code="200",function="start_game",method="GET",route="/bots"}'
        in text
    )
