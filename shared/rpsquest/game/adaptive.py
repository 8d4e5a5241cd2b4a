"""The adaptive ML policy: the acting model among online experts, scored by a meta-layer.

Every round the bot asks a pool of experts what the player will play next:
- the acting alias's model, the central expert;
- online predictors of the player's own sequence, the bot's sequence and both together
  (frequency, Markov chains, history matching, outcome -> transition), each in move space, in
  value-tier space (H/M/L of that round's points: values rotate every round, so a player who
  chases or avoids values is invisible in move space) and in shift space (stay, up, down);
- each predictor's *mirror*: the same rule run on the bot's own history, assuming the player
  reads the bot that way and plays to beat it;
- each expert's two *rotations*: the player may be one or two steps ahead of it (Iocaine
  Powder's "Sicilian reasoning").

A meta-layer scores every expert online with decay, and the experts' mixture, each weighted by
how much better its forecasts did than uniform's, is the belief the bot plays against; SPEC
§5.1's EV chooses the move with this round's point values and the race to 10. Against a player
nothing predicts, the mixture stays near uniform and the EV plays for value, the best there is
against them. When the player keeps winning the rounds the bot is being read, and it mixes in
the round's unexploitable mixed strategy (game/policies.py), drawn with keyed randomness so that
a game replays exactly. docs/policy.md has the whole design and its figures.

The state is a pure function of the rounds before the decision (the session's earlier games,
then this game's), so an instance rebuilding it decides exactly as one that kept it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import NamedTuple

from rpsquest.game.gambits import GAMBIT_ROUNDS
from rpsquest.game.rules import MOVES, PlayedRound, RoundPoints

Probabilities = tuple[float, float, float]
UNIFORM: Probabilities = (1 / 3, 1 / 3, 1 / 3)

MEMORY_GAMES = 10  # the session's earlier games the bot remembers
TABLE_DECAY = 0.85  # how fast a context's counts forget
SCORE_DECAY = 0.98  # how fast an expert's hit rate and evidence forget
SCORE_PRIOR = 8.0  # pseudo-rounds at chance that an expert's hit rate starts from
EVIDENCE_WEIGHT = 1.5  # how sharply the mixture follows the experts' evidence (1: Bayes)
READ_DECAY = 0.93
READ_FLOOR = 0.5  # a player winning a larger share of rounds than this is reading the bot
READ_SPAN = 0.2
READ_PRIOR = 6.0
MAX_MIX = 0.85
MATCH_ORDERS = 5

# A step is one past round as integers: the player's move, the bot's move, their value tiers
# (0 H, 1 M, 2 L, by that round's points), the player's result (0 win, 1 lose, 2 draw), and
# each side's shift from its own previous move (0 stay, 1 up, 2 down; 0 in a first round).
# Move i beats move (i + 2) % 3; a player who expects the bot's move b plays (b + 1) % 3.
Step = tuple[int, int, int, int, int, int, int]
_USER, _BOT, _USER_TIER, _BOT_TIER, _RESULT, _USER_SHIFT, _BOT_SHIFT = range(7)
SPACES = ("move", "tier", "shift")
_RESULTS = ("win", "lose", "draw")


TierMoves = tuple[int, int, int]  # the moves holding H, M and L in one round


def tier_moves(points: RoundPoints) -> TierMoves:
    values = (points.rock, points.paper, points.scissors)
    low = min(range(3), key=values.__getitem__)
    return ((low + 2) % 3, (low + 1) % 3, low)  # H is what L beats, M what beats L


def step_of(played: PlayedRound, previous: Step | None) -> Step:
    tiers = tier_moves(played.points)
    user, bot = MOVES.index(played.user_move), MOVES.index(played.bot_move)
    user_shift = (user - previous[_USER]) % 3 if previous else 0
    bot_shift = (bot - previous[_BOT]) % 3 if previous else 0
    result = _RESULTS.index(played.result)
    return (user, bot, tiers.index(user), tiers.index(bot), result, user_shift, bot_shift)


class Channel(NamedTuple):
    """Whose symbol a rule predicts (the player's, or the bot's for a mirror), in which space,
    and the step fields that are "own" and "other" for that side."""

    mirror: bool
    space: int  # an index into SPACES
    own: int
    other: int

    def player_move(self, symbol: int, tiers: TierMoves, last: Step | None) -> int | None:
        """The player's move a predicted symbol stands for this round."""
        if self.space == 0:
            move = symbol
        elif self.space == 1:
            move = tiers[symbol]
        elif last is None:
            return None
        else:
            move = (last[_BOT if self.mirror else _USER] + symbol) % 3
        return (move + 1) % 3 if self.mirror else move


