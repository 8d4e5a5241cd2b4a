"""What every route of the four functions takes and answers, for their OpenAPI documents: the
request schemas come from the wire types that parse the requests (api.py), the replies from
replies.py. Each main.py hands its routes these, so the document is built from what it serves;
web.py has its own routes' and player_page.py the page's."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from http import HTTPStatus

from rpsquest import events, replies
from rpsquest.api import (
    DeadLetterQuery,
    GameStateRequest,
    LeaderboardQuery,
    LedgerQuery,
    PlayRequest,
    PredictionsQuery,
    PromoteRequest,
    ReplayRequest,
    RetentionRequest,
    SessionQuery,
    StartGameRequest,
    SwapRequest,
    TelemetryRequest,
    TrainRequest,
)
from rpsquest.openapi import CLOUDEVENT, JSON, Link, Operation, Reply
from rpsquest.schemas import OBJECT, STRING, Schema, fields

_FORBIDDEN, _NOT_FOUND, _CONFLICT = HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT
_BUSY, _DOWN = HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE
_ACK = Reply("Taken; there is no reply event (an empty body).")


def _or_ack(reply: Reply) -> Reply:
    """An event route's 200: its reply, or an empty body when an event was taken without one."""
    return replace(reply, description=f"{reply.description} Or: {_ACK.description}", or_empty=True)


_EVENT_NOTE = (
    " CloudEvents come in binary mode (ce-* headers, the data as the body) or structured mode "
    f"({CLOUDEVENT}, described here)."
)
_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 255}


def _cloudevent(types: Collection[str] | None, data: Schema = OBJECT) -> Schema:
    """A structured-mode CloudEvent of these types (None: any type, as a dead letter may be)."""
    kind = {"enum": list(types)} if types is not None else {"type": "string", "maxLength": 128}
    return fields(
        {"specversion": {"const": "1.0"}, "id": _ID, "source": _ID, "type": kind},
        {"datacontenttype": {"const": JSON}, "data": data, "rpsintent": STRING},
    )


# -- start_game -----------------------------------------------------------------------------

START_GAME = Operation(
    "Start a match against a bot (SPEC §3.2); source=telemetry needs the admin bearer.",
    {201: Reply("The game, its token and the first round's values.", replies.GAME_STARTED)},
    body={JSON: StartGameRequest.schema},
    errors=(HTTPStatus.UNAUTHORIZED, _FORBIDDEN, _DOWN),
)
LEADERBOARD = Operation(
    "Sessions ranked by wins over a period, from their third finished game on.",
    {200: Reply("The leaderboard.", replies.LEADERBOARD)},
    query=LeaderboardQuery.schema,
    errors=(_DOWN,),
)
BOTS = Operation(
    "Every bot's record over the last week, for the picker.",
    {200: Reply("Games and bot wins per policy.", replies.BOTS)},
    errors=(_DOWN,),
)
ME = Operation(
    "A session's own record: games, wins, streaks, per bot, and its recent games.",
    {200: Reply("The session's record.", replies.SESSION_RECORD)},
    headers=SessionQuery.schema,
    errors=(_DOWN,),
)

# -- play -----------------------------------------------------------------------------------

_GAME = {
    "game_id": "$request.body#/game_id",
    "game_token": "$request.body#/game_token",
}
# After a round: the game's state, the next round, and (admin) what each alias would predict.
_AFTER_ROUND: dict[int, dict[str, Link]] = {
    HTTPStatus.OK: {
        "state": Link("post_state", request_body=_GAME),
        "next_round": Link("post_play", request_body={**_GAME, "move": "rock"}),
        "predictions": Link("get_predictions", parameters={"game_id": "$response.body#/game_id"}),
    }
}
_ROUND_ERRORS = (_FORBIDDEN, _NOT_FOUND, _CONFLICT, _DOWN)
PLAY = Operation(
    "Play one round (SPEC §3.3).",
    {200: Reply("The round's result and the scores after it.", replies.ROUND)},
    body={JSON: PlayRequest.schema},
    errors=_ROUND_ERRORS,
    links=_AFTER_ROUND,
)
PLAY_OR_HINT = Operation(
    "Play one round, or take a model.promoted event as a hint to re-read the manifest."
    + _EVENT_NOTE,
    {200: _or_ack(PLAY.replies[200])},
    body={JSON: PlayRequest.schema, CLOUDEVENT: _cloudevent([events.MODEL_PROMOTED])},
    errors=_ROUND_ERRORS,
    links=_AFTER_ROUND,
)
STATE = Operation(
    "The whole game so far, for a player picking it up again.",
    {200: Reply("Every round shown so far and the next round's values.", replies.GAME_STATE)},
    body={JSON: GameStateRequest.schema},
    errors=(_FORBIDDEN, _NOT_FOUND, _DOWN),
)
MODELS = Operation(
    "This instance's manifest and loaded models.",
    {200: Reply("The serving status.", replies.MODELS)},
)
RELOAD = Operation(
    "Check the manifest now; a failure shows in last_error.",
    {200: MODELS.replies[200]},
)
PREDICTIONS = Operation(
    "What every alias would predict in the game's next round (writes nothing).",
    {200: Reply("The next round's phase and predictions.", replies.PREDICTIONS)},
    query=PredictionsQuery.schema,
    errors=(_NOT_FOUND, _CONFLICT, _DOWN),
)

