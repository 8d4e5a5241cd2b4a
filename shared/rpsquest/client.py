"""A player's HTTP client for start_game and play: legacy bots playing whole games."""

from __future__ import annotations

from typing import Any

import requests

from rpsquest.game.legacy import simulated_player_move
from rpsquest.game.rules import PlayedRound, RoundPoints

_TIMEOUT = 10


class Client:
    """start_game and play over HTTP, with one keep-alive session. `play_url` replaces the
    public one start_game hands out, for callers inside the cluster."""

    def __init__(
        self, start_url: str, admin_token: str | None = None, play_url: str | None = None
    ) -> None:
        self.start_url = start_url
        self.play_url = play_url
        self.http = requests.Session()
        if admin_token:
            self.http.headers["Authorization"] = f"Bearer {admin_token}"

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(url, json=body, timeout=_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def play_game(self, player: str, policy: str, **start: Any) -> tuple[str, int]:
        """Play one game to the finish; returns (winner, rounds)."""
        game = self._post(self.start_url, {"policy": policy, **start})
        history: list[PlayedRound] = []
        points = RoundPoints(**game["round_points"])
        while True:
            move = simulated_player_move(player, game["game_id"], history, points)
            reply = self._post(
                self.play_url or game["play_url"],
                {"game_id": game["game_id"], "game_token": game["game_token"], "move": move},
            )
            history.append(
                PlayedRound(
                    reply["round"],
                    reply["user_move"],
                    reply["bot_move"],
                    points,
                    reply["user_score"],
                    reply["bot_score"],
                )
            )
            if reply["finished"]:
                return reply["winner"], reply["round"]
            points = RoundPoints(**reply["next_round_points"])
