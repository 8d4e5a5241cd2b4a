"""HTTP target for one round: the player's move in, the bot's move and the scores out."""

import gc

# A cold start imports some 70,000 objects that live as long as the instance: collecting while
# they pile up scans them over and over and frees next to nothing. The end of this file freezes
# what they made out of the collector's sight and turns it back on.
gc.disable()

import functools

import functions_framework
from flask import Request, Response

from rpsquest import events, web
from rpsquest import operations as op
from rpsquest.api import GameStateRequest, PlayRequest, PredictionsQuery
from rpsquest.config import Settings
from rpsquest.gameplay import Gameplay
from rpsquest.serving import ServingModels

SETTINGS = Settings.from_env()
MODELS = ServingModels(SETTINGS)


@functools.cache
def gameplay() -> Gameplay:
    """Built on first use, once per instance, and frozen like the imports (see the top of this
    file): it lives as long as the instance, and a full collection over what the instance holds
    for life stalled a round by tens of milliseconds."""
    built = Gameplay.open(SETTINGS, MODELS)
    gc.freeze()
    return built


def _play_or_hint(request: Request) -> Response | tuple[dict, int]:
    if events.is_cloudevent(request):  # model.promoted: re-read the manifest, trust nothing else
        events.parse_event(request, [events.MODEL_PROMOTED])
        MODELS.on_promoted()
        return events.acknowledged()
    return _play(request)


def _play(request: Request) -> tuple[dict, int]:
    move = PlayRequest.from_json(web.read_json(request))
    return gameplay().play_round(move), 200


def _state(request: Request) -> tuple[dict, int]:
    return gameplay().game_state(GameStateRequest.from_json(web.read_json(request))), 200


def _predictions(request: Request) -> tuple[dict, int]:
    query = PredictionsQuery.from_args(request.args)
    return gameplay().next_round_predictions(query.game_id), 200


def _reload(_request: Request) -> tuple[dict, int]:
    MODELS.check_manifest("admin", force=True)
    return MODELS.status(), 200


SERVICE = web.Service(
    "play",
    SETTINGS,
    [
        web.Route("POST", "/", _play_or_hint, operation=op.PLAY_OR_HINT),
        web.Route("POST", "/play", _play, operation=op.PLAY),
        web.Route("POST", "/state", _state, operation=op.STATE),
        web.Route(
            "GET", "/models", lambda _r: (MODELS.status(), 200), "admin", operation=op.MODELS
        ),
        web.Route("POST", "/reload", _reload, "admin", operation=op.RELOAD),
        web.Route("GET", "/predictions", _predictions, "admin", operation=op.PREDICTIONS),
    ],
    health_extra=lambda: {"manifest_version": MODELS.manifest_version},
)


@functions_framework.http
def play(request: Request) -> Response:
    return SERVICE(request)


gc.freeze()
gc.enable()
