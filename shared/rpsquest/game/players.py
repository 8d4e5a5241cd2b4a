"""Simulated players: anything that picks the user's moves in self-play, the arena or a client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rpsquest.game.legacy import simulated_player_move
from rpsquest.game.rules import Move, PlayedRound, RoundPoints


class SimulatedPlayer(Protocol):
    """A player that may remember: it sees its own game so far before each move, and each
    finished game once, so memory across a session's games lives in the object."""

    def move(self, game_id: str, history: Sequence[PlayedRound], points: RoundPoints) -> Move:
        """This round's move; `history` is the game's rounds so far (user = this player)."""
        ...

    def game_over(self, history: Sequence[PlayedRound]) -> None:
        """The game just finished with these rounds."""
        ...


@dataclass(frozen=True, slots=True)
class LegacyPlayer:
    """A legacy bot as the user (SPEC §5.3): it remembers nothing between games."""

    bot: str

    def move(self, game_id: str, history: Sequence[PlayedRound], points: RoundPoints) -> Move:
        return simulated_player_move(self.bot, game_id, history, points)

    def game_over(self, history: Sequence[PlayedRound]) -> None:
        pass
