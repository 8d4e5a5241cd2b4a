"""The feature contract `rps50-v3`, shared by training and serving (SPEC §6, docs/features.md).

Indices 0-49 are `rps50-v2` unchanged, so easy_mode stays 49 and a vector stored before v3 is a
prefix of today's. Indices 50-115 see the moves through their point values: a habit such as
"always the round's cheapest move" (tier L) is invisible in move one-hots, because the values
rotate every round. H, M, L are value ranks (H beats M, M beats L, L beats H), in each round's own
values. A share is count / max(1, n), so zeros without history. A step says how the user's next
choice relates to their last: for tiers repeat, up (the tier that beats it: L->M->H->L) or down;
for moves repeat, beater(last) or prey(last).

| idx | name | definition |
|---|---|---|
| 0-8 | user_lag{1,2,3}_{rock,paper,scissors} | one-hot user move 1, 2, 3 rounds ago |
| 9-17 | bot_lag{1,2,3}_{...} | the same for the bot |
| 18-26 | res_lag{1,2,3}_{win,lose,draw} | one-hot result, user side |
| 27-29 | {rock,paper,scissors}_pts | this round's values |
| 30-38 | pts_lag{1,2,3}_{...} | values k rounds ago (this round's with fewer than k rounds) |
| 39-41 | user_tend_{rock,paper,scissors} | share of rounds with that user move |
| 42-44 | tend_favored, tend_fav_beater, tend_fav_prey | share where the user played H, L, M |
| 45-47 | score_diff, user_pts_to_win, bot_pts_to_win | after the previous round |
| 48, 49 | round_no, easy_mode | the round predicted; 1.0 in easy games |
| 50-64 | user_tier_lag{1,...,5}_{H,M,L} | one-hot tier of the user's move 1-5 rounds ago |
| 65-73 | bot_tier_lag{1,2,3}_{H,M,L} | the same for the bot, 1-3 rounds ago |
| 74-82 | {rock,paper,scissors}_is_{H,M,L} | this round's tier of each move, one-hot |
| 83-85 | user_tier_last5_{H,M,L} | share of the last <= 5 rounds with that user tier |
| 86-94 | after_{win,lose,draw}_tier_{H,M,L} | share of that tier in rounds after that result |
| 95-97 | user_tier_{repeat,up,down} | share of round pairs whose user tier made that step |
| 98-100 | user_move_{repeat,beater,prey} | share of round pairs whose user move made that step |
| 101-103 | {rock,paper,scissors}_tier_tend | 42-44's share of the tier the move holds this round |
| 104-106 | {rock,paper,scissors}_tier_last5 | 83-85's share of the tier the move holds this round |
| 107-109 | {rock,paper,scissors}_after_result | after_{last result}_tier_{the move's tier now} |
| 110-112 | {rock,paper,scissors}_tier_step | 95-97's share of the step from the last tier to it |
| 113-115 | {rock,paper,scissors}_move_step | 98-100's share of the step from the last move to it |

101-115 restate the user's tendencies per move of this round. A linear model can follow a tier
habit through them; from the shares and the tier map apart it could not (that takes a product).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

from rpsquest.game.rules import (
    MOVES,
    TARGET_SCORE,
    TIERS,
    Move,
    PlayedRound,
    Result,
    RoundPoints,
    Tier,
    beater,
    prey,
)

_T = TypeVar("_T")

_LAGS = (1, 2, 3)
_USER_TIER_LAGS = (1, 2, 3, 4, 5)
_RECENT_ROUNDS = 5
_RESULTS: tuple[Result, ...] = ("win", "lose", "draw")
_TIER_STEPS = ("repeat", "up", "down")
_MOVE_STEPS = ("repeat", "beater", "prey")
_TIER_UP: dict[Tier, Tier] = {"L": "M", "M": "H", "H": "L"}  # the tier that beats each

_V2_NAMES: tuple[str, ...] = (
    *(f"user_lag{k}_{m}" for k in _LAGS for m in MOVES),
    *(f"bot_lag{k}_{m}" for k in _LAGS for m in MOVES),
    *(f"res_lag{k}_{r}" for k in _LAGS for r in _RESULTS),
    *(f"{m}_pts" for m in MOVES),
    *(f"pts_lag{k}_{m}" for k in _LAGS for m in MOVES),
    *(f"user_tend_{m}" for m in MOVES),
    "tend_favored",
    "tend_fav_beater",
    "tend_fav_prey",
    "score_diff",
    "user_pts_to_win",
    "bot_pts_to_win",
    "round_no",
    "easy_mode",
)
_TIER_NAMES: tuple[str, ...] = (
    *(f"user_tier_lag{k}_{t}" for k in _USER_TIER_LAGS for t in TIERS),
    *(f"bot_tier_lag{k}_{t}" for k in _LAGS for t in TIERS),
    *(f"{m}_is_{t}" for m in MOVES for t in TIERS),
    *(f"user_tier_last{_RECENT_ROUNDS}_{t}" for t in TIERS),
    *(f"after_{r}_tier_{t}" for r in _RESULTS for t in TIERS),
    *(f"user_tier_{s}" for s in _TIER_STEPS),
    *(f"user_move_{s}" for s in _MOVE_STEPS),
)
_PER_MOVE_HABITS = (
    "tier_tend",
    f"tier_last{_RECENT_ROUNDS}",
    "after_result",
    "tier_step",
    "move_step",
)
_PER_MOVE_NAMES: tuple[str, ...] = tuple(f"{m}_{h}" for h in _PER_MOVE_HABITS for m in MOVES)

FEATURE_NAMES: tuple[str, ...] = _V2_NAMES + _TIER_NAMES + _PER_MOVE_NAMES
N_FEATURES = len(FEATURE_NAMES)
# How long an `rps50-v2` vector is: the prefix every later contract keeps.
N_V2_FEATURES = len(_V2_NAMES)
# Round 4 of the worked-example game: train records each model's output on it, and serving
# checks a loaded model against that record (tests/unit/test_features.py derives it by hand).
PROBE_VECTOR: tuple[float, ...] = (
    0, 0, 1, 0, 1, 0, 1, 0, 0,
    0, 0, 1, 0, 0, 1, 0, 0, 1,
    0, 0, 1, 0, 1, 0, 1, 0, 0,
    1.5, 2.0, 1.0, 1.5, 2.0, 1.0, 1.8, 1.0, 1.3, 1.4, 1.9, 1.0,
    1 / 3, 1 / 3, 1 / 3, 0, 2 / 3, 1 / 3, 0.1, 8.1, 8.2, 4, 0,
    0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 1, 0, 1, 0, 0, 0, 1,
    0, 1, 0, 1, 0, 0, 0, 0, 1,
    0, 1 / 3, 2 / 3,
    0, 0, 1, 0, 0, 1, 0, 0, 0,
    1 / 2, 0, 1 / 2,
    0, 1, 0,
    1 / 3, 0, 2 / 3, 1 / 3, 0, 2 / 3, 0, 0, 0, 0, 1 / 2, 1 / 2, 1, 0, 0,
)  # fmt: skip


def _one_hot(value: _T | None, options: Sequence[_T]) -> list[float]:
    return [1.0 if value == option else 0.0 for option in options]


def _lagged(values: Sequence[_T], lags: Iterable[int], options: Sequence[_T]) -> list[float]:
    """One-hots of the value k steps back for each lag k; zeros where the history is shorter."""
    vector: list[float] = []
    for k in lags:
        vector += _one_hot(values[-k] if len(values) >= k else None, options)
    return vector


def _shares(values: Sequence[_T], options: Sequence[_T]) -> list[float]:
    return [values.count(option) / max(1, len(values)) for option in options]


def _tier_step(last: Tier, tier: Tier) -> int:
    """The index in _TIER_STEPS of the step from `last` to `tier`."""
    return 0 if tier == last else 1 if tier == _TIER_UP[last] else 2


def _move_step(last: Move, move: Move) -> int:
    """The index in _MOVE_STEPS of the step from `last` to `move`."""
    return 0 if move == last else 1 if move == beater(last) else 2


def _v2_features(
    history: Sequence[PlayedRound], points: RoundPoints, round_no: int, easy: bool
) -> list[float]:
    """Indices 0-49: lagged moves, results and values, move tendencies, scores, round, mode."""
    vector = _lagged([r.user_move for r in history], _LAGS, MOVES)
    vector += _lagged([r.bot_move for r in history], _LAGS, MOVES)
    vector += _lagged([r.result for r in history], _LAGS, _RESULTS)
    vector += [points[m] for m in MOVES]
    for k in _LAGS:
        then = history[-k].points if len(history) >= k else points
        vector += [then[m] for m in MOVES]
    vector += _shares([r.user_move for r in history], MOVES)
    n = max(1, len(history))
    vector += [
        sum(r.user_move == pick(r.points.high) for r in history) / n
        for pick in (lambda h: h, beater, prey)
    ]
    user_score, bot_score = (history[-1].user_score, history[-1].bot_score) if history else (0, 0)
    vector += [
        user_score - bot_score,
        max(0.0, TARGET_SCORE - user_score),
        max(0.0, TARGET_SCORE - bot_score),
        float(round_no),
        1.0 if easy else 0.0,
    ]
    return vector


@dataclass(frozen=True, slots=True)
class _Habits:
    """How the user has played so far, in tiers and steps: indices 83-100, before 101-115 map
    them onto this round's moves."""

    tiers: list[Tier]  # the user's tier in each history round, in that round's values
    last: PlayedRound | None
    whole: list[float]  # share of H, M, L over the game (42-44, in another order)
    recent: list[float]
    after: dict[Result, list[float]]
    tier_steps: list[float]
    move_steps: list[float]

    @classmethod
    def of(cls, history: Sequence[PlayedRound]) -> _Habits:
        tiers = [r.points.tier_of(r.user_move) for r in history]
        moves = [r.user_move for r in history]
        followed = list(zip(history, tiers[1:], strict=False))  # a round, and the next one's tier
        return cls(
            tiers=tiers,
            last=history[-1] if history else None,
            whole=_shares(tiers, TIERS),
            recent=_shares(tiers[-_RECENT_ROUNDS:], TIERS),
            after={
                result: _shares([tier for r, tier in followed if r.result == result], TIERS)
                for result in _RESULTS
            },
            tier_steps=_shares([_tier_step(a, b) for a, b in pairwise(tiers)], (0, 1, 2)),
            move_steps=_shares([_move_step(a, b) for a, b in pairwise(moves)], (0, 1, 2)),
        )

    def features(self) -> list[float]:
        """Indices 83-100."""
        vector = list(self.recent)
        for result in _RESULTS:
            vector += self.after[result]
        return vector + self.tier_steps + self.move_steps

    def per_move(self, points: RoundPoints) -> list[float]:
        """Indices 101-115: each tendency read off at the tier (or step) each move means now."""
        if self.last is None:
            return [0.0] * len(_PER_MOVE_NAMES)
        now = [points.tier_of(m) for m in MOVES]
        after = self.after[self.last.result]
        return [
            *(self.whole[TIERS.index(t)] for t in now),
            *(self.recent[TIERS.index(t)] for t in now),
            *(after[TIERS.index(t)] for t in now),
            *(self.tier_steps[_tier_step(self.tiers[-1], t)] for t in now),
            *(self.move_steps[_move_step(self.last.user_move, m)] for m in MOVES),
        ]


def _tier_features(history: Sequence[PlayedRound], points: RoundPoints) -> list[float]:
    """Indices 50-115: everything value-relative."""
    habits = _Habits.of(history)
    vector = _lagged(habits.tiers, _USER_TIER_LAGS, TIERS)
    vector += _lagged([r.points.tier_of(r.bot_move) for r in history], _LAGS, TIERS)
    for move in MOVES:
        vector += _one_hot(points.tier_of(move), TIERS)
    return vector + habits.features() + habits.per_move(points)


def round_features(
    history: Sequence[PlayedRound], points: RoundPoints, round_no: int, easy: bool
) -> list[float]:
    """Features for predicting the user's move in `round_no`; history is rounds before it."""
    vector = _v2_features(history, points, round_no, easy) + _tier_features(history, points)
    return [float(x) for x in vector]
