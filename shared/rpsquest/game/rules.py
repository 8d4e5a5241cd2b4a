"""The rules of one match: moves, per-round point values, scoring and the end of the game."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, cast

Move = Literal["rock", "paper", "scissors"]
Result = Literal["win", "lose", "draw"]
Winner = Literal["user", "bot", "tie"]

MOVES: tuple[Move, ...] = ("rock", "paper", "scissors")
TARGET_SCORE = 10
_REACH_EPSILON = 1e-6
_BASES = (Decimal("1.1"), Decimal("1.2"), Decimal("1.3"), Decimal("1.4"), Decimal("1.5"))
_TENTH = Decimal("0.1")

_PREY: dict[Move, Move] = {"rock": "scissors", "paper": "rock", "scissors": "paper"}
_BEATER: dict[Move, Move] = {prey: hunter for hunter, prey in _PREY.items()}


def prey(move: Move) -> Move:
    """The move that `move` beats."""
    return _PREY[move]


def beater(move: Move) -> Move:
    """The move that beats `move`."""
    return _BEATER[move]


def outcome(user: Move, bot: Move) -> Result:
    """The round's result from the player's side."""
    if user == bot:
        return "draw"
    return "win" if prey(user) == bot else "lose"


def tenths(value: float | Decimal) -> float:
    """Round to one decimal, half up, as every score and point value is."""
    return float(Decimal(str(value)).quantize(_TENTH, rounding=ROUND_HALF_UP))


def _digest_int(text: str, length: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:length], "big")


@dataclass(frozen=True, slots=True)
class RoundPoints:
    """What each move is worth in one round; the three values are always distinct."""

    rock: float
    paper: float
    scissors: float

    def __getitem__(self, move: Move) -> float:
        return float(getattr(self, move))

    def as_dict(self) -> dict[str, float]:
        return {"rock": self.rock, "paper": self.paper, "scissors": self.scissors}

    @property
    def high(self) -> Move:
        return max(MOVES, key=self.__getitem__)

    @property
    def middle(self) -> Move:
        return beater(self.low)

    @property
    def low(self) -> Move:
        return min(MOVES, key=self.__getitem__)

    def tier(self, tier: Tier) -> Move:
        """The move holding value rank H, M or L this round."""
        return {"H": self.high, "M": self.middle, "L": self.low}[tier]

    def tier_of(self, move: Move) -> Tier:
        """The value rank of `move` this round (the features ask it of every past round)."""
        values = (self.rock, self.paper, self.scissors)
        value = self[move]
        return "H" if value == max(values) else "L" if value == min(values) else "M"


Tier = Literal["H", "M", "L"]
TIERS: tuple[Tier, ...] = ("H", "M", "L")


def round_points(game_id: str, round_no: int) -> RoundPoints:
    """Deterministic point values of a round (SPEC §2.1)."""
    low = MOVES[_digest_int(f"{game_id}:{round_no}:low", 2) % 3]
    base = _BASES[_digest_int(f"{game_id}:{round_no}:base", 2) % 5]
    values = {low: Decimal(1), prey(low): base + Decimal("0.5"), beater(low): base}
    return RoundPoints(**{move: tenths(value) for move, value in values.items()})


def reaches_target(score: float) -> bool:
    return score >= TARGET_SCORE - _REACH_EPSILON


def _settle(score: float) -> float:
    """Snap a score that reached the target from just below onto 10.0."""
    return float(TARGET_SCORE) if reaches_target(score) and score < TARGET_SCORE else score


@dataclass(frozen=True, slots=True)
class Scored:
    """The outcome of one round applied to the running scores."""

    result: Result
    user_delta: float
    bot_delta: float
    user_score: float
    bot_score: float
    winner: Winner | None

    @property
    def finished(self) -> bool:
        return self.winner is not None


def score_round(
    user: Move, bot: Move, points: RoundPoints, user_score: float, bot_score: float
) -> Scored:
    """Apply SPEC §2.2: the winner gains its own move's value, a draw gives 0.5 to each."""
    result = outcome(user, bot)
    user_delta = {"win": points[user], "lose": 0.0, "draw": 0.5}[result]
    bot_delta = {"win": 0.0, "lose": points[bot], "draw": 0.5}[result]
    new_user = _settle(tenths(Decimal(str(user_score)) + Decimal(str(user_delta))))
    new_bot = _settle(tenths(Decimal(str(bot_score)) + Decimal(str(bot_delta))))
    return Scored(result, user_delta, bot_delta, new_user, new_bot, match_winner(new_user, new_bot))


def match_winner(user_score: float, bot_score: float) -> Winner | None:
    """Who has won once these scores stand, or None while the game goes on."""
    user_done, bot_done = reaches_target(user_score), reaches_target(bot_score)
    if user_done and bot_done:
        if user_score == bot_score:
            return "tie"
        return "user" if user_score > bot_score else "bot"
    if user_done:
        return "user"
    return "bot" if bot_done else None


@dataclass(frozen=True, slots=True)
class PlayedRound:
    """One finished round of a game; scores are after the round."""

    round_no: int
    user_move: Move
    bot_move: Move
    points: RoundPoints
    user_score: float
    bot_score: float

    @property
    def result(self) -> Result:
        return outcome(self.user_move, self.bot_move)


def played_rounds(rows: Iterable[Sequence[Any]]) -> list[PlayedRound]:
    """Rounds from flat rows (round_no, user_move, bot_move, rock, paper and scissors points,
    user_score, bot_score, then anything), as a table keeps them; the moves were checked when
    played."""
    return [
        PlayedRound(
            number,
            cast(Move, user),
            cast(Move, bot),
            RoundPoints(rock, paper, scissors),
            user_score,
            bot_score,
        )
        for number, user, bot, rock, paper, scissors, user_score, bot_score, *_ in rows
    ]
