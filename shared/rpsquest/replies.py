"""JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of every reply body the functions send.
They are strict (no unlisted property), so the integration tests' conformance check and the
fuzz test catch a reply that grows, loses or retypes a field without its schema following."""

from __future__ import annotations

from collections.abc import Mapping

from rpsquest import FEATURE_CONTRACT
from rpsquest.api import PERIODS
from rpsquest.game.rules import MOVES
from rpsquest.schemas import (
    ALIAS,
    BOOLEAN,
    COUNT,
    DIFFICULTY,
    FAMILY,
    MOVE,
    NUMBER,
    OBJECT,
    POLICY,
    STRING,
    Schema,
    array,
    nullable,
    strict,
)

TIMESTAMP: Schema = {"type": "string", "description": "UTC ISO-8601 with milliseconds and Z"}
RATE: Schema = nullable({"type": "number", "minimum": 0, "maximum": 1})
WINNER: Schema = nullable({"enum": ["user", "bot", "tie"]})
VERSION: Schema = {"type": "integer", "minimum": 1}
ROUND_NO: Schema = {"type": "integer", "minimum": 1}
POINTS: Schema = strict({move: {"type": "number", "exclusiveMinimum": 0} for move in MOVES})
PROBABILITIES: Schema = strict(
    {move: {"type": "number", "minimum": 0, "maximum": 1} for move in MOVES}
)

ERROR = strict({"error": strict({"code": STRING, "message": STRING})})

HEALTH = strict(
    {
        "status": {"const": "ok"},
        "function": {"enum": ["start_game", "play", "train", "promote"]},
        "version": STRING,
        "feature_contract": {"const": FEATURE_CONTRACT},
    },
    {"manifest_version": nullable(VERSION)},  # play's
)

GAME_STARTED = strict(
    {
        "game_id": STRING,
        "game_token": STRING,
        "session_id": STRING,
        "player_name": STRING,
        "policy": POLICY,
        "difficulty": DIFFICULTY,
        "target_score": NUMBER,
        "round": {"const": 1},
        "round_points": POINTS,
        "play_url": {"type": "string", "format": "uri"},
    }
)

_ROUND_FIELDS: Mapping[str, Schema] = {
    "round": ROUND_NO,
    "user_move": MOVE,
    "bot_move": MOVE,
    "result": {"enum": ["win", "lose", "draw"], "description": "from the player's side"},
    "round_points": POINTS,
    "user_delta": NUMBER,
    "bot_delta": NUMBER,
    "user_score": NUMBER,
    "bot_score": NUMBER,
}

ROUND = strict(
    {
        "game_id": STRING,
        **_ROUND_FIELDS,
        "finished": BOOLEAN,
        "winner": WINNER,
        "next_round_points": nullable(POINTS),
    }
)

GAME_STATE = strict(
    {
        "game_id": STRING,
        "player_name": STRING,
        "policy": POLICY,
        "difficulty": DIFFICULTY,
        "target_score": NUMBER,
        "rounds": array(strict(_ROUND_FIELDS)),
        "user_score": NUMBER,
        "bot_score": NUMBER,
        "finished": BOOLEAN,
        "winner": WINNER,
        "next_round": nullable(ROUND_NO),
        "next_round_points": nullable(POINTS),
    }
)

PREDICTIONS = strict(
    {
        "game_id": STRING,
        "round": ROUND_NO,
        "family": STRING,
        "alias": nullable(ALIAS),
        "phase": STRING,
        "predictions": array(
            strict(
                {
                    "alias": ALIAS,
                    "version": VERSION,
                    "probabilities": PROBABILITIES,
                    "predicted": MOVE,
                }
            )
        ),
    }
)

MODELS = strict(
    {
        "manifest_version": nullable(VERSION),
        "checked_at": nullable(TIMESTAMP),
        "loaded": array(
            strict(
                {
                    "family": FAMILY,
                    "alias": ALIAS,
                    "version": VERSION,
                    "config_id": STRING,
                    "sha256": STRING,
                    "loaded_at": TIMESTAMP,
                }
            )
        ),
        "last_error": nullable(STRING),
    }
)

LEADERBOARD = strict(
    {
        "period": {"enum": list(PERIODS)},
        "policy": nullable(POLICY),
        "min_games": COUNT,
        "players": array(
            strict(
                {
                    "rank": {"type": "integer", "minimum": 1},
                    "player_name": STRING,
                    "games": COUNT,
                    "wins": COUNT,
                    "win_rate": RATE,
                    "best_streak": COUNT,
                }
            )
        ),
    }
)

BOTS = strict(
    {
        "days": COUNT,
        "bots": array(
            strict({"policy": POLICY, "games": COUNT, "bot_wins": COUNT, "bot_win_rate": RATE})
        ),
    }
)