_FIELDS = ((_USER, _BOT), (_USER_TIER, _BOT_TIER), (_USER_SHIFT, _BOT_SHIFT))


def _channel(mirror: bool, space: int) -> Channel:
    player, bot = _FIELDS[space]
    return Channel(mirror, space, *((bot, player) if mirror else (player, bot)))


CHANNELS = tuple(_channel(mirror, space) for mirror in (False, True) for space in range(3))
# History matching runs in move and tier space: shifts carry no more than moves there.
MATCHED = tuple(c for c in CHANNELS if c.space < 2)


# Each table predicts the channel's next own symbol from decayed counts per context.
Counts = tuple[float, float, float]
Context = Callable[[Step | None, Step | None, int, int], tuple[int, ...] | None]
CONTEXTS: dict[str, Context] = {
    "frequency": lambda s1, s2, o, x: (),
    "own1": lambda s1, s2, o, x: (s1[o],) if s1 else None,
    "own2": lambda s1, s2, o, x: (s2[o], s1[o]) if s1 and s2 else None,
    "other1": lambda s1, s2, o, x: (s1[x],) if s1 else None,
    "joint1": lambda s1, s2, o, x: (s1[o], s1[x]) if s1 else None,
    "joint2": lambda s1, s2, o, x: (s2[o], s2[x], s1[o], s1[x]) if s1 and s2 else None,
    "outcome": lambda s1, s2, o, x: (s1[_RESULT], s1[o]) if s1 else None,
}

TABLES = tuple((channel, context) for channel in CHANNELS for context in CONTEXTS.values())
_NO_COUNTS: Counts = (0.0, 0.0, 0.0)


def _argmax(values: Sequence[float]) -> int:
    """The index of the largest value; ties go to the canonical order."""
    best = 0
    for i in (1, 2):
        if values[i] > values[best]:
            best = i
    return best


class _Record:
    """A decayed hit rate, starting from `prior` pseudo-rounds at chance."""

    __slots__ = ("decay", "hits", "prior", "rate", "rounds")

    def __init__(self, decay: float, prior: float) -> None:
        self.decay, self.prior = decay, prior
        self.hits = self.rounds = 0.0
        self.rate = 1 / 3

    def add(self, hit: bool) -> None:
        self.hits = self.hits * self.decay + hit
        self.rounds = self.rounds * self.decay + 1.0
        self.rate = (self.hits + self.prior / 3) / (self.rounds + self.prior)


@dataclass(frozen=True, slots=True)
class Advice:
    """The meta-layer's belief about the player's move, and how much to mix in randomness."""

    probabilities: Probabilities
    mix: float


@dataclass(slots=True)
class _Pending:
    """What was asked before a round: every expert's prediction and the context keys, so that
    learning the round reuses them."""

    at: tuple[str, int]
    predictions: list[int | None]
    keys: list[tuple[int, ...] | None]
    match_keys: tuple[list[tuple[int, ...]], list[tuple[int, ...]]]
    belief: Probabilities


