"""A player's HTTP client for start_game and play: simulated players playing whole games."""

from __future__ import annotations

from typing import Any, cast

import requests

from rpsquest.game.players import LegacyPlayer, SimulatedPlayer
from rpsquest.game.rules import PlayedRound, RoundPoints, Winner, match_winner

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
        """Legacy bot `player` plays one game to the finish; returns (winner, rounds)."""
        rounds = self.play_match(LegacyPlayer(player), policy, **start)
        last = rounds[-1]
        winner = match_winner(last.user_score, last.bot_score)  # play said the game finished
        return cast(Winner, winner), last.round_no

    def play_match(
        self, player: SimulatedPlayer, policy: str, **start: Any
    ) -> tuple[PlayedRound, ...]:
        """Start a game with `start`'s fields and play it to the finish with `player`'s moves;
        the rounds are read from play's replies."""
        game = self._post(self.start_url, {"policy": policy, **start})
        history: list[PlayedRound] = []
        points = RoundPoints(**game["round_points"])
        while True:
            move = player.move(game["game_id"], tuple(history), points)
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
                rounds = tuple(history)
                player.game_over(rounds)
                return rounds
            points = RoundPoints(**reply["next_round_points"])
