"""The gameplay use cases behind start_game and play: validate, decide, store atomically."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Self, cast

from sqlalchemy import Connection
from sqlalchemy import Engine as Database

from rpsquest import metrics
from rpsquest.api import GameStateRequest, PlayRequest, StartGameRequest, default_player_name
from rpsquest.config import Settings
from rpsquest.errors import BadToken, GameFinished, GameNotFound, RoundConflict
from rpsquest.features import round_features
from rpsquest.game.adaptive import MEMORY_GAMES, AdaptiveMemory, Probabilities, SessionGame
from rpsquest.game.bots import AliasPrediction, Decision, ModelBank, NoModels, Situation, decide
from rpsquest.game.gambits import choose_gambit, gambit_moves
from rpsquest.game.policies import FAMILY_BY_POLICY, LEGACY_FAMILY, NO_ALIAS, draw_alias
from rpsquest.game.rules import (
    MOVES,
    TARGET_SCORE,
    Move,
    RoundPoints,
    match_winner,
    played_rounds,
    round_points,
    score_round,
)
from rpsquest.store.database import migrate, open_engine, read_connection, write_transaction
from rpsquest.store.games import (
    GameRecord,
    HistoryRow,
    PredictionRecord,
    RoundRecord,
    earlier_session_games,
    find_game,
    game_history,
    game_rounds,
    insert_game,
    lock_game,
    record_predictions,
    record_round,
    stored_round,
    utc_now,
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_game_token() -> str:
    return secrets.token_urlsafe(32)


def _upcoming(game_id: str, round_no: int, winner: str | None) -> dict[str, float] | None:
    """The values of the round after `round_no`, or None once the game is won."""
    return None if winner else round_points(game_id, round_no + 1).as_dict()


def _round_fields(played: RoundRecord) -> dict[str, Any]:
    """A stored round as the player saw it: moves, values, deltas and scores after it."""
    return {
        "round": played.round_no,
        "user_move": played.user_move,
        "bot_move": played.bot_move,
        "result": played.result,
        "round_points": RoundPoints(
            played.rock_pts, played.paper_pts, played.scissors_pts
        ).as_dict(),
        "user_delta": played.user_delta,
        "bot_delta": played.bot_delta,
        "user_score": played.user_score,
        "bot_score": played.bot_score,
    }


def round_reply(played: RoundRecord) -> dict[str, Any]:
    """The play response for a stored round; a replay rebuilds the very same bytes."""
    winner = match_winner(played.user_score, played.bot_score)
    return {
        "game_id": played.game_id,
        **_round_fields(played),
        "finished": winner is not None,
        "winner": winner,
        "next_round_points": _upcoming(played.game_id, played.round_no, winner),
    }


def _check_token(game: GameRecord | None, token: str) -> GameRecord:
    """The game a player names, if it exists (else 404) and the token is its own (else 403)."""
    if game is None:
        raise GameNotFound("No game with that id.")
    if not hmac.compare_digest(game.token_sha256, _sha256(token)):
        raise BadToken("The game token does not match this game.")
    return game


def _session_game(game_id: str, rows: Sequence[HistoryRow]) -> SessionGame:
    models = [None if row[8] is None else cast(Probabilities, tuple(row[8:11])) for row in rows]
    return SessionGame(game_id, played_rounds(rows), models)


def _situation(connection: Connection, game: GameRecord) -> Situation:
    """Everything the bot may know before the game's next round."""
    played = _session_game(game.id, game_history(connection, game.id))
    round_no = game.rounds_played + 1
    points = round_points(game.id, round_no)
    easy = game.difficulty == "easy"
    features = round_features(played.rounds, points, round_no, easy)

    def earlier() -> list[SessionGame]:
        found = earlier_session_games(
            connection, game.id, game.session_id, game.created_at, MEMORY_GAMES
        )
        return [_session_game(game_id, rows) for game_id, rows in found]

    return Situation(
        game.id,
        game.policy,
        game.family,
        game.alias,
        easy,
        cast(list[Move], game.gambit_moves.split(",")),
        played.rounds,
        points,
        round_no,
        features,
        played.model_history,
        game.session_id,
        earlier,
    )


