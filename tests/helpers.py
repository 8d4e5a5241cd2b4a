"""Helpers every test tier shares: polling, free ports, threads started together, the game
API driven the same way in process (a Flask test client) or over HTTP (a real server), and
played rounds written as move pairs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from rpsquest.game.rules import PlayedRound, RoundPoints
from rpsquest.processes import Server

T = TypeVar("T")
R = TypeVar("R")
Function = FlaskClient | Server
Response = TestResponse | requests.Response
# round 4 of SPEC §2.3's game: H paper, M rock, L scissors
POINTS = RoundPoints(rock=1.5, paper=2.0, scissors=1.0)


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll `condition` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def concurrently(
    function: Callable[[T], R], arguments: Sequence[T]
) -> tuple[list[R], list[Exception]]:
    """Call `function` once per argument, each in its own thread, all released together; the
    results and the exceptions raised, each in the order the calls ended."""
    start = threading.Barrier(len(arguments))
    results: list[R] = []
    errors: list[Exception] = []

    def call(argument: T) -> None:
        start.wait()
        try:
            results.append(function(argument))
        except Exception as exc:  # collected for the test to assert on
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def post(function: Function, body: Mapping[str, Any]) -> Response:
    """POST `body` as JSON to a function's root: in process, or over HTTP to a server."""
    if isinstance(function, FlaskClient):
        return function.post("/", json=body)
    return requests.post(function.url, json=body, timeout=30)


def reply(response: Response) -> Any:
    """The JSON body of either kind of response."""
    return json.loads(response.text)


def new_game(start_game: Function, **fields: Any) -> dict[str, Any]:
    """A game started against brian unless `fields` say otherwise (SPEC §3.2)."""
    response = post(start_game, {"policy": "brian", **fields})
    assert response.status_code == 201, response.text
    return reply(response)


def move(play: Function, game: Mapping[str, Any], move: str = "rock", **fields: Any) -> Response:
    """One move in `game` (SPEC §3.3), with any other `fields` of the request."""
    body = {"game_id": game["game_id"], "game_token": game["game_token"], "move": move, **fields}
    return post(play, body)


def assert_error(response: Response, status: int, code: str) -> None:
    """The response is the JSON error body of SPEC §3 with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert reply(response)["error"]["code"] == code
    assert reply(response)["error"]["message"]


def rounds_of(*pairs: str) -> list[PlayedRound]:
    """Rounds from "user/bot" move pairs, all at POINTS with scores 0/0: for code that reads
    only the moves and results."""
    return [
        PlayedRound(number, *pair.split("/"), POINTS, 0.0, 0.0)
        for number, pair in enumerate(pairs, start=1)
    ]
