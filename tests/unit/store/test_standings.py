"""Streak and ranking edges of the read-side queries on each backend: which game ends a run,
games that finished together, and the size of the board."""

import pytest
from sqlalchemy import insert

from rpsquest.store.database import read_connection, write_transaction
from rpsquest.store.schema import games
from rpsquest.store.standings import Standing, Streaks, leaderboard, session_streaks
from tests.factories import game_row

T = "2026-01-01T00:00:00.000Z"


def games_of(session, *winners, finished_at=None):
    """The session's games, each finished a second after the last unless all at `finished_at`."""
    return [
        game_row(
            f"{session}-{k:02}",
            session_id=session,
            player_name=session.title(),
            finished_at=finished_at or f"2026-01-01T00:00:{k:02}.000Z",
            winner=winner,
        )
        for k, winner in enumerate(winners)
    ]


def streaks(database, rows, session):
    if rows:
        with write_transaction(database) as connection:
            connection.execute(insert(games), rows)
    with read_connection(database) as connection:
        return session_streaks(connection, session)


@pytest.mark.parametrize(
    ("winners", "expected"),
    [
        ((), Streaks(0, 0)),
        (("bot", "tie", "bot"), Streaks(0, 0)),
        (("user", "user", "bot"), Streaks(0, 2)),
        (("user", "tie", "user"), Streaks(1, 1)),
        (("bot", "user", "user", "user", "bot", "user", "user"), Streaks(2, 3)),
    ],
)
def test_a_lost_or_tied_game_ends_a_streak(database, winners, expected):
    assert streaks(database, games_of("s", *winners), "s") == expected


def test_games_that_finished_together_follow_their_ids(database):
    # ids s-00, s-01, s-02 in that order: a win, a loss, a win
    rows = games_of("s", "user", "bot", "user", finished_at=T)

    assert streaks(database, rows, "s") == Streaks(1, 1)


def test_another_sessions_games_never_touch_a_streak(database):
    rows = games_of("s", "user", "user") + games_of("t", "bot", "bot")

    assert streaks(database, rows, "s") == Streaks(2, 2)


def test_the_board_holds_the_best_sessions_up_to_its_size(database):
    rows = [row for n in range(1, 6) for row in games_of(f"p{n}", *["user"] * n)]
    with write_transaction(database) as connection:
        connection.execute(insert(games), rows)

    with read_connection(database) as connection:
        top = leaderboard(connection, since=None, policy=None, min_games=2, limit=3)

    assert top == [Standing("P5", 5, 5, 5), Standing("P4", 4, 4, 4), Standing("P3", 3, 3, 3)]
