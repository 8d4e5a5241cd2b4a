"""HTTP target for one round: the player's move in, the bot's move and the scores out."""

import functools

import functions_framework
from flask import Request, Response

from rpsquest import web
from rpsquest.api import PlayRequest
from rpsquest.config import Settings
from rpsquest.game.engine import Engine

SETTINGS = Settings.from_env()


@functools.cache
def engine() -> Engine:
    """Built on first use, once per instance."""
    return Engine.open(SETTINGS)


def _play(request: Request) -> tuple[dict, int]:
    move = PlayRequest.from_json(web.read_json(request))
    return engine().play_round(move), 200


SERVICE = web.Service(
    "play", SETTINGS, [web.Route("POST", "/", _play), web.Route("POST", "/play", _play)]
)


@functions_framework.http
def play(request: Request) -> Response:
    return SERVICE(request)
