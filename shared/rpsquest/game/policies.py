"""Bot policies: which policies exist, and the expected-value choice of ML policies (SPEC §5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from rpsquest.game.gambits import keyed_unit
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.rules import MOVES, Move, RoundPoints, beater, prey, reaches_target

_DRAW_WEIGHT = 0.5
_FINISHING_BONUS = 10.0
_EASY_WORST, _EASY_MIDDLE = 0.7, 0.9


# The type checker's spelling of the catalogue below: each row's name must be one of these,
# and a unit test holds every one of these to a row.
FamilyName = Literal["feedforward", "xgboost", "logistic"]
Alias = Literal["Production", "B", "shadow1", "shadow2"]


@dataclass(frozen=True, slots=True)
class Family:
    """One model family (§5): the ML policy it plays as, its MLflow registered model and the
    legacy bot that stands in when its models cannot answer."""

    name: FamilyName
    policy: str
    registered_model: str
    fallback_bot: str


FAMILIES: tuple[Family, ...] = (
    Family("feedforward", "brian", "rps_feedforward", "bob"),
    Family("xgboost", "forrest", "rps_xgboost", "cal"),
    Family("logistic", "logan", "rps_logistic", "dan"),
)
FAMILY_BY_POLICY = {family.policy: family for family in FAMILIES}
FAMILY_NAMES: tuple[FamilyName, ...] = tuple(family.name for family in FAMILIES)
ML_POLICIES = tuple(FAMILY_BY_POLICY)
POLICIES = ML_POLICIES + LEGACY_BOTS
ALIASES: tuple[Alias, ...] = get_args(Alias)  # in rank order: Production first
ACTING_ALIASES: tuple[Alias, ...] = ("Production", "B")
LEGACY_FAMILY, NO_ALIAS = "legacy", "none"


def family_name(value: object) -> FamilyName | None:
    """`value` as a catalogued family name, or None when it names no family."""
    return next((name for name in FAMILY_NAMES if name == value), None)


def draw_alias(secret: str, game_id: str) -> Alias:
    """Production or B, 50/50, fixed per game (SPEC §8.3)."""
    return "Production" if keyed_unit(secret, f"{game_id}:alias") < 0.5 else "B"


def expected_values(
    probabilities: Sequence[float], points: RoundPoints, bot_score: float, user_score: float
) -> dict[Move, float]:
    """EV of each bot move given P(user plays rock, paper, scissors) and the scores before it."""
    p = dict(zip(MOVES, probabilities, strict=True))
    values = {}
    for move in MOVES:
        win_bonus = _FINISHING_BONUS if reaches_target(bot_score + points[move]) else 0.0
        threat = beater(move)
        lose_bonus = _FINISHING_BONUS if reaches_target(user_score + points[threat]) else 0.0
        values[move] = (
            p[prey(move)] * (points[move] + win_bonus)
            - p[threat] * (points[threat] + lose_bonus)
            + p[move] * _DRAW_WEIGHT * (bot_score - user_score) / 10
        )
    return values


def ev_move(
    probabilities: Sequence[float],
    points: RoundPoints,
    bot_score: float,
    user_score: float,
    easy_draw: float | None = None,
) -> Move:
    """Normal play takes the best EV; easy play (`easy_draw` in [0, 1)) mostly takes the worst."""
    values = expected_values(probabilities, points, bot_score, user_score)
    best, middle, worst = sorted(MOVES, key=lambda m: (-values[m], MOVES.index(m)))
    if easy_draw is None:
        return best
    if easy_draw < _EASY_WORST:
        return worst
    return middle if easy_draw < _EASY_MIDDLE else best


def unexploitable_move(points: RoundPoints, draw: float) -> Move:
    """A draw in [0, 1) from the round's equilibrium mixed strategy: each move with probability
    proportional to the value of the move it beats. Against it every player move has the same
    expected net score, so a player who reads the bot gains nothing."""
    weights = [points[prey(move)] for move in MOVES]
    target, total = draw * sum(weights), 0.0
    for move, weight in zip(MOVES, weights, strict=True):
        total += weight
        if target < total:
            return move
    return MOVES[-1]
