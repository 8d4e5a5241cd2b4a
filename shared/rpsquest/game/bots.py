"""How the bot picks its move in one round: gambit, legacy bot, model + EV, or fallback."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rpsquest.game.adaptive import AdaptiveMemory, Probabilities, SessionGame
from rpsquest.game.gambits import GAMBIT_ROUNDS, keyed_int, keyed_unit
from rpsquest.game.legacy import legacy_move, seen_by_bot
from rpsquest.game.policies import FAMILY_BY_POLICY, LEGACY_FAMILY, ev_move, unexploitable_move
from rpsquest.game.rules import MOVES, Move, PlayedRound, RoundPoints

_SUM_TOLERANCE = 1e-3


class ModelUnavailable(Exception):
    """No usable prediction; `reason` is one of metrics.FALLBACK_REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AliasPrediction:
    alias: str
    version: int
    assignment_id: int | None
    probabilities: Probabilities

    @property
    def predicted(self) -> Move:
        """The most likely user move; ties go to the canonical order."""
        return MOVES[max(range(3), key=self.probabilities.__getitem__)]


Answer = AliasPrediction | ModelUnavailable


class ModelBank(Protocol):
    """What serving offers the game: the four aliases' predictions for one feature vector."""

    def predict(self, family: str, features: Sequence[float]) -> Mapping[str, Answer]:
        """Each alias's prediction, or its failure; raises ModelUnavailable if none can answer."""
        ...

    def assignment_id(self, family: str, alias: str) -> int | None: ...


class NoModels:
    """The model bank before any model exists: every ML round falls back."""

    def predict(self, family: str, features: Sequence[float]) -> Mapping[str, Answer]:
        raise ModelUnavailable("not_loaded")

    def assignment_id(self, family: str, alias: str) -> int | None:
        return None


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything the bot may know before round `round_no`: nothing of the user's move."""

    game_id: str
    policy: str
    family: str
    alias: str | None
    easy: bool
    opening: Sequence[Move]
    history: Sequence[PlayedRound]
    points: RoundPoints
    round_no: int
    features: Sequence[float]
    # What the adaptive policy learns from besides `history`: the acting alias's prediction in
    # each of its rounds (None where it made none), and the session's earlier games as they
    # stood when this game began, oldest first, read only when the policy needs them.
    model_history: Sequence[Probabilities | None] = ()
    session_id: str = ""
    earlier: Callable[[], Sequence[SessionGame]] = tuple

    @property
    def scores(self) -> tuple[float, float]:
        """(bot, user) before this round."""
        last = self.history[-1] if self.history else None
        return (last.bot_score, last.user_score) if last else (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Decision:
    move: Move
    phase: str
    acting: AliasPrediction | None = None
    predictions: Sequence[AliasPrediction] = field(default_factory=tuple)
    fallback_reason: str | None = None


def _valid(probabilities: Sequence[float]) -> bool:
    return (
        len(probabilities) == 3
        and all(math.isfinite(p) and p >= 0 for p in probabilities)
        and abs(sum(probabilities) - 1) <= _SUM_TOLERANCE
    )


def _legacy(bot: str, situation: Situation, secret: str) -> Move:
    rng = random.Random(keyed_int(secret, f"{situation.game_id}:{situation.round_no}:bot"))
    return legacy_move(bot, seen_by_bot(situation.history), situation.points, rng)


def _ml_move(
    situation: Situation, acting: AliasPrediction, secret: str, memory: AdaptiveMemory | None
) -> Move:
    """The EV move against the adaptive meta-layer's belief (SPEC §5.1's rule on the acting
    model alone without `memory`), or, while the bot is being read, a keyed draw from the
    round's unexploitable mixed strategy."""
    key = f"{situation.game_id}:{situation.round_no}"
    belief = acting.probabilities
    if memory is not None:
        game = SessionGame(situation.game_id, situation.history, situation.model_history)
        session = situation.session_id or situation.game_id
        state = memory.state(session, game, situation.earlier)
        advice = state.advise(situation.points, acting.probabilities)
        memory.keep(session, state)
        if advice.mix and keyed_unit(secret, f"{key}:mix") < advice.mix:
            return unexploitable_move(situation.points, keyed_unit(secret, f"{key}:mixed"))
        belief = advice.probabilities
    easy_draw = keyed_unit(secret, f"{key}:easy") if situation.easy else None
    bot_score, user_score = situation.scores
    return ev_move(belief, situation.points, bot_score, user_score, easy_draw)


def decide(
    situation: Situation, secret: str, models: ModelBank, memory: AdaptiveMemory | None = None
) -> Decision:
    """The bot's move; it depends only on the state before the round. ML policies adapt with
    `memory`, which keeps each session's state between rounds (a new one rebuilds it)."""
    if situation.round_no <= GAMBIT_ROUNDS:
        return Decision(situation.opening[situation.round_no - 1], "gambit")
    if situation.family == LEGACY_FAMILY:
        return Decision(_legacy(situation.policy, situation, secret), "legacy")
    try:
        answers = models.predict(situation.family, situation.features)
    except ModelUnavailable as exc:
        answers = {situation.alias or "": exc}
    valid = [
        a for a in answers.values() if isinstance(a, AliasPrediction) and _valid(a.probabilities)
    ]
    acting = next((p for p in valid if p.alias == situation.alias), None)
    if acting is None:
        answer = answers.get(situation.alias or "")
        reason = (
            answer.reason
            if isinstance(answer, ModelUnavailable)
            else "not_loaded"
            if answer is None
            else "invalid_output"
        )
        fallback = FAMILY_BY_POLICY[situation.policy].fallback_bot
        move = _legacy(fallback, situation, secret)
        return Decision(move, "fallback", predictions=valid, fallback_reason=reason)
    move = _ml_move(situation, acting, secret, memory)
    return Decision(move, "ml", acting=acting, predictions=valid)
