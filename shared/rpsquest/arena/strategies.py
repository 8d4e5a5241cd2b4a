"""Plans of play for zoo players: the next move from everything seen so far in the session."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from rpsquest.arena.predictors import Frequency, HistoryMatch, Predictor
from rpsquest.game.rules import (
    MOVES,
    TIERS,
    Move,
    PlayedRound,
    Result,
    RoundPoints,
    beater,
    outcome,
)

Weights = Sequence[float]
# Steps in move order (rock, paper, scissors, rock, ...): one up beats the move before it.
STAY, UP, DOWN = 0, 1, 2
STEPS = (STAY, UP, DOWN)
_PAYOFF: Mapping[Result, int] = {"win": 1, "draw": 0, "lose": -1}


def step(move: Move, steps: int) -> Move:
    """The move `steps` places after `move` in move order."""
    return MOVES[(MOVES.index(move) + steps) % 3]


def steps_between(before: Move, after: Move) -> int:
    return (MOVES.index(after) - MOVES.index(before)) % 3


class Strategy(Protocol):
    def observe(self, played: PlayedRound) -> None:
        """A finished round (user = this player): each one once, across the session's games."""
        ...

    def choose(self, points: RoundPoints, rng: random.Random) -> Move | None:
        """This round's move, or None for a uniformly random one."""
        ...


class _Oblivious:
    """A strategy that learns nothing from the rounds it sees."""

    def observe(self, played: PlayedRound) -> None:
        pass


@dataclass(slots=True)
class Pattern:
    """Plays `moves` over and over, one per round of the session."""

    moves: tuple[Move, ...]
    played: int = 0

    def observe(self, played: PlayedRound) -> None:
        self.played += 1

    def choose(self, points: RoundPoints, rng: random.Random) -> Move:
        return self.moves[self.played % len(self.moves)]


@dataclass(frozen=True, slots=True)
class MoveMix(_Oblivious):
    """Draws every move independently with `weights` (rock, paper, scissors)."""

    weights: Weights

    def choose(self, points: RoundPoints, rng: random.Random) -> Move:
        return rng.choices(MOVES, self.weights)[0]


@dataclass(frozen=True, slots=True)
class TierMix(_Oblivious):
    """Draws every round's value tier independently with `weights` (H, M, L)."""

    weights: Weights

    def choose(self, points: RoundPoints, rng: random.Random) -> Move:
        return points.tier(rng.choices(TIERS, self.weights)[0])


@dataclass(slots=True)
class Respond:
    """Predicts the bot's next move from the bot's moves and plays `steps` above it: 1 beats
    the prediction, 0 copies it."""

    predictor: Predictor
    steps: int

    def observe(self, played: PlayedRound) -> None:
        self.predictor.observe(played.bot_move)

    def choose(self, points: RoundPoints, rng: random.Random) -> Move | None:
        predicted = self.predictor.predict()
        return None if predicted is None else step(predicted, self.steps)


# P(next step | last result, the step that led to the last move), as weights in STEPS order.
StepTable = Mapping[tuple[Result, int], Weights]


def certain_steps(after: Mapping[Result, int]) -> StepTable:
    """The step table of a player who always takes step `after[result]`, whatever came before."""
    return {
        (result, before): tuple(float(s == chosen) for s in STEPS)
        for result, chosen in after.items()
        for before in STEPS
    }


@dataclass(slots=True)
class Transitions:
    """Steps from its own last move, drawn by the last result and the step before it;
    win-stay/lose-shift is the case of certain steps."""

    table: StepTable
    last: PlayedRound | None = None
    last_step: int | None = None

    def observe(self, played: PlayedRound) -> None:
        if self.last is not None:
            self.last_step = steps_between(self.last.user_move, played.user_move)
        self.last = played

    def choose(self, points: RoundPoints, rng: random.Random) -> Move | None:
        if self.last is None:
            return None
        return step(self.last.user_move, rng.choices(STEPS, self._weights(self.last.result))[0])

    def _weights(self, result: Result) -> Weights:
        if self.last_step is not None:
            return self.table[result, self.last_step]
        # After a single round there is no step yet: average the rows of that result.
        return [sum(self.table[result, before][after] for before in STEPS) for after in STEPS]


@dataclass(slots=True)
class Noisy:
    """`plan`, but each round with probability `noise` a uniformly random move instead."""

    plan: Strategy
    noise: float

    def observe(self, played: PlayedRound) -> None:
        self.plan.observe(played)

    def choose(self, points: RoundPoints, rng: random.Random) -> Move | None:
        return None if rng.random() < self.noise else self.plan.choose(points, rng)


class Iocaine:
    """Iocaine Powder's meta-strategy: frequency and history-matching forecasts of the bot's
    move, direct and mirrored, each answered at three Sicilian levels; every candidate is
    scored on every round (win +1, loss -1, decayed) and the best one plays."""

    def __init__(self, longest: int, decay: float) -> None:
        self.decay = decay
        self._bot_moves, self._own_moves = Frequency(), Frequency()
        self._bot_runs, self._own_runs = HistoryMatch[Move](longest), HistoryMatch[Move](longest)
        self._pair_runs = HistoryMatch[tuple[Move, Move]](longest)
        self._candidates = self._propose()
        self._scores = [0.0] * len(self._candidates)

    def _forecasts(self) -> list[Move | None]:
        """The bot's next move as each predictor expects it. Mirrors predict this player's own
        next move, as the bot could from the same history, and expect the bot to beat it."""
        own_pair, bot_pair = self._pair_runs.predict() or (None, None)
        direct = [self._bot_moves.predict(), self._bot_runs.predict(), bot_pair]
        mirrored = [self._own_moves.predict(), self._own_runs.predict(), own_pair]
        return direct + [None if own is None else beater(own) for own in mirrored]

    def _propose(self) -> list[Move | None]:
        """Per forecast: beat it (level 0), beat the bot that expects that (1), and again (2)."""
        forecasts = self._forecasts()
        return [None if f is None else step(beater(f), level) for f in forecasts for level in STEPS]

    def observe(self, played: PlayedRound) -> None:
        for index, candidate in enumerate(self._candidates):
            payoff = 0 if candidate is None else _PAYOFF[outcome(candidate, played.bot_move)]
            self._scores[index] = self.decay * self._scores[index] + payoff
        self._bot_moves.observe(played.bot_move)
        self._own_moves.observe(played.user_move)
        self._bot_runs.observe(played.bot_move)
        self._own_runs.observe(played.user_move)
        self._pair_runs.observe((played.user_move, played.bot_move))
        self._candidates = self._propose()

    def choose(self, points: RoundPoints, rng: random.Random) -> Move | None:
        ready = [i for i, candidate in enumerate(self._candidates) if candidate is not None]
        best = max(ready, key=self._scores.__getitem__, default=None)
        return None if best is None else self._candidates[best]


@dataclass(slots=True)
class Switcher:
    """Plays one of `plans` and moves on to the next after `patience` rounds lost with it;
    every plan keeps watching, so it resumes with what it learned meanwhile."""

    plans: tuple[Strategy, ...]
    patience: int
    active: int = 0
    losses: int = 0

    def observe(self, played: PlayedRound) -> None:
        for plan in self.plans:
            plan.observe(played)
        if played.result == "lose":
            self.losses += 1
        if self.losses == self.patience:
            self.active, self.losses = (self.active + 1) % len(self.plans), 0

    def choose(self, points: RoundPoints, rng: random.Random) -> Move | None:
        return self.plans[self.active].choose(points, rng)
