"""play's admin GET /predictions (the page's debug view) and CORS for the player's page."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, move, new_game
from tests.unit.functions.conftest import ADMIN_TOKEN, PAGE_ORIGIN


@pytest.fixture
def clients(client_for):
    env = {"RPS_ADMIN_TOKEN": ADMIN_TOKEN, "RPS_CORS_ORIGINS": PAGE_ORIGIN}
    return client_for("start_game", **env), client_for("play", **env)


def predictions(play, game_id, token=ADMIN_TOKEN, **environ):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return play.get(
        "/predictions", query_string={"game_id": game_id}, headers=headers, environ_base=environ
    )


def test_predictions_answer_the_admin_only(clients):
    start_game, play = clients
    game_id = new_game(start_game)["game_id"]

    assert_error(predictions(play, game_id, token=None), 401, "unauthorized")
    assert_error(predictions(play, game_id, token="wrong"), 403, "forbidden")
    answer = predictions(play, game_id).get_json()
    assert (answer["game_id"], answer["round"], answer["family"]) == (game_id, 1, "feedforward")
    assert (answer["phase"], answer["predictions"]) == ("gambit", [])


def test_without_a_token_predictions_answer_loopback_clients_only(client_for):
    start_game, play = client_for("start_game"), client_for("play")
    game_id = new_game(start_game)["game_id"]

    remote = predictions(play, game_id, token=None, REMOTE_ADDR="192.0.2.7")
    local = predictions(play, game_id, token=None)

    assert_error(remote, 403, "forbidden")
    assert local.status_code == 200


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"game_id": ""}, 400, "validation_error"),
        ({"game_id": "g" * 65}, 400, "validation_error"),
        ({"game_id": "missing"}, 404, "game_not_found"),
    ],
)
def test_predictions_reject_bad_queries_with_a_clear_4xx(clients, query, status, code):
    _, play = clients
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    response = play.get("/predictions", query_string=query, headers=headers)

    assert_error(response, status, code)


def test_a_classic_bot_has_no_predictions_and_a_finished_game_no_next_round(clients):
    start_game, play = clients
    game = new_game(start_game, policy="hal")
    for _ in range(4):
        move(play, game)

    legacy = predictions(play, game["game_id"]).get_json()
    while not move(play, game).get_json()["finished"]:
        pass

    assert (legacy["round"], legacy["family"], legacy["alias"]) == (5, "legacy", None)
    assert (legacy["phase"], legacy["predictions"]) == ("legacy", [])
    assert_error(predictions(play, game["game_id"]), 409, "game_finished")


@pytest.mark.parametrize(("path", "method"), [("/", "POST"), ("/predictions", "GET")])
def test_the_page_origin_may_call_play_with_json_and_the_admin_token(clients, path, method):
    _, play = clients

    response = play.options(
        path,
        headers={
            "Origin": PAGE_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    methods = response.headers["Access-Control-Allow-Methods"].split(", ")
    headers = response.headers["Access-Control-Allow-Headers"].lower().split(", ")
    assert method in methods
    assert {"content-type", "authorization"} <= set(headers)


def test_other_origins_get_no_cors_answer(clients):
    _, play = clients

    response = play.options("/", headers={"Origin": "https://evil.example"})

    assert "Access-Control-Allow-Origin" not in response.headers
