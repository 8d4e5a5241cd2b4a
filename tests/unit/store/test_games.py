from sqlalchemy import insert

from rpsquest.store.database import migrate, open_engine, read_connection, write_transaction
from rpsquest.store.games import earlier_session_games, game_history, inconsistent_games
from rpsquest.store.schema import games, predictions, rounds
from tests.factories import game_row, prediction_row, round_row

T0, T1, T2, T3 = (f"2026-01-01T00:00:0{k}.000Z" for k in range(4))


def store(database_url, game_rows, round_rows, prediction_rows=()):
    engine = open_engine(database_url)
    migrate(engine)
    with write_transaction(engine) as connection:
        connection.execute(insert(games), game_rows)
        connection.execute(insert(rounds), round_rows)
        if prediction_rows:
            connection.execute(insert(predictions), prediction_rows)
    return engine


def test_the_history_carries_the_acting_aliass_prediction_or_none(database_url):
    engine = store(
        database_url,
        [game_row("g")],
        [round_row("g", 1), round_row("g", 2, phase="ml", alias="B")],
        [
            prediction_row("g", 2, "B", p_rock=0.6, p_paper=0.3, p_scissors=0.1),
            prediction_row("g", 2, "shadow1"),
        ],
    )
    with read_connection(engine) as connection:
        rows = game_history(connection, "g")
    engine.dispose()

    assert [row[0] for row in rows] == [1, 2]
    assert rows[0][8:] == (None, None, None)
    assert rows[1][8:] == (0.6, 0.3, 0.1)


def test_earlier_session_games_are_the_newest_ones_as_they_stood_when_the_game_began(
    database_url,
):
    engine = store(
        database_url,
        [
            game_row("old", created_at=T0, session_id="s"),
            game_row("mid", created_at=T1, session_id="s"),
            game_row("other-session", created_at=T1, session_id="t"),
            game_row("now", created_at=T2, session_id="s"),
            game_row("same-moment", created_at=T2, session_id="s"),
            game_row("later", created_at=T3, session_id="s"),
        ],
        [
            round_row("old", 1, created_at=T0),
            round_row("mid", 1, created_at=T1),
            round_row("same-moment", 1, created_at=T2),
            round_row("mid", 2, created_at=T3),  # played after "now" began: not known then
            round_row("other-session", 1, created_at=T1),
            round_row("now", 1, created_at=T2),
        ],
    )
    with read_connection(engine) as connection:
        both = earlier_session_games(connection, "now", "s", began=T2, limit=5)
        newest = earlier_session_games(connection, "now", "s", began=T2, limit=1)
        first = earlier_session_games(connection, "old", "s", began=T0, limit=5)
    engine.dispose()

    assert [(game_id, [row[0] for row in rows]) for game_id, rows in both] == [
        ("old", [1]),
        ("mid", [1]),
        ("same-moment", [1]),  # started and played in the millisecond "now" began
    ]
    assert [game_id for game_id, _ in newest] == ["same-moment"]
    assert first == []


def test_the_audit_names_games_their_stored_rounds_do_not_add_up_to(database_url):
    played = {"rounds_played": 2, "user_score": 1.0, "bot_score": 1.0}
    engine = store(
        database_url,
        [
            game_row("sound", **played),
            game_row("fresh"),
            game_row("wrong-score", **played | {"user_score": 1.5}),
            game_row("lost-round", **played | {"rounds_played": 3}),
            game_row("gap", **played),
        ],
        [
            *(
                round_row(game, k)
                for game in ("sound", "wrong-score", "lost-round")
                for k in (1, 2)
            ),
            round_row("gap", 1),
            round_row("gap", 3),
        ],
    )
    with read_connection(engine) as connection:
        broken = inconsistent_games(connection)
    engine.dispose()

    assert sorted(broken) == ["gap", "lost-round", "wrong-score"]