class AdaptiveState:
    """Experts and their records after some rounds: `advise` before a round, `learn` after."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        # Every table's decayed counts, by (table index, context). One flat dict of tuples,
        # not a dict of lists per table: play keeps thousands of states, and the garbage
        # collector's full passes over their objects stalled rounds by tens of milliseconds.
        self.counts: dict[tuple[int, tuple[int, ...]], Counts] = {}
        # History matching per space: the joint history's recent pairs (their length is the
        # order), by (space, pairs), map to the index of the step that followed their latest
        # occurrence. Both sides share it.
        self.seen: dict[tuple[int, tuple[int, ...]], int] = {}
        # Each expert's record, by index: 0-2 are the model's rotations, then three per table and
        # three per matched channel. Its decayed hit rate is how confident its forecast is; its
        # evidence, the decayed log-likelihood ratio of those forecasts against uniform's, is
        # its weight in the mixture. Plain lists: this is the hot loop of a round.
        experts = 3 * (1 + len(TABLES) + len(MATCHED))
        self.hits, self.rounds, self.rates = [0.0] * experts, [0.0] * experts, [1 / 3] * experts
        self.evidence = [0.0] * experts
        self.player_wins = _Record(READ_DECAY, READ_PRIOR)
        self.games: list[tuple[str, int]] = []  # (game id, rounds learnt), in order
        self._pending: _Pending | None = None

    def _match_keys(self, tiers: bool) -> list[tuple[int, ...]]:
        """The recent joint history by length (1 to MATCH_ORDERS rounds, as far as it goes)."""
        own, other = (_USER_TIER, _BOT_TIER) if tiers else (_USER, _BOT)
        recent = self.steps[-MATCH_ORDERS:]
        pairs = [x for s in recent for x in (s[own], s[other])]
        return [tuple(pairs[-2 * order :]) for order in range(1, len(recent) + 1)]

    def _ask(self, points: RoundPoints, model: Probabilities | None) -> _Pending:
        steps = self.steps
        tiers = tier_moves(points)
        s1 = steps[-1] if steps else None
        s2 = steps[-2] if len(steps) > 1 else None
        guesses: list[int | None] = [_argmax(model) if model else None]
        keys = []
        counts = self.counts
        for table, (channel, context) in enumerate(TABLES):
            key = context(s1, s2, channel.own, channel.other)
            keys.append(key)
            found = counts.get((table, key)) if key is not None else None
            guesses.append(channel.player_move(_argmax(found), tiers, s1) if found else None)
        match_keys = (self._match_keys(False), self._match_keys(True))
        matches = []
        seen = self.seen
        for space, keys_by_order in enumerate(match_keys):
            match = None
            for key in reversed(keys_by_order):  # the longest match first
                match = seen.get((space, key))
                if match is not None:
                    break
            matches.append(match)
        for channel in MATCHED:
            match = matches[channel.space]
            guesses.append(
                None if match is None else channel.player_move(steps[match][channel.own], tiers, s1)
            )
        predictions: list[int | None] = []
        for guess in guesses:
            predictions += (
                (None, None, None) if guess is None else (guess, (guess + 1) % 3, (guess + 2) % 3)
            )
        belief = self._mixture(predictions)
        return _Pending(self._next, predictions, keys, match_keys, belief)

    def _mixture(self, predictions: Sequence[int | None]) -> Probabilities:
        """The experts' mixture. Each expert forecasts "my move at my hit rate, the other two
        sharing the rest", weighted by exp(EVIDENCE_WEIGHT x its evidence); uniform joins as
        the expert whose evidence is zero by definition. An expert right more often than its
        forecast says gains evidence, and one confidently wrong loses it, whether it is
        mistaken or merely lucky so far (noise lifts the best of a hundred hit rates against a
        random player). So the belief leaves uniform as far as the experts have earned: far
        for a player who is read, little for a mildly biased one, not for a random one."""
        belief, total = list(UNIFORM), 1.0
        for rate, evidence, predicted in zip(self.rates, self.evidence, predictions, strict=True):
            if predicted is not None:
                weight = math.exp(EVIDENCE_WEIGHT * evidence)
                rest = weight * (1 - rate) / 2
                belief[0] += rest
                belief[1] += rest
                belief[2] += rest
                belief[predicted] += weight * rate - rest
                total += weight
        return (belief[0] / total, belief[1] / total, belief[2] / total)

    def advise(self, points: RoundPoints, model: Probabilities | None) -> Advice:
        """The belief to play against this round (`points`, the acting model's probabilities
        if it has any) and the share of randomness to mix in."""
        self._pending = pending = self._ask(points, model)
        read = self.player_wins.rate
        mix = min(MAX_MIX, max(0.0, (read - READ_FLOOR) / READ_SPAN) * MAX_MIX)
        return Advice(pending.belief, mix)

    def _learn(self, played: PlayedRound, model: Probabilities | None) -> None:
        """Score every expert on the round just played, then let the predictors learn it."""
        pending = self._pending
        if pending is None or pending.at != self._next:
            pending = self._ask(played.points, model)
        self._pending = None
        step = step_of(played, self.steps[-1] if self.steps else None)
        user = step[_USER]
        hits, rounds, rates, evidence = self.hits, self.rounds, self.rates, self.evidence
        prior, log = SCORE_PRIOR, math.log
        for index, predicted in enumerate(pending.predictions):
            if predicted is not None:
                hit = predicted == user
                rate = rates[index]  # the forecast was `predicted` at `rate`, the rest shared
                likelihood = 3 * rate if hit else 1.5 * (1 - rate)  # against uniform's 1/3
                evidence[index] = evidence[index] * SCORE_DECAY + log(likelihood)
                hits[index] = hits[index] * SCORE_DECAY + hit
                rounds[index] = rounds[index] * SCORE_DECAY + 1.0
                rates[index] = (hits[index] + prior / 3) / (rounds[index] + prior)
        if played.round_no > GAMBIT_ROUNDS:  # the scripted opening tells nothing of reading
            self.player_wins.add(step[_RESULT] == 0)
        counts = self.counts
        for table, ((channel, _), key) in enumerate(zip(TABLES, pending.keys, strict=True)):
            if key is not None:
                r, p, s = counts.get((table, key), _NO_COUNTS)
                symbol = step[channel.own]
                counts[table, key] = (
                    r * TABLE_DECAY + (symbol == 0),
                    p * TABLE_DECAY + (symbol == 1),
                    s * TABLE_DECAY + (symbol == 2),
                )
        index = len(self.steps)
        for space, keys_by_order in enumerate(pending.match_keys):
            for key in keys_by_order:
                self.seen[space, key] = index
        self.steps.append(step)
        game_id, learnt = self.games[-1]
        self.games[-1] = (game_id, learnt + 1)

    @property
    def _next(self) -> tuple[str, int]:
        """The round to be decided next: the current game and its rounds learnt so far."""
        return self.games[-1] if self.games else ("", 0)

    def _start_game(self, game_id: str) -> None:
        """The model expert's record is per game: its predictions exist only in one game."""
        self.hits[:3], self.rounds[:3], self.rates[:3] = [0.0] * 3, [0.0] * 3, [1 / 3] * 3
        self.evidence[:3] = [0.0] * 3
        self.games.append((game_id, 0))

    def follow(self, games: Sequence[SessionGame]) -> None:
        """Learn what this state has not seen of `games`, which continue what it learnt: all
        but the last game it learnt are `games`' first ones."""
        for game in games[max(0, len(self.games) - 1) :]:
            self.extend(game)

    def extend(self, game: SessionGame) -> None:
        """Learn the rounds of `game` not learnt yet; a new game follows the ones learnt."""
        if not self.games or self.games[-1][0] != game.game_id:
            self._start_game(game.game_id)
        for index in range(self.games[-1][1], len(game.rounds)):
            model = game.model_history[index] if index < len(game.model_history) else None
            self._learn(game.rounds[index], model)


