"""Whole matches played in-process by the same rules and bots as play: a legacy bot as the player
against any server policy, ML ones included (bootstrap corpus, evaluation)."""

from __future__ import annotations

from rpsquest.features import round_features
from rpsquest.game.bots import ModelBank, NoModels, Situation, decide
from rpsquest.game.gambits import choose_gambit, gambit_moves
from rpsquest.game.legacy import simulated_player_move
from rpsquest.game.policies import FAMILY_BY_POLICY, LEGACY_FAMILY
from rpsquest.game.rules import PlayedRound, round_points, score_round


def play_match(
    game_id: str,
    player: str,
    policy: str,
    secret: str,
    models: ModelBank | None = None,
    alias: str = "Production",
    easy: bool = False,
) -> tuple[PlayedRound, ...]:
    """Play to the finish; ML policies act through `alias` of `models`, as play would."""
    family = FAMILY_BY_POLICY.get(policy)
    models = models or NoModels()
    opening = gambit_moves(choose_gambit(secret, game_id), game_id)
    history: list[PlayedRound] = []
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
            history,
            points,
            round_no,
            features,
        )
        bot = decide(situation, secret, models).move
        user = simulated_player_move(player, game_id, history, points)
        scored = score_round(user, bot, points, user_score, bot_score)
        user_score, bot_score = scored.user_score, scored.bot_score
        history.append(PlayedRound(round_no, user, bot, points, user_score, bot_score))
        if scored.finished:
            return tuple(history)
