"""The opponent zoo: simulated player types from the RPS literature, drawn afresh per session.

Each type turns a parameter draw into a strategy. A session's player is built by
zoo_player(type, seed): the seed fixes its parameters and the randomness of its moves, and the
player remembers everything it saw across the session's games, as a returning player does.
Sources: Brockbank & Vul (2021, 2024) for the human regularities, Iocaine Powder and the Kaggle
RPS 2020 write-ups for the learners.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from rpsquest.arena.human import HUMAN_STEP_COUNTS
from rpsquest.arena.predictors import Frequency, Markov
from rpsquest.arena.strategies import (
    DOWN,
    STAY,
    STEPS,
    UP,
    Iocaine,
    MoveMix,
    Noisy,
    Pattern,
    Respond,
    Strategy,
    Switcher,
    TierMix,
    Transitions,
    certain_steps,
    step,
)
from rpsquest.game.rules import MOVES, Move, PlayedRound, Result, RoundPoints

Builder = Callable[[random.Random], Strategy]


def _dirichlet(params: random.Random, alphas: Sequence[float]) -> tuple[float, ...]:
    draws = [params.gammavariate(alpha, 1.0) for alpha in alphas]
    return tuple(draw / sum(draws) for draw in draws)


def _noisy(plan: Strategy, params: random.Random, most: float) -> Strategy:
    return Noisy(plan, params.uniform(0.0, most))


def _constant(params: random.Random) -> Strategy:
    """Always the same move."""
    return Pattern((params.choice(MOVES),))


def _cycle(params: random.Random) -> Strategy:
    """Steps through the moves in order (+1) or against it (+2), with up to 10 % noise."""
    start, direction = params.choice(MOVES), params.choice((UP, DOWN))
    return _noisy(Pattern(tuple(step(start, direction * k) for k in range(3))), params, 0.1)


def _pattern(params: random.Random) -> Strategy:
    """Repeats a fixed sequence of 2-8 moves, with up to 20 % noise."""
    moves = tuple(params.choice(MOVES) for _ in range(params.randint(2, 8)))
    return _noisy(Pattern(moves), params, 0.2)


def _biased(params: random.Random) -> Strategy:
    """Independent moves from a lopsided distribution (uniform over the simplex)."""
    return MoveMix(_dirichlet(params, (1.0, 1.0, 1.0)))


def _freq_counter(params: random.Random) -> Strategy:
    """Beats the bot's most frequent move of the last 5, 10, 20 or all rounds; up to 10 % noise."""
    window = params.choice((5, 10, 20, None))
    return _noisy(Respond(Frequency(window), UP), params, 0.1)


def _beat_last(params: random.Random) -> Strategy:
    """Beats the bot's last move, with up to 10 % noise."""
    return _noisy(Respond(Frequency(window=1), UP), params, 0.1)


def _copy_last(params: random.Random) -> Strategy:
    """Plays the bot's last move, with up to 10 % noise."""
    return _noisy(Respond(Frequency(window=1), STAY), params, 0.1)


def _wsls(params: random.Random) -> Strategy:
    """Win-stay/lose-shift and kin: a fixed step from its own last move per last result."""
    after: dict[Result, int] = {
        "win": params.choice((STAY, STAY, UP, DOWN)),
        "lose": params.choice((UP, DOWN)),
        "draw": params.choice(STEPS),
    }
    return _noisy(Transitions(certain_steps(after)), params, 0.1)


def _markov2_bot(params: random.Random) -> Strategy:
    """Learns the bot's next move after each pair of its moves and beats it; up to 10 % noise."""
    return _noisy(Respond(Markov(order=2), UP), params, 0.1)


def _iocaine(params: random.Random) -> Strategy:
    """Iocaine Powder: history matching and frequency, direct and mirrored, in 3 rotations."""
    iocaine = Iocaine(longest=params.randint(3, 6), decay=params.uniform(0.7, 0.95))
    return _noisy(iocaine, params, 0.05)


def _human_like(params: random.Random) -> Strategy:
    """Steps from its own last move as the human corpus does, by the last result and step."""
    concentration = params.uniform(10.0, 50.0)  # how closely this player follows the corpus
    table = {
        context: _dirichlet(params, [concentration * c / sum(counts) for c in counts])
        for context, counts in HUMAN_STEP_COUNTS.items()
    }
    return Transitions(table)


def _greedy_high(params: random.Random) -> Strategy:
    """Plays the round's highest value with probability 0.5-0.9, else another move."""
    p = params.uniform(0.5, 0.9)
    return TierMix((p, (1 - p) / 2, (1 - p) / 2))


def _safe_low(params: random.Random) -> Strategy:
    """Plays the round's lowest value with probability 0.6-1, else another move."""
    p = params.uniform(0.6, 1.0)
    return TierMix(((1 - p) / 2, (1 - p) / 2, p))


def _tier_mix(params: random.Random) -> Strategy:
    """A fixed mixture over the value tiers H, M, L (uniform over the simplex)."""
    return TierMix(_dirichlet(params, (1.0, 1.0, 1.0)))


_PLANS: tuple[Builder, ...] = (
    _constant,
    _cycle,
    _pattern,
    _beat_last,
    _freq_counter,
    _wsls,
    _greedy_high,
)


def _switcher(params: random.Random) -> Strategy:
    """Moves on to the next of three plans after 2-5 rounds lost with the current one."""
    plans = tuple(plan(params) for plan in params.sample(_PLANS, 3))
    return Switcher(plans, patience=params.randint(2, 5))


def _random(params: random.Random) -> Strategy:
    """Uniformly random moves."""
    return MoveMix((1.0, 1.0, 1.0))


ZOO: dict[str, Builder] = {
    "constant": _constant,
    "cycle": _cycle,
    "pattern": _pattern,
    "biased": _biased,
    "freq-counter": _freq_counter,
    "beat-last": _beat_last,
    "copy-last": _copy_last,
    "wsls": _wsls,
    "markov2-bot": _markov2_bot,
    "iocaine": _iocaine,
    "human-like": _human_like,
    "greedy-high": _greedy_high,
    "safe-low": _safe_low,
    "tier-mix": _tier_mix,
    "switcher": _switcher,
    "random": _random,
}
ZOO_TYPES = tuple(ZOO)


def describe(kind: str) -> str:
    """The type's one-line description: its builder's docstring."""
    return (ZOO[kind].__doc__ or kind).strip()


class ZooPlayer:
    """A strategy as a simulated player: it sees each round once, the last one of a game when
    the game ends, and plays a random move where the strategy has no opinion."""

    def __init__(self, strategy: Strategy, rng: random.Random) -> None:
        self.strategy = strategy
        self.rng = rng

    def move(self, game_id: str, history: Sequence[PlayedRound], points: RoundPoints) -> Move:
        if history:
            self.strategy.observe(history[-1])
        chosen = self.strategy.choose(points, self.rng)
        return self.rng.choice(MOVES) if chosen is None else chosen

    def game_over(self, history: Sequence[PlayedRound]) -> None:
        self.strategy.observe(history[-1])


def zoo_player(kind: str, seed: int) -> ZooPlayer:
    """Session `seed`'s player of type `kind`: one rng draws its parameters, another its moves."""
    strategy = ZOO[kind](random.Random(f"{kind}:{seed}:parameters"))
    return ZooPlayer(strategy, random.Random(f"{kind}:{seed}:moves"))
