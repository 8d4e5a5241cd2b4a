"""The 50-feature contract `rps50-v2`, shared by training and serving (SPEC §6)."""

from __future__ import annotations

from collections.abc import Sequence

from rpsquest.game.rules import MOVES, TARGET_SCORE, PlayedRound, RoundPoints, beater, prey

_LAGS = (1, 2, 3)
_RESULTS = ("win", "lose", "draw")

FEATURE_NAMES: tuple[str, ...] = (
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
N_FEATURES = len(FEATURE_NAMES)
# Round 4 of the worked-example game: train records each model's output on it, and serving
# checks a loaded model against that record.
PROBE_VECTOR: tuple[float, ...] = (
    0, 0, 1, 0, 1, 0, 1, 0, 0,
    0, 0, 1, 0, 0, 1, 0, 0, 1,
    0, 0, 1, 0, 1, 0, 1, 0, 0,
    1.5, 2.0, 1.0, 1.5, 2.0, 1.0, 1.8, 1.0, 1.3, 1.4, 1.9, 1.0,
    1 / 3, 1 / 3, 1 / 3, 0, 2 / 3, 1 / 3, 0.1, 8.1, 8.2, 4, 0,
)  # fmt: skip


def _one_hot(value: str | None, options: Sequence[str]) -> list[float]:
    return [1.0 if value == option else 0.0 for option in options]


def round_features(
    history: Sequence[PlayedRound], points: RoundPoints, round_no: int, easy: bool
) -> list[float]:
    """Features for predicting the user's move in `round_no`; history is rounds before it."""
    lagged = [history[-k] if len(history) >= k else None for k in _LAGS]
    vector: list[float] = []
    for r in lagged:
        vector += _one_hot(r.user_move if r else None, MOVES)
    for r in lagged:
        vector += _one_hot(r.bot_move if r else None, MOVES)
    for r in lagged:
        vector += _one_hot(r.result if r else None, _RESULTS)
    vector += [points[m] for m in MOVES]
    for r in lagged:
        vector += [(r.points if r else points)[m] for m in MOVES]

    n = max(1, len(history))
    vector += [sum(r.user_move == m for r in history) / n for m in MOVES]
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
    return [float(x) for x in vector]
