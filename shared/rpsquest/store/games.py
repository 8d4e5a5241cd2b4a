"""Reading and writing games and rounds; callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, select, update

from rpsquest.game.bots import AliasPrediction
from rpsquest.game.rules import Move, PlayedRound, RoundPoints, Winner
from rpsquest.store.schema import games, predictions, rounds


def utc_now(later_by: float = 0.0) -> str:
    """UTC ISO-8601 with milliseconds and Z (now, or `later_by` seconds from now): the one
    timestamp format of the store, which sorts as text."""
    moment = datetime.now(UTC) + timedelta(seconds=later_by)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class GameRecord:
    id: str
    token_sha256: str
    created_at: str
    session_id: str
    player_name: str
    policy: str
    family: str
    difficulty: str
    source: str
    is_test: bool
    alias: str | None
    assignment_id: int | None
    gambit: str
    gambit_moves: str
    rounds_played: int = 0
    user_score: float = 0.0
    bot_score: float = 0.0
    winner: Winner | None = None
    finished_at: str | None = None
    fallback_rounds: int = 0
    mixed_assignment: bool = False

    @property
    def opening(self) -> list[Move]:
        return self.gambit_moves.split(",")  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RoundRecord:
    game_id: str
    round_no: int
    created_at: str
    user_move: Move
    bot_move: Move
    result: str
    user_delta: float
    bot_delta: float
    user_score: float
    bot_score: float
    rock_pts: float
    paper_pts: float
    scissors_pts: float
    phase: str
    alias: str | None
    model_version: int | None
    assignment_id: int | None
    features: str

    @property
    def points(self) -> RoundPoints:
        return RoundPoints(self.rock_pts, self.paper_pts, self.scissors_pts)


# Statements are built once and take their values as parameters, so SQLAlchemy compiles each
# once per process instead of keying a new statement on every round (the play hot path).
_GAME = select(games).where(games.c.id == bindparam("game_id"))
_LOCK_GAME = _GAME.with_for_update()
_HISTORY = (
    select(
        rounds.c.round_no,
        rounds.c.user_move,
        rounds.c.bot_move,
        rounds.c.rock_pts,
        rounds.c.paper_pts,
        rounds.c.scissors_pts,
        rounds.c.user_score,
        rounds.c.bot_score,
    )
    .where(rounds.c.game_id == bindparam("game_id"))
    .order_by(rounds.c.round_no)
)
_STORED_ROUND = select(rounds).where(
    rounds.c.game_id == bindparam("game_id"), rounds.c.round_no == bindparam("round_no")
)
_ADVANCE_GAME = update(games).where(games.c.id == bindparam("game_id"))


def _columns(record: GameRecord | RoundRecord) -> dict[str, object]:
    """The record as one row of values (dataclasses.asdict deep-copies, costly per round)."""
    return {field.name: getattr(record, field.name) for field in fields(record)}


def insert_game(connection: Connection, game: GameRecord) -> None:
    connection.execute(insert(games), _columns(game))


def lock_game(connection: Connection, game_id: str) -> GameRecord | None:
    """Read a game row, locking it against concurrent plays (FOR UPDATE; SQLite locks the file)."""
    row = connection.execute(_LOCK_GAME, {"game_id": game_id}).mappings().first()
    return GameRecord(**row) if row else None


def find_game(connection: Connection, game_id: str) -> GameRecord | None:
    """Read a game row without locking it."""
    row = connection.execute(_GAME, {"game_id": game_id}).mappings().first()
    return GameRecord(**row) if row else None


def game_history(connection: Connection, game_id: str) -> list[PlayedRound]:
    """The game's rounds, oldest first, as the bot and the features see them."""
    return [
        PlayedRound(number, user, bot, RoundPoints(rock, paper, scissors), user_score, bot_score)
        for number, user, bot, rock, paper, scissors, user_score, bot_score in connection.execute(
            _HISTORY, {"game_id": game_id}
        )
    ]


def stored_round(connection: Connection, game_id: str, round_no: int) -> RoundRecord:
    row = connection.execute(_STORED_ROUND, {"game_id": game_id, "round_no": round_no})
    return RoundRecord(**row.mappings().one())


def record_round(connection: Connection, game: GameRecord, played: RoundRecord) -> None:
    """Insert the round and move the game's scores on; the key (game_id, round_no) is unique."""
    connection.execute(insert(rounds), _columns(played))
    connection.execute(
        _ADVANCE_GAME,
        {
            "game_id": game.id,
            "rounds_played": played.round_no,
            "user_score": played.user_score,
            "bot_score": played.bot_score,
            "winner": game.winner,
            "finished_at": game.finished_at,
            "fallback_rounds": game.fallback_rounds,
            "mixed_assignment": game.mixed_assignment,
        },
    )


def record_predictions(
    connection: Connection, played: RoundRecord, family: str, made: Sequence[AliasPrediction]
) -> None:
    """Store every alias's prediction for the round; `correct` uses the canonical tie-break."""
    rows = []
    for p in made:
        rows.append(
            {
                "game_id": played.game_id,
                "round_no": played.round_no,
                "family": family,
                "alias": p.alias,
                "version": p.version,
                "assignment_id": p.assignment_id,
                "p_rock": p.probabilities[0],
                "p_paper": p.probabilities[1],
                "p_scissors": p.probabilities[2],
                "predicted": p.predicted,
                "correct": p.predicted == played.user_move,
            }
        )
    if rows:
        connection.execute(insert(predictions), rows)
