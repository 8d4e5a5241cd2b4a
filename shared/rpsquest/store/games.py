"""Reading and writing games, rounds and predictions; callers own the transaction. Moves and
winners are plain text here: the game's rules sit above the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Connection, bindparam, func, insert, select, update

from rpsquest.store.schema import games, predictions, rounds

# (round_no, user_move, bot_move, rock_pts, paper_pts, scissors_pts, user_score, bot_score)
RoundRow = tuple[int, str, str, float, float, float, float, float]
# A round row, then the acting alias's p_rock, p_paper, p_scissors (None where it made none)
HistoryRow = tuple[
    int, str, str, float, float, float, float, float, float | None, float | None, float | None
]
_ID_CHUNK = 500  # game ids per IN (...) query: well inside every backend's parameter limit


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
    winner: str | None = None
    finished_at: str | None = None
    fallback_rounds: int = 0
    mixed_assignment: bool = False


@dataclass(frozen=True, slots=True)
class RoundRecord:
    game_id: str
    round_no: int
    created_at: str
    user_move: str
    bot_move: str
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


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One alias's prediction of the user's move in one round."""

    game_id: str
    round_no: int
    family: str
    alias: str
    version: int
    assignment_id: int | None
    p_rock: float
    p_paper: float
    p_scissors: float
    predicted: str
    correct: bool


# Statements are built once and take their values as parameters, so SQLAlchemy compiles each
# once per process instead of keying a new statement on every round (the play hot path).
_GAME = select(games).where(games.c.id == bindparam("game_id"))
_LOCK_GAME = _GAME.with_for_update()
_ROUND_COLUMNS = (
    rounds.c.round_no,
    rounds.c.user_move,
    rounds.c.bot_move,
    rounds.c.rock_pts,
    rounds.c.paper_pts,
    rounds.c.scissors_pts,
    rounds.c.user_score,
    rounds.c.bot_score,
)
_ACTING = predictions.alias("acting")
_HISTORY_COLUMNS = select(
    *_ROUND_COLUMNS, _ACTING.c.p_rock, _ACTING.c.p_paper, _ACTING.c.p_scissors
).outerjoin(
    _ACTING,
    (_ACTING.c.game_id == rounds.c.game_id)
    & (_ACTING.c.round_no == rounds.c.round_no)
    & (_ACTING.c.alias == rounds.c.alias),
)
_HISTORY = _HISTORY_COLUMNS.where(rounds.c.game_id == bindparam("game_id")).order_by(
    rounds.c.round_no
)
_EARLIER_GAMES = (
    select(games.c.id)
    .where(
        games.c.session_id == bindparam("session_id"),
        games.c.created_at <= bindparam("before"),
        games.c.id != bindparam("game_id"),
    )
    .order_by(games.c.created_at.desc(), games.c.id.desc())
    .limit(bindparam("limit"))
)
_EARLIER_ROUNDS = (
    _HISTORY_COLUMNS.add_columns(rounds.c.game_id)
    .where(
        rounds.c.game_id.in_(bindparam("game_ids", expanding=True)),
        rounds.c.created_at <= bindparam("before"),
    )
    .order_by(rounds.c.game_id, rounds.c.round_no)
)
_STORED_ROUND = select(rounds).where(
    rounds.c.game_id == bindparam("game_id"), rounds.c.round_no == bindparam("round_no")
)
_GAME_ROUNDS = (
    select(rounds).where(rounds.c.game_id == bindparam("game_id")).order_by(rounds.c.round_no)
)
_ADVANCE_GAME = update(games).where(games.c.id == bindparam("game_id"))
_INSERT_GAME = insert(games)
_INSERT_ROUND = insert(rounds)
_INSERT_PREDICTIONS = insert(predictions)


def _columns(record: GameRecord | RoundRecord | PredictionRecord) -> dict[str, object]:
    """The record as one row of values. The slots are the fields, in order: read directly,
    they cost half what dataclasses.fields() does, and asdict() deep-copies."""
    return {name: getattr(record, name) for name in record.__slots__}


def insert_game(connection: Connection, game: GameRecord) -> None:
    connection.execute(_INSERT_GAME, _columns(game))


def lock_game(connection: Connection, game_id: str) -> GameRecord | None:
    """Read a game row, locking it against concurrent plays (FOR UPDATE; SQLite locks the file)."""
    row = connection.execute(_LOCK_GAME, {"game_id": game_id}).mappings().first()
    return GameRecord(**row) if row else None