# -- train ----------------------------------------------------------------------------------

TRAIN_EVENT = Operation(
    "training.requested (a cycle) or telemetry.requested, also as PingSource intents."
    + _EVENT_NOTE,
    {
        200: _or_ack(Reply("training.completed, in binary mode.", replies.TRAINING_COMPLETED)),
    },
    body={
        CLOUDEVENT: _cloudevent(
            [events.TRAINING_REQUESTED, events.TELEMETRY_REQUESTED, events.PING]
        )
    },
    errors=(_BUSY, _DOWN),
)
TRAIN_RUN = Operation(
    "A training cycle now; training.completed goes to K_SINK.",
    {200: Reply("The cycle's outcome, or busy.", replies.TRAINING_RUN)},
    body={JSON: TrainRequest.schema},
    errors=(_DOWN,),
)
TELEMETRY = Operation(
    "Telemetry games now, against the next ML policy in the rotation.",
    {200: Reply("The games' results.", replies.TELEMETRY)},
    body={JSON: TelemetryRequest.schema},
    errors=(_DOWN,),
)

# -- promote --------------------------------------------------------------------------------

PROMOTE_EVENT = Operation(
    "training.completed (refresh and evaluate), promotion.requested (evaluate) or"
    " retention.requested (collect garbage)." + _EVENT_NOTE,
    {200: _or_ack(Reply("model.promoted, in binary mode.", replies.MODEL_PROMOTED))},
    body={
        CLOUDEVENT: _cloudevent(
            [
                events.TRAINING_COMPLETED,
                events.PROMOTION_REQUESTED,
                events.RETENTION_REQUESTED,
                events.PING,
            ]
        )
    },
    errors=(_BUSY, _DOWN),
)
DEAD_LETTER = Operation(
    "The Broker's dead-letter sink: any event it gave up on is kept." + _EVENT_NOTE,
    {200: _ACK},
    body={CLOUDEVENT: _cloudevent(None)},
    errors=(_DOWN,),
)
_CHANGE = Reply("Whether the manifest changed, and how.", replies.PROMOTION_RUN)
PROMOTE_RUN = Operation(
    "An evaluation now; model.promoted, if any, goes to K_SINK.",
    {200: _CHANGE},
    body={JSON: PromoteRequest.schema},
    errors=(_BUSY, _DOWN),
)
SWAP = Operation(
    "Swap a family's Production and B now (a manual promotion or its rollback).",
    {200: _CHANGE},
    body={JSON: SwapRequest.schema},
    errors=(_NOT_FOUND, _BUSY, _DOWN),
)
GC = Operation(
    "Retention: delete the artifacts and MLflow versions that nothing references, beyond the"
    " newest RPS_RETENTION_VERSIONS per lineage; a dry run only reports the plan.",
    {
        200: Reply(
            "Every version and artifact, kept or deleted, with its reasons.", replies.RETENTION_PLAN
        )
    },
    body={JSON: RetentionRequest.schema},
    errors=(_BUSY, _DOWN),
)
PROMOTIONS = Operation(
    "The promotion ledger, newest first.",
    {200: Reply("Ledger rows.", replies.PROMOTIONS)},
    query=LedgerQuery.schema,
    errors=(_DOWN,),
)
ALIASES = Operation(
    "Every alias's lineage with its evidence so far (SPEC §9.4).",
    {200: Reply("The alias table.", replies.ALIAS_TABLE)},
    errors=(_DOWN,),
)
DEAD_LETTERS = Operation(
    "The dead letters, newest first.",
    {200: Reply("Dead letters.", replies.DEAD_LETTERS)},
    query=DeadLetterQuery.schema,
    errors=(_DOWN,),
)
REPLAY = Operation(
    "Send a dead letter to the Broker again, as it came.",
    {200: Reply("The dead letter, with when and where it went.", replies.REPLAYED)},
    body={JSON: ReplayRequest.schema},
    errors=(_NOT_FOUND, _DOWN),
)
