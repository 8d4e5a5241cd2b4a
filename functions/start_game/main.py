"""HTTP target for starting a match: policy in, game id, token and first round's values out;
GET / is the player's page."""

import functools

import functions_framework
from flask import Request, Response

from rpsquest import player_page, web
from rpsquest.api import StartGameRequest
from rpsquest.config import Settings
from rpsquest.gameplay import Gameplay
from rpsquest.serving import ServingModels

SETTINGS = Settings.from_env()


@functools.cache
def gameplay() -> Gameplay:
    """Built on first use, once per instance."""
    return Gameplay.open(SETTINGS, ServingModels(SETTINGS))  # reads the manifest only


def _start(request: Request) -> tuple[dict, int]:
    start = StartGameRequest.from_json(web.read_json(request))
    if start.source == "telemetry":
        web.require_admin(request, SETTINGS)
    return gameplay().start_game(start), 201


SERVICE = web.Service(
    "start_game",
    SETTINGS,
    [
        web.Route("POST", "/", _start),
        web.Route("POST", "/start_game", _start),
        *player_page.routes(SETTINGS),  # GET /: the player's page, its stylesheet and script
    ],
)


@functions_framework.http
def start_game(request: Request) -> Response:
    return SERVICE(request)
