"""The eight legacy bots, defined once for "self" against "opponent" (SPEC §5.3).

As a server policy self is the bot; as a simulated player (telemetry, bootstrap) self is the user.
Ties always resolve in canonical order: moves rock, paper, scissors; tiers H, M, L.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

LEGACY_BOTS = ("ace", "bob", "cal", "dan", "edd", "fox", "gus", "hal")


@dataclass(frozen=True, slots=True)
class Turn:
    """One past round seen from self's side; scores are after the round."""

    own: Move
    other: Move
    points: RoundPoints
    own_score: float
    other_score: float

    @property
    def result(self) -> Result:
        return outcome(self.own, self.other)


def seen_by_bot(history: Sequence[PlayedRound]) -> list[Turn]:
    return [Turn(r.bot_move, r.user_move, r.points, r.bot_score, r.user_score) for r in history]


def seen_by_user(history: Sequence[PlayedRound]) -> list[Turn]:
    return [Turn(r.user_move, r.bot_move, r.points, r.user_score, r.bot_score) for r in history]


def _won_each(history: Sequence[Turn], k: int) -> bool:
    return len(history) >= k and all(t.result == "win" for t in history[-k:])


def _other_won_recently(history: Sequence[Turn]) -> bool:
    """The opponent won at least 2 of the last 3 rounds."""
    return sum(t.result == "lose" for t in history[-3:]) >= 2


def _most_common(moves: Sequence[Move]) -> Move:
    counts = Counter(moves)
    return max(MOVES, key=lambda m: counts[m])


def _ace(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    if not history or _other_won_recently(history):
        return points.high
    return beater(history[-1].other)


def _bob(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    if _other_won_recently(history):
        tiers = Counter(t.points.tier_of(t.own) for t in history)
        favourite = max(TIERS, key=lambda tier: tiers[tier])
        return beater(points.tier(favourite))
    return points.tier(("H", "L", "M")[len(history) % 3])


def _cal(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    return points.high if _won_each(history, 3) else beater(points.high)


def dan_weights(history: Sequence[Turn], points: RoundPoints) -> dict[Move, float]:
    """dan's normalised move probabilities: favour H, adjusted by the last ten rounds."""
    best, beat = points.high, beater(points.high)
    other = points.middle
    p_best = min(max(points[best] - 1.40, 0.10), 0.60)
    weights = {best: p_best, beat: 0.30, other: max(0.05, 1 - p_best - 0.30)}
    window = history[-10:]
    if window:
        last = window[-1]
        if last.result == "win":
            weights[best] += 0.15
        elif last.result == "lose":
            weights[other] += 0.05
        if last.own_score > last.other_score:
            weights[beat] += 0.10
        elif last.own_score < last.other_score:
            weights[other] += 0.05
        own = [t.own for t in window]
        favourite = _most_common(own)
        if own.count(favourite) >= max(2, len(window) // 2):
            weights[beater(favourite)] += 0.10
    total = sum(weights.values())
    return {move: weights[move] / total for move in MOVES}


def _dan(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    weights = dan_weights(history, points)
    return rng.choices(MOVES, weights=[weights[m] for m in MOVES])[0]


def _edd(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    if not history or history[-1].result == "win":
        return points.high
    return beater(_most_common([t.own for t in history]))


def _fox(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    own_score, other_score = (
        (history[-1].own_score, history[-1].other_score) if history else (0.0, 0.0)
    )
    if own_score < other_score:
        return points.low
    if own_score > other_score:
        counts = Counter(t.own for t in history)
        rarest = min((m for m in MOVES if counts[m]), key=lambda m: counts[m])
        return beater(rarest)
    return points.middle


def _gus(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    return rng.choice(MOVES) if _won_each(history, 2) else points.high


def _hal(history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    if _won_each(history, 3):
        return _most_common([t.own for t in history[-3:]])
    return points.middle


LegacyBot = Callable[[Sequence[Turn], RoundPoints, random.Random], Move]

_BOTS: dict[str, LegacyBot] = {
    "ace": _ace,
    "bob": _bob,
    "cal": _cal,
    "dan": _dan,
    "edd": _edd,
    "fox": _fox,
    "gus": _gus,
    "hal": _hal,
}


def legacy_move(bot: str, history: Sequence[Turn], points: RoundPoints, rng: random.Random) -> Move:
    """The move bot `bot` plays as self, given the history from self's side."""
    return _BOTS[bot](history, points, rng)


def simulated_player_move(
    bot: str, game_id: str, history: Sequence[PlayedRound], points: RoundPoints
) -> Move:
    """A legacy bot playing as the user, with its rules from round 1 (telemetry, bootstrap)."""
    round_no = len(history) + 1
    seed = hashlib.sha256(f"{game_id}:{round_no}:player".encode()).digest()[:8]
    rng = random.Random(int.from_bytes(seed, "big"))
    return legacy_move(bot, seen_by_user(history), points, rng)
