"""HTTP target for starting a match: policy in, game id, token and first round's values out;
GET / is the player's page, and the leaderboard, the bots' records and a session's own record
are read here too."""

import functools

import functions_framework
from flask import Request, Response

from rpsquest import operations as op
from rpsquest import player_page, web
from rpsquest.api import LeaderboardQuery, SessionQuery, StartGameRequest
from rpsquest.config import Settings
from rpsquest.gameplay import Gameplay
from rpsquest.serving import ServingModels
from rpsquest.standings import Standings

SETTINGS = Settings.from_env()


@functools.cache
def gameplay() -> Gameplay:
    """Built on first use, once per instance."""
    return Gameplay.open(SETTINGS, ServingModels(SETTINGS))  # reads the manifest only


@functools.cache
def standings() -> Standings:
    """Shares the gameplay's database, once per instance, so its replies are cached once."""
    return Standings(gameplay().database, SETTINGS.read_cache_seconds)


def _start(request: Request) -> tuple[dict, int]:
    start = StartGameRequest.from_json(web.read_json(request))
    if start.source == "telemetry":
        web.require_admin(request, SETTINGS)
    return gameplay().start_game(start), 201


def _leaderboard(request: Request) -> tuple[dict, int]:
    return standings().leaderboard(LeaderboardQuery.from_args(request.args)), 200


def _me(request: Request) -> tuple[dict, int]:
    return standings().session_record(SessionQuery.from_headers(request.headers)), 200


SERVICE = web.Service(
    "start_game",
    SETTINGS,
    [
        web.Route("POST", "/", _start, operation=op.START_GAME),
        web.Route("POST", "/start_game", _start, operation=op.START_GAME),
        web.Route("GET", "/leaderboard", _leaderboard, operation=op.LEADERBOARD),
        web.Route("GET", "/bots", lambda _r: (standings().bots(), 200), operation=op.BOTS),
        web.Route("GET", "/me", _me, operation=op.ME),
        *player_page.routes(SETTINGS),  # GET /: the player's page, its stylesheet and script
    ],
)


@functions_framework.http
def start_game(request: Request) -> Response:
    return SERVICE(request)
