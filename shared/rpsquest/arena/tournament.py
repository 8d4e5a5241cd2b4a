"""The arena tournament: every bot meets every zoo type on the same evaluation sessions.

Cell (bot, type) plays `sessions` sessions of ten games; session s meets the player of seed
evaluation_seed(s), whichever the bot. The bot's match win rate is bot wins over games (a tie is
not a win), with a 95 % Wilson score interval; the games-1-10 interval treats a session's games
as independent, though they share a player, so it is somewhat too narrow. A bot's headline is
the unweighted mean over types of its games-1-10 rate.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from rpsquest.arena.seeds import evaluation_seed
from rpsquest.arena.selfplay import SESSION_GAMES
from rpsquest.arena.venues import PlayedSession, SessionRunner, Venue
from rpsquest.arena.zoo import zoo_player
from rpsquest.game.rules import match_winner

Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile
_CHUNKS_PER_JOB = 16  # small enough to keep both cores busy to the end

Task = tuple[str, str, int]  # bot, zoo type, seed


def wilson(wins: int, games: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) without games."""
    if games == 0:
        return 0.0, 1.0
    p, z2 = wins / games, z * z
    shrink = 1 + z2 / games
    centre = (p + z2 / (2 * games)) / shrink
    half = z * math.sqrt(p * (1 - p) / games + z2 / (4 * games * games)) / shrink
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Rate:
    """Bot wins out of games."""

    wins: int
    games: int

    @property
    def value(self) -> float:
        return self.wins / self.games if self.games else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.wins, self.games)

    def as_json(self) -> dict[str, Any]:
        return {
            "wins": self.wins,
            "games": self.games,
            "rate": self.value,
            "interval": self.interval,
        }


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    """What the tally keeps of a session: per game, whether the bot won and in how many rounds."""

    bot_won: tuple[bool, ...]
    rounds: tuple[int, ...]
    phases: Mapping[str, int]


def session_outcome(played: PlayedSession) -> SessionOutcome:
    winners = [match_winner(game[-1].user_score, game[-1].bot_score) for game in played.games]
    return SessionOutcome(
        tuple(winner == "bot" for winner in winners),
        tuple(len(game) for game in played.games),
        played.phases,
    )


@dataclass(frozen=True, slots=True)
class Cell:
    """One bot against one zoo type."""

    bot: str
    kind: str
    games: Rate  # games 1-10 of every session
    first_games: Rate  # game 1 of every session
    rounds: int
    phases: Mapping[str, int]

    @property
    def mean_rounds(self) -> float:
        return self.rounds / self.games.games if self.games.games else math.nan

    def as_json(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "type": self.kind,
            "games_1_10": self.games.as_json(),
            "game_1": self.first_games.as_json(),
            "mean_rounds": self.mean_rounds,
            "phases": dict(self.phases),
        }


def tally(bot: str, kind: str, sessions: Sequence[SessionOutcome]) -> Cell:
    phases: Counter[str] = Counter()
    for session in sessions:
        phases.update(session.phases)
    return Cell(
        bot,
        kind,
        Rate(sum(sum(s.bot_won) for s in sessions), sum(len(s.bot_won) for s in sessions)),
        Rate(sum(s.bot_won[0] for s in sessions), len(sessions)),
        sum(sum(s.rounds) for s in sessions),
        dict(phases),
    )


@dataclass(frozen=True, slots=True)
class Tournament:
    bots: tuple[str, ...]
    kinds: tuple[str, ...]
    sessions: int
    cells: Mapping[tuple[str, str], Cell]

    def headline(self, bot: str, first_game: bool = False) -> float:
        """The unweighted mean over types of the bot's games-1-10 (or game-1) win rate."""
        return statistics.fmean(
            (cell.first_games if first_game else cell.games).value
            for cell in (self.cells[bot, kind] for kind in self.kinds)
        )

    def mean_rounds(self, bot: str) -> float:
        """Rounds per game over all the bot's games."""
        cells = [self.cells[bot, kind] for kind in self.kinds]
        return sum(c.rounds for c in cells) / sum(c.games.games for c in cells)

    def phases(self, bot: str) -> Counter[str]:
        """The bot's decisions by phase, over all its sessions."""
        total: Counter[str] = Counter()
        for kind in self.kinds:
            total.update(self.cells[bot, kind].phases)
        return total

    def as_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "games_per_session": SESSION_GAMES,
            "bots": list(self.bots),
            "types": list(self.kinds),
            "headline": {bot: self.headline(bot) for bot in self.bots},
            "cells": [cell.as_json() for cell in self.cells.values()],
        }


def session_id(kind: str, seed: int) -> str:
    """Dots, not colons: start_game takes session ids of [A-Za-z0-9._-] only."""
    return f"arena.{kind}.{seed}"


def _play_session(runner: SessionRunner, task: Task) -> SessionOutcome:
    bot, kind, seed = task
    return session_outcome(runner(session_id(kind, seed), zoo_player(kind, seed), bot))


# A worker process opens its venue once (models, an HTTP session) and keeps it here.
_opened: list[SessionRunner] = []


def _open_worker(venue: Venue) -> None:
    _opened.append(venue.open())


def _play_in_worker(task: Task) -> SessionOutcome:
    return _play_session(_opened[0], task)


def _outcomes(venue: Venue, tasks: Sequence[Task], jobs: int) -> Iterator[SessionOutcome]:
    """Each task's outcome in task order, played here (one job) or by `jobs` processes."""
    if jobs == 1:
        runner = venue.open()
        yield from (_play_session(runner, task) for task in tasks)
        return
    chunk = max(1, len(tasks) // (jobs * _CHUNKS_PER_JOB))
    spawn = multiprocessing.get_context("spawn")  # fresh workers: nothing inherited mid-state
    with ProcessPoolExecutor(jobs, spawn, _open_worker, (venue,)) as pool:
        yield from pool.map(_play_in_worker, tasks, chunksize=chunk)


def run_tournament(
    venue: Venue,
    bots: Sequence[str],
    kinds: Sequence[str],
    sessions: int,
    jobs: int = 1,
    advance: Callable[[], object] = lambda: None,
) -> Tournament:
    """Every (bot, type) cell's sessions; `advance` is called after each session."""
    tasks = [
        (bot, kind, evaluation_seed(s)) for bot in bots for kind in kinds for s in range(sessions)
    ]
    played: dict[tuple[str, str], list[SessionOutcome]] = {(b, k): [] for b in bots for k in kinds}
    for (bot, kind, _seed), outcome in zip(tasks, _outcomes(venue, tasks, jobs), strict=True):
        played[bot, kind].append(outcome)
        advance()
    cells = {(bot, kind): tally(bot, kind, outcomes) for (bot, kind), outcomes in played.items()}
    return Tournament(tuple(bots), tuple(kinds), sessions, cells)