SESSION_RECORD = strict(
    {
        "player_name": nullable(STRING),
        "games": COUNT,
        "wins": COUNT,
        "current_streak": COUNT,
        "best_streak": COUNT,
        "bots": array(
            strict(
                {
                    "policy": POLICY,
                    "games": COUNT,
                    "wins": COUNT,
                    "losses": COUNT,
                    "ties": COUNT,
                    "win_rate": RATE,
                }
            )
        ),
        "recent_games": array(
            strict(
                {
                    "game_id": STRING,
                    "policy": POLICY,
                    "difficulty": DIFFICULTY,
                    "player_name": STRING,
                    "started_at": TIMESTAMP,
                    "finished_at": nullable(TIMESTAMP),
                    "rounds": COUNT,
                    "user_score": NUMBER,
                    "bot_score": NUMBER,
                    "finished": BOOLEAN,
                    "winner": WINNER,
                }
            )
        ),
    }
)

# train: a cycle's outcome (training.completed's data), and telemetry's games.
TRAINING_COMPLETED = strict(
    {
        "cycle_id": STRING,
        "trigger_event_id": nullable(STRING),
        "status": {"enum": ["success", "partial", "failure", "skipped"]},
        "reason": STRING,
        "duration_seconds": {"type": "number", "minimum": 0},
        "data": OBJECT,
        "models": {"type": "object", "description": "per family, per alias: what was trained"},
    }
)
_DELIVERED = {"event_delivered": {"const": False, "description": "present when K_SINK refused"}}
TRAINING_RUN = {
    "oneOf": [
        strict(TRAINING_COMPLETED["properties"], _DELIVERED),
        strict({"status": {"const": "busy"}, "reason": STRING}),
    ]
}
TELEMETRY = strict(
    {
        "policy": POLICY,
        "games": COUNT,
        "results": array(
            strict({"player": STRING, "winner": {"enum": ["user", "bot", "tie"]}, "rounds": COUNT})
        ),
        "bot_win_rate": RATE,
    }
)

# promote: model.promoted's data, what an admin's evaluation or swap did, and its records.
MODEL_PROMOTED = strict(
    {
        "manifest_version": VERSION,
        "previous_manifest_version": nullable(VERSION),
        "reason": {"enum": ["promotion", "reorder", "refresh", "repair"]},
        "changes": array(
            strict(
                {
                    "family": FAMILY,
                    "alias": ALIAS,
                    "from_version": nullable(VERSION),
                    "to_version": VERSION,
                    "config_id": STRING,
                }
            )
        ),
        "ledger_ids": array(COUNT),
    }
)
PROMOTION_RUN = {
    "oneOf": [
        strict({"changed": {"const": False}}),
        strict({"changed": {"const": True}, **MODEL_PROMOTED["properties"]}, _DELIVERED),
    ]
}
PROMOTIONS = strict(
    {
        "promotions": array(
            strict(
                {
                    "id": VERSION,
                    "created_at": TIMESTAMP,
                    "family": FAMILY,
                    "decision": STRING,
                    "reorder_applied": BOOLEAN,
                    "state": {"enum": ["pending", "applied"]},
                    "inputs": OBJECT,
                    "before": {"type": "object", "description": "alias to version"},
                    "after": {"type": "object", "description": "alias to version"},
                    "reason": STRING,
                    "trigger_type": STRING,
                    "trigger_event_id": nullable(STRING),
                }
            )
        ),
        "count": COUNT,
    }
)
ALIAS_TABLE = strict(
    {
        "manifest_version": nullable(VERSION),
        "feature_contract": {"const": FEATURE_CONTRACT},
        "aliases": array(
            strict(
                {
                    "family": FAMILY,
                    "registered_model": STRING,
                    "alias": ALIAS,
                    "version": VERSION,
                    "config_id": STRING,
                    "assignment_id": nullable(COUNT),
                    "assigned_at": TIMESTAMP,
                    "sha256": nullable(STRING),
                    "games": COUNT,
                    "bot_wins": COUNT,
                    "bot_win_rate": RATE,
                    "predictions": COUNT,
                    "accuracy": RATE,
                    "arena_headline": nullable(NUMBER),
                }
            )
        ),
    }
)
_DEAD_LETTER: Mapping[str, Schema] = {
    "id": VERSION,
    "received_at": TIMESTAMP,
    "event_id": STRING,
    "type": STRING,
    "source": STRING,
    "data": OBJECT,
    "replayed_at": nullable(TIMESTAMP),
}
DEAD_LETTERS = strict({"dead_letters": array(strict(_DEAD_LETTER)), "count": COUNT})
REPLAYED = strict({**_DEAD_LETTER, "replayed_at": TIMESTAMP, "sink": STRING})

_COUNTS = strict({"versions": COUNT, "artifacts": COUNT})
_REASONS = array(STRING)
RETENTION_PLAN = strict(
    {
        "keep_per_lineage": VERSION,
        "kept": _COUNTS,
        "deleted": _COUNTS,
        "versions": array(
            strict(
                {
                    "family": FAMILY,
                    "version": VERSION,
                    "config_id": nullable(STRING),
                    "keep": BOOLEAN,
                    "reasons": _REASONS,
                }
            )
        ),
        "artifacts": array(strict({"key": STRING, "keep": BOOLEAN, "reasons": _REASONS})),
        "dry_run": BOOLEAN,
    }
)
