"""Where arena sessions are played: on the real engine in this process, or against a running
stack over HTTP. Both hand back the session's games, which the tournament tallies one way."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rpsquest.arena.baselines import BASELINES, baseline_bot
from rpsquest.arena.selfplay import SESSION_GAMES, Bot, play_session, server_bot
from rpsquest.client import Client
from rpsquest.config import Settings
from rpsquest.game.bots import Decision, ModelBank, Situation
from rpsquest.game.players import SimulatedPlayer
from rpsquest.game.policies import POLICIES
from rpsquest.game.rules import PlayedRound
from rpsquest.modelstore import open_store
from rpsquest.serving import ServingModels


@dataclass(frozen=True, slots=True)
class PlayedSession:
    """A session's games, and how many of the bot's decisions each phase made (gambit, ml,
    fallback, legacy, baseline); a stack over HTTP does not say, so there it is empty."""

    games: tuple[Sequence[PlayedRound], ...]
    phases: Mapping[str, int]


# (session id, the session's player, the bot's name) -> the session played
SessionRunner = Callable[[str, SimulatedPlayer, str], PlayedSession]


class Venue(Protocol):
    @property
    def bots(self) -> tuple[str, ...]:
        """The bots it can seat."""
        ...

    def open(self) -> SessionRunner:
        """Ready to play sessions: once per worker process."""
        ...


def _counting(bot: Bot, phases: Counter[str]) -> Bot:
    def counted(situation: Situation) -> Decision:
        decision = bot(situation)
        phases[decision.phase] += 1
        return decision

    return counted


@dataclass(frozen=True, slots=True)
class InProcess:
    """The self-play engine with play's decision (RPS_ADAPTIVE_POLICY included); ML policies
    predict with the ONNX models the store's manifest names, loaded as serving loads them, and
    fall back when there are none. Given `models`, they predict with that bank instead, which
    stays in this process: a tournament of one job."""

    settings: Settings
    models: ModelBank | None = None

    @property
    def bots(self) -> tuple[str, ...]:
        return (*POLICIES, *BASELINES)

    def open(self) -> SessionRunner:
        models = (
            ServingModels(self.settings, open_store(self.settings.model_store))
            if self.models is None
            else self.models
        )
        secret = self.settings.game_secret

        def run(session_id: str, player: SimulatedPlayer, bot: str) -> PlayedSession:
            phases: Counter[str] = Counter()
            chosen = (
                baseline_bot(bot, secret)
                if bot in BASELINES
                else server_bot(secret, models, self.settings.adaptive_policy)
            )
            games = play_session(session_id, player, bot, secret, bot=_counting(chosen, phases))
            return PlayedSession(tuple(game.rounds for game in games), dict(phases))

        return run


@dataclass(frozen=True, slots=True)
class OverHttp:
    """A running stack: each session's games are started under one session id (as test games,
    kept out of training and promotion evidence) and played through play. The stack's bot
    reads a session's earlier games by that id, so every bot and every run gets its own."""

    start_url: str
    run: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def bots(self) -> tuple[str, ...]:
        return POLICIES

    def open(self) -> SessionRunner:
        client = Client(self.start_url)

        def run(session_id: str, player: SimulatedPlayer, bot: str) -> PlayedSession:
            start = {"session_id": f"{session_id}.{bot}.{self.run}", "is_test": True}
            games = tuple(client.play_match(player, bot, **start) for _ in range(SESSION_GAMES))
            return PlayedSession(games, {})

        return run
