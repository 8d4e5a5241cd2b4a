"""Reference bots for the arena: what a model must beat. Each plays the game's gambit in
rounds 1-3 like every policy, then its own rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import pairwise

from rpsquest.arena.selfplay import Bot
from rpsquest.game.adaptive import Probabilities
from rpsquest.game.bots import Decision, Situation
from rpsquest.game.gambits import GAMBIT_ROUNDS, keyed_int
from rpsquest.game.policies import ev_move
from rpsquest.game.rules import MOVES, Move

_UNIFORM: Probabilities = (1 / 3, 1 / 3, 1 / 3)


def markov1_probabilities(situation: Situation) -> Probabilities:
    """P(the user's next move | their last move) from this game's transitions, each count
    Laplace-smoothed (+1)."""
    moves = [played.user_move for played in situation.history]
    if not moves:
        return _UNIFORM
    followers = Counter(after for before, after in pairwise(moves) if before == moves[-1])
    total = sum(followers.values()) + len(MOVES)
    rock, paper, scissors = ((followers[move] + 1) / total for move in MOVES)
    return rock, paper, scissors


def _expected_value(situation: Situation, probabilities: Probabilities) -> Move:
    """SPEC §5.1's choice, as the ML policies make it, on this prediction of the user's move."""
    bot_score, user_score = situation.scores
    return ev_move(probabilities, situation.points, bot_score, user_score)


def _uniform(situation: Situation, secret: str) -> Move:
    """A keyed random move, drawn like the game's other keyed randomness."""
    return MOVES[keyed_int(secret, f"{situation.game_id}:{situation.round_no}:uniform") % 3]


def _ev_uniform(situation: Situation, secret: str) -> Move:
    return _expected_value(situation, _UNIFORM)


def _ev_markov1(situation: Situation, secret: str) -> Move:
    return _expected_value(situation, markov1_probabilities(situation))


_RULES: dict[str, Callable[[Situation, str], Move]] = {
    "uniform": _uniform,
    "ev-uniform": _ev_uniform,
    "ev-markov1": _ev_markov1,
}
BASELINES = tuple(_RULES)


def baseline_bot(name: str, secret: str) -> Bot:
    """The baseline `name` as a bot: the gambit first, then its rule."""
    rule = _RULES[name]

    def bot(situation: Situation) -> Decision:
        if situation.round_no <= GAMBIT_ROUNDS:
            return Decision(situation.opening[situation.round_no - 1], "gambit")
        return Decision(rule(situation, secret), "baseline")

    return bot