def find_game(connection: Connection, game_id: str) -> GameRecord | None:
    """Read a game row without locking it."""
    row = connection.execute(_GAME, {"game_id": game_id}).mappings().first()
    return GameRecord(**row) if row else None


def game_history(connection: Connection, game_id: str) -> list[HistoryRow]:
    """The game's rounds, oldest first, with what the bot and the features read of them."""
    return list(connection.execute(_HISTORY, {"game_id": game_id}))


def earlier_session_games(
    connection: Connection, game: str, session_id: str, began: str, limit: int
) -> list[tuple[str, list[HistoryRow]]]:
    """The session's newest `limit` other games started by `began` (when `game` began), oldest
    first, each with its rounds played by then: what `game` could know, which never changes.
    "By", not "before": a round stored in the millisecond the game began was played first."""
    ids = list(
        connection.execute(
            _EARLIER_GAMES,
            {"session_id": session_id, "before": began, "game_id": game, "limit": limit},
        ).scalars()
    )
    if not ids:
        return []
    found: dict[str, list[HistoryRow]] = {game_id: [] for game_id in reversed(ids)}
    for *row, game_id in connection.execute(_EARLIER_ROUNDS, {"game_ids": ids, "before": began}):
        found[game_id].append(tuple(row))
    return list(found.items())


def game_rounds(connection: Connection, game_id: str) -> list[RoundRecord]:
    """Every round of the game, oldest first."""
    rows = connection.execute(_GAME_ROUNDS, {"game_id": game_id}).mappings()
    return [RoundRecord(**row) for row in rows]


def stored_round(connection: Connection, game_id: str, round_no: int) -> RoundRecord:
    row = connection.execute(_STORED_ROUND, {"game_id": game_id, "round_no": round_no})
    return RoundRecord(**row.mappings().one())


def record_round(connection: Connection, game: GameRecord, played: RoundRecord) -> None:
    """Insert the round and move the game's scores on; the key (game_id, round_no) is unique."""
    connection.execute(_INSERT_ROUND, _columns(played))
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


def record_predictions(connection: Connection, made: Sequence[PredictionRecord]) -> None:
    """Store every alias's prediction for a round."""
    if made:
        connection.execute(_INSERT_PREDICTIONS, [_columns(p) for p in made])


# -- what training reads -------------------------------------------------------------------


def live_games(connection: Connection) -> list[tuple[str, str, str, int, str]]:
    """(id, created_at, source, rounds_played, difficulty) of every non-test game, newest first."""
    return list(
        connection.execute(
            select(
                games.c.id,
                games.c.created_at,
                games.c.source,
                games.c.rounds_played,
                games.c.difficulty,
            )
            .where(games.c.is_test.is_(False))
            .order_by(games.c.created_at.desc(), games.c.id.desc())
        )
    )


def stored_rounds(
    connection: Connection, game_ids: Sequence[str]
) -> Iterator[tuple[str, RoundRow, str]]:
    """(game_id, history row, the features play stored as JSON) of every round of the games,
    each game's in round order."""
    for start in range(0, len(game_ids), _ID_CHUNK):
        chunk = game_ids[start : start + _ID_CHUNK]
        for game_id, features, *history in connection.execute(
            select(rounds.c.game_id, rounds.c.features, *_ROUND_COLUMNS)
            .where(rounds.c.game_id.in_(chunk))
            .order_by(rounds.c.game_id, rounds.c.round_no)
        ):
            yield game_id, cast(RoundRow, tuple(history)), features


def inconsistent_games(connection: Connection) -> list[str]:
    """The games whose round count or scores are not what their stored rounds add up to, or
    whose round numbers have a gap: an audit after a fuzz run or a soak (it reads every game)."""
    totals = (
        select(
            rounds.c.game_id,
            func.count().label("played"),
            func.max(rounds.c.round_no).label("last"),
            func.sum(rounds.c.user_delta).label("user"),
            func.sum(rounds.c.bot_delta).label("bot"),
        )
        .group_by(rounds.c.game_id)
        .subquery()
    )
    played = func.coalesce(totals.c.played, 0)
    query = (
        select(games.c.id)
        .outerjoin(totals, totals.c.game_id == games.c.id)
        .where(
            (games.c.rounds_played != played)
            | (func.coalesce(totals.c.last, 0) != played)
            | (func.abs(games.c.user_score - func.coalesce(totals.c.user, 0.0)) > 1e-6)
            | (func.abs(games.c.bot_score - func.coalesce(totals.c.bot, 0.0)) > 1e-6)
        )
    )
    return list(connection.execute(query).scalars())