@dataclass(frozen=True, slots=True)
class SessionGame:
    """A game's rounds with the acting model's prediction in each (None where it made none)."""

    game_id: str
    rounds: Sequence[PlayedRound]
    model_history: Sequence[Probabilities | None] = ()

    @property
    def progress(self) -> tuple[str, int]:
        return self.game_id, len(self.rounds)


def _follows(learnt: Sequence[tuple[str, int]], games: Sequence[tuple[str, int]]) -> bool:
    """A state that learnt `learnt` (game ids and rounds) reaches `games` by learning more."""
    if not learnt:
        return True
    if len(learnt) > len(games):
        return False
    *done, (game_id, rounds) = learnt
    next_id, next_rounds = games[len(done)]
    return list(games[: len(done)]) == done and next_id == game_id and next_rounds >= rounds


class AdaptiveMemory:
    """Each session's state between rounds, so that a round costs one step and not a replay of
    the session. A kept state is used only where it learnt a prefix of exactly what a rebuilt
    one would; otherwise the state is rebuilt from the rounds."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._states: OrderedDict[str, AdaptiveState] = OrderedDict()
        self._lock = Lock()

    def state(
        self, session_id: str, game: SessionGame, earlier: Callable[[], Sequence[SessionGame]]
    ) -> AdaptiveState:
        """The session's state, brought up to the rounds of `game` so far. `earlier` (the
        session's games before this one, as they stood when it began) is read only when the
        kept state is not already inside this game."""
        with self._lock:
            state = self._states.pop(session_id, None)
        if state is not None and _follows(state.games[-1:], [game.progress]):
            state.extend(game)
            return state
        remembered = [*list(earlier())[-MEMORY_GAMES:], game]
        if state is None or not _follows(state.games, [g.progress for g in remembered]):
            state = AdaptiveState()
        state.follow(remembered)
        return state

    def keep(self, session_id: str, state: AdaptiveState) -> None:
        with self._lock:
            self._states[session_id] = state
            while len(self._states) > self.capacity:
                self._states.popitem(last=False)
