"""The human-like zoo player's table: how the Brockbank & Vul (2024) players stepped from their
own last move, by the last result and the step that led to it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import get_args

from rpsquest.arena.strategies import DOWN, STAY, STEPS, UP, steps_between
from rpsquest.game.rules import PlayedRound, Result

RESULTS: tuple[Result, ...] = get_args(Result)
StepCounts = dict[tuple[Result, int], tuple[int, int, int]]

# fit_step_counts over the human corpus's pseudo-games (training.corpus.human_corpus(), 101,550
# steps); a unit test refits it. Each row counts the next step (stay, up, down) by the last
# result and last step. These players mostly repeat the step they just took, the more so after a
# win: stay after stay-and-win 55 %, up after up-and-win 68 %, down after down-and-win 61 %;
# after a loss 38 %, 47 % and 49 %; after a draw 53 %, 46 % and 46 %. Half the sessions faced a
# bot with a fixed pattern, which repeating a step that wins exploits.
HUMAN_STEP_COUNTS: StepCounts = {
    ("win", STAY): (5401, 2355, 1975),
    ("win", UP): (2788, 12274, 2999),
    ("win", DOWN): (2960, 3641, 10242),
    ("lose", STAY): (3444, 2514, 3216),
    ("lose", UP): (1923, 4380, 3035),
    ("lose", DOWN): (1942, 3285, 5023),
    ("draw", STAY): (4723, 2173, 1954),
    ("draw", UP): (2380, 4895, 3495),
    ("draw", DOWN): (2043, 2596, 3894),
}


def fit_step_counts(games: Iterable[Sequence[PlayedRound]]) -> StepCounts:
    """Count each game's steps of the user's move by the previous round's result and step."""
    counts = {(result, last): [0, 0, 0] for result in RESULTS for last in STEPS}
    for rounds in games:
        for before, last, now in zip(rounds, rounds[1:], rounds[2:], strict=False):
            last_step = steps_between(before.user_move, last.user_move)
            counts[last.result, last_step][steps_between(last.user_move, now.user_move)] += 1
    return {key: (row[STAY], row[UP], row[DOWN]) for key, row in counts.items()}
