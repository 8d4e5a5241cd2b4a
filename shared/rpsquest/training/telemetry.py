"""Telemetry: legacy-bot players play the ML bots over HTTP, one policy per call (SPEC §10.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import Engine

from rpsquest import metrics
from rpsquest.client import Client
from rpsquest.config import Settings
from rpsquest.errors import Unavailable
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.policies import ML_POLICIES
from rpsquest.store.coordination import update_value

ROTATION_KEY = "telemetry.rotation"
SOURCE = "telemetry"


@dataclass(frozen=True, slots=True)
class Slot:
    """One call's share of the rotation: the ML policy to play and its players, in order."""

    policy: str
    players: tuple[str, ...]


def _position(stored: str | None) -> tuple[int, int]:
    """(policy index, player index) saved by the previous call; a missing or odd value restarts."""
    try:
        saved = json.loads(stored or "{}")
        return int(saved["policy"]) % len(ML_POLICIES), int(saved["player"]) % len(LEGACY_BOTS)
    except (ValueError, TypeError, KeyError):
        return 0, 0


def take_slot(database: Engine, games: int) -> Slot:
    """Claim the next policy and the next `games` players; concurrent calls get different slots."""

    def advance(stored: str | None) -> str:
        policy, player = _position(stored)
        return json.dumps({"policy": policy + 1, "player": player + games})

    policy, player = _position(update_value(database, ROTATION_KEY, advance))
    players = tuple(LEGACY_BOTS[(player + i) % len(LEGACY_BOTS)] for i in range(games))
    return Slot(ML_POLICIES[policy], players)


def play_telemetry(settings: Settings, database: Engine, games: int | None) -> dict[str, Any]:
    """Play one slot's games through start_game and play; an unreachable server is transient."""
    slot = take_slot(database, settings.telemetry_games if games is None else games)
    client = Client(settings.start_game_url, settings.admin_token, settings.play_internal_url)
    results = []
    with client.http:
        for bot in slot.players:
            player = bot.capitalize()
            try:
                winner, rounds = client.play_game(
                    bot, slot.policy, source=SOURCE, player_name=player
                )
            except requests.RequestException as exc:
                raise Unavailable(
                    f"Telemetry could not play {player} against {slot.policy}: {exc}"
                ) from exc
            metrics.TELEMETRY_GAMES.labels(player, slot.policy, winner).inc()
            results.append({"player": player, "winner": winner, "rounds": rounds})
    bot_wins = sum(result["winner"] == "bot" for result in results)
    return {
        "policy": slot.policy,
        "games": len(results),
        "results": results,
        "bot_win_rate": bot_wins / len(results) if results else None,
    }