def _prediction(played: RoundRecord, family: str, made: AliasPrediction) -> PredictionRecord:
    """An alias's prediction as stored; `correct` uses the canonical tie-break."""
    p_rock, p_paper, p_scissors = made.probabilities
    return PredictionRecord(
        game_id=played.game_id,
        round_no=played.round_no,
        family=family,
        alias=made.alias,
        version=made.version,
        assignment_id=made.assignment_id,
        p_rock=p_rock,
        p_paper=p_paper,
        p_scissors=p_scissors,
        predicted=made.predicted,
        correct=made.predicted == played.user_move,
    )


def _metric_labels(game: GameRecord) -> tuple[str, str, str]:
    return game.policy, game.family, game.alias or NO_ALIAS


class Gameplay:
    """Starts games and plays rounds. Thread-safe: every call runs in its own connection and
    transaction."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        models: ModelBank | None = None,
        new_game_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        new_token: Callable[[], str] = new_game_token,
    ) -> None:
        self.settings = settings
        self.database = database
        self.models = models or NoModels()
        self._new_game_id = new_game_id
        self._new_token = new_token
        # The adaptive policy's state of sessions in play: a round costs one step, not a replay.
        self.memory = (
            AdaptiveMemory(settings.adaptive_sessions) if settings.adaptive_policy else None
        )

    @classmethod
    def open(cls, settings: Settings, models: ModelBank | None = None) -> Self:
        database = open_engine(settings.database_url)
        migrate(database)
        return cls(settings, database, models)

    def start_game(self, request: StartGameRequest) -> dict[str, Any]:
        game_id, token = self._new_game_id(), self._new_token()
        session_id = request.session_id or str(uuid.uuid4())
        secret = self.settings.game_secret
        family = FAMILY_BY_POLICY.get(request.policy)
        alias = draw_alias(secret, game_id) if family else None
        gambit = choose_gambit(secret, game_id)
        game = GameRecord(
            id=game_id,
            token_sha256=_sha256(token),
            created_at=utc_now(),
            session_id=session_id,
            player_name=request.player_name or default_player_name(session_id),
            policy=request.policy,
            family=family.name if family else LEGACY_FAMILY,
            difficulty=request.difficulty,
            source=request.source,
            is_test=request.is_test,
            alias=alias,
            assignment_id=(
                self.models.assignment_id(family.name, alias) if family and alias else None
            ),
            gambit=gambit.name,
            gambit_moves=",".join(gambit_moves(gambit, game_id)),
        )
        with write_transaction(self.database) as connection:
            insert_game(connection, game)
        metrics.GAMES_STARTED.labels(
            *_metric_labels(game), game.difficulty, "test" if game.is_test else game.source
        ).inc()
        return {
            "game_id": game_id,
            "game_token": token,
            "session_id": session_id,
            "player_name": game.player_name,
            "policy": game.policy,
            "difficulty": game.difficulty,
            "target_score": TARGET_SCORE,
            "round": 1,
            "round_points": round_points(game_id, 1).as_dict(),
            "play_url": self.settings.play_url,
        }

    def play_round(self, request: PlayRequest) -> dict[str, Any]:
        with write_transaction(self.database) as connection:
            game = _check_token(lock_game(connection, request.game_id), request.game_token)
            if request.round is not None and request.round <= game.rounds_played:
                stored = stored_round(connection, game.id, request.round)
                if stored.user_move != request.move:
                    raise RoundConflict(f"Round {request.round} was played with another move.")
                return round_reply(stored)
            if game.winner is not None:
                raise GameFinished("This game is over; start a new one.")
            round_no = game.rounds_played + 1
            if request.round is not None and request.round != round_no:
                raise RoundConflict(f"The next round is {round_no}, not {request.round}.")
            game, played, decision = self._play(connection, game, request.move)
        self._count(game, played, decision)
        return round_reply(played)

    def game_state(self, request: GameStateRequest) -> dict[str, Any]:
        """The whole game so far, for a player picking it up again (a reload, another tab):
        what every round showed and the next round's values, nothing of the bot's insides."""
        with read_connection(self.database) as connection:
            game = _check_token(find_game(connection, request.game_id), request.game_token)
            # Rounds are read after the game row: one played in between is not shown yet.
            played = game_rounds(connection, game.id)[: game.rounds_played]
        finished = game.winner is not None
        return {
            "game_id": game.id,
            "player_name": game.player_name,
            "policy": game.policy,
            "difficulty": game.difficulty,
            "target_score": TARGET_SCORE,
            "rounds": [_round_fields(r) for r in played],
            "user_score": game.user_score,
            "bot_score": game.bot_score,
            "finished": finished,
            "winner": game.winner,
            "next_round": None if finished else game.rounds_played + 1,
            "next_round_points": _upcoming(game.id, game.rounds_played, game.winner),
        }

    def next_round_predictions(self, game_id: str) -> dict[str, Any]:
        """What every alias would predict in the game's next round, for the admin debug view:
        the same situation, models and decision as play_round, and nothing is written."""
        with read_connection(self.database) as connection:
            game = find_game(connection, game_id)
            if game is None:
                raise GameNotFound("No game with that id.")
            if game.winner is not None:
                raise GameFinished("This game is over; it has no next round.")
            situation = _situation(connection, game)
            decision = decide(situation, self.settings.game_secret, self.models, self.memory)
        return {
            "game_id": game.id,
            "round": situation.round_no,
            "family": game.family,
            "alias": game.alias,
            "phase": decision.phase,
            "predictions": [
                {
                    "alias": p.alias,
                    "version": p.version,
                    "probabilities": dict(zip(MOVES, p.probabilities, strict=True)),
                    "predicted": p.predicted,
                }
                for p in decision.predictions
            ],
        }

    def _play(
        self, connection: Connection, game: GameRecord, move: Move
    ) -> tuple[GameRecord, RoundRecord, Decision]:
        situation = _situation(connection, game)
        points = situation.points
        decision = decide(situation, self.settings.game_secret, self.models, self.memory)
        scored = score_round(move, decision.move, points, game.user_score, game.bot_score)
        acting = decision.acting
        played = RoundRecord(
            game_id=game.id,
            round_no=situation.round_no,
            created_at=utc_now(),
            user_move=move,
            bot_move=decision.move,
            result=scored.result,
            user_delta=scored.user_delta,
            bot_delta=scored.bot_delta,
            user_score=scored.user_score,
            bot_score=scored.bot_score,
            rock_pts=points.rock,
            paper_pts=points.paper,
            scissors_pts=points.scissors,
            phase=decision.phase,
            alias=acting.alias if acting else game.alias,
            model_version=acting.version if acting else None,
            assignment_id=acting.assignment_id if acting else None,
            features=json.dumps(situation.features),
        )
        game = dataclasses.replace(
            game,
            winner=scored.winner,
            finished_at=played.created_at if scored.finished else None,
            fallback_rounds=game.fallback_rounds + (decision.phase == "fallback"),
            mixed_assignment=game.mixed_assignment
            or (acting is not None and acting.assignment_id != game.assignment_id),
        )
        record_round(connection, game, played)
        record_predictions(
            connection, [_prediction(played, game.family, p) for p in decision.predictions]
        )
        return game, played, decision

    @staticmethod
    def _count(game: GameRecord, played: RoundRecord, decision: Decision) -> None:
        policy, family, alias = _metric_labels(game)
        metrics.ROUNDS_PLAYED.labels(policy, family, alias, played.phase, played.result).inc()
        for p in decision.predictions:
            correct = "true" if p.predicted == played.user_move else "false"
            metrics.PREDICTIONS.labels(family, p.alias, correct).inc()
        if decision.fallback_reason:
            metrics.MODEL_FALLBACKS.labels(family, alias, decision.fallback_reason).inc()
        if game.winner:
            source = "test" if game.is_test else game.source
            metrics.GAMES_FINISHED.labels(
                policy, family, alias, game.difficulty, source, game.winner
            ).inc()
