"""Whole matches and sessions played in-process by the same rules and decisions as play: any
simulated player (a legacy bot, an arena opponent) against any bot (bootstrap corpus,
evaluation, the arena)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rpsquest.features import round_features
from rpsquest.game.adaptive import AdaptiveMemory, Probabilities, SessionGame
from rpsquest.game.bots import (
    AliasPrediction,
    Decision,
    ModelBank,
    NoModels,
    Situation,
    decide,
)
from rpsquest.game.gambits import choose_gambit, gambit_moves
from rpsquest.game.players import LegacyPlayer, SimulatedPlayer
from rpsquest.game.policies import FAMILY_BY_POLICY, LEGACY_FAMILY, draw_alias
from rpsquest.game.rules import PlayedRound, round_points, score_round

Bot = Callable[[Situation], Decision]
SESSION_GAMES = 10


@dataclass(frozen=True)
class OneModel:
    """A model bank of one ONNX model that answers as each of `aliases`: a policy plays with it
    whichever of them acts, without a manifest or a store."""

    session: Any  # onnxruntime.InferenceSession
    aliases: tuple[str, ...]
    version: int

    def predict(self, family: str, features: Sequence[float]) -> Mapping[str, AliasPrediction]:
        from rpsquest.models.export import predict_onnx  # onnxruntime: only where a model plays

        p_rock, p_paper, p_scissors = predict_onnx(self.session, [list(features)])[0]
        probabilities = (float(p_rock), float(p_paper), float(p_scissors))
        return {
            alias: AliasPrediction(alias, self.version, None, probabilities)
            for alias in self.aliases
        }

    def assignment_id(self, family: str, alias: str) -> int | None:
        return None


def server_bot(secret: str, models: ModelBank | None = None, adaptive: bool = True) -> Bot:
    """The decision play makes, with `models` standing in for serving's bank; `adaptive` is
    play's RPS_ADAPTIVE_POLICY."""
    bank, memory = models or NoModels(), AdaptiveMemory() if adaptive else None
    return lambda situation: decide(situation, secret, bank, memory)


def play_match(
    game_id: str,
    player: SimulatedPlayer | str,
    policy: str,
    secret: str,
    models: ModelBank | None = None,
    alias: str = "Production",
    easy: bool = False,
    session_id: str = "",
    earlier: Sequence[SessionGame] = (),
    bot: Bot | None = None,
) -> SessionGame:
    """Play to the finish; ML policies act through `alias` of `models`, as play would.

    `player` is a simulated player or a legacy bot's name; `earlier` holds the session's earlier
    games, as play reads them from the store; `bot` replaces play's decision (arena baselines).
    """
    if isinstance(player, str):
        player = LegacyPlayer(player)
    bot = bot or server_bot(secret, models)
    family = FAMILY_BY_POLICY.get(policy)
    opening = gambit_moves(choose_gambit(secret, game_id), game_id)
    history: list[PlayedRound] = []
    model_history: list[Probabilities | None] = []
    user_score = bot_score = 0.0
    while True:
        round_no = len(history) + 1
        points = round_points(game_id, round_no)
        # Legacy policies never read the feature vector, so they skip building it.
        features = round_features(history, points, round_no, easy) if family else ()
        situation = Situation(
            game_id,
            policy,
            family.name if family else LEGACY_FAMILY,
            alias if family else None,
            easy,
            opening,
            tuple(history),
            points,
            round_no,
            features,
            tuple(model_history),
            session_id,
            lambda: earlier,
        )
        decision = bot(situation)
        user = player.move(game_id, tuple(history), points)
        scored = score_round(user, decision.move, points, user_score, bot_score)
        user_score, bot_score = scored.user_score, scored.bot_score
        history.append(PlayedRound(round_no, user, decision.move, points, user_score, bot_score))
        model_history.append(decision.acting.probabilities if decision.acting else None)
        if scored.finished:
            player.game_over(tuple(history))
            return SessionGame(game_id, tuple(history), tuple(model_history))


def play_session(
    session_id: str,
    player: SimulatedPlayer,
    policy: str,
    secret: str,
    models: ModelBank | None = None,
    games: int = SESSION_GAMES,
    bot: Bot | None = None,
) -> list[SessionGame]:
    """`games` consecutive matches of one returning player; each game's acting alias is drawn
    as start_game draws it, and the bot sees the session's earlier games as play does."""
    bot = bot or server_bot(secret, models)
    played: list[SessionGame] = []
    for k in range(1, games + 1):
        game_id = f"{session_id}:{k}"
        alias = draw_alias(secret, game_id)
        played.append(
            play_match(
                game_id,
                player,
                policy,
                secret,
                alias=alias,
                session_id=session_id,
                earlier=tuple(played),
                bot=bot,
            )
        )
    return played
