"""The leaderboard, the bots' records and a session's record, worked out by hand from built
games on each backend: only finished, human, non-test games count, and streaks follow the
order games finished in."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from rpsquest.api import LeaderboardQuery, SessionQuery
from rpsquest.standings import MIN_GAMES, RECENT_GAMES, Standings
from rpsquest.store.database import write_transaction
from rpsquest.store.games import utc_now
from rpsquest.store.schema import games
from tests.factories import game_row

DAY = 24 * 60 * 60


def at(minute: int) -> str:
    """A moment of the last two hours: a larger minute is later."""
    return utc_now(-(120 - minute) * 60)


def finished(id: str, session: str, winner: str, minute: int, **values) -> dict:
    """A game of `session` finished at `minute`, started a minute before unless `values` say."""
    played = {
        "session_id": session,
        "player_name": session.title(),
        "policy": "forrest",
        "created_at": at(minute - 1),
        "finished_at": at(minute),
        "winner": winner,
    }
    return game_row(id, **(played | values))


# Session "ada", in the order its games finished. Unfinished, test and telemetry games sit
# in the middle of its best streak (a4, a5, a6) and must neither count nor end it.
ADA = [
    finished("a8", "ada", "user", 80, policy="brian", created_at=at(0)),  # started first
    finished("a1", "ada", "user", 10, policy="brian"),
    finished("a2", "ada", "user", 20, policy="brian"),
    finished("a3", "ada", "bot", 30, policy="logan"),
    finished("a4", "ada", "user", 40, policy="brian"),
    finished("a5", "ada", "user", 50, policy="logan"),
    game_row("a-open", session_id="ada", player_name="Ada", policy="logan", created_at=at(55)),
    finished("a-test", "ada", "bot", 56, policy="logan", is_test=True),
    finished("a-telemetry", "ada", "bot", 57, policy="logan", source="telemetry"),
    finished("a6", "ada", "user", 60, policy="brian"),
    finished("a7", "ada", "tie", 70, policy="logan"),
    # The session's latest game, still in play, carries the name it is ranked under.
    game_row("a-latest", session_id="ada", player_name="Countess", created_at=at(90)),
    finished("a-test-later", "ada", "user", 100, is_test=True, player_name="Tester"),
]
OTHERS = [
    # "bob" plays under the name Ada: names are not accounts, the sessions stay apart
    *(finished(f"b{k}", "bob", "user", 60 + k, player_name="Ada") for k in range(3)),
    # "dee" ties bob on wins and games, and got there first
    *(finished(f"d{k}", "dee", "user", 50 + k) for k in range(3)),
    # "gil" has bob's wins in one game more
    *(finished(f"g{k}", "gil", "user", 40 + k) for k in range(3)),
    finished("g-lost", "gil", "bot", 45),
    # "cy" won every game but played too few to be ranked
    *(finished(f"c{k}", "cy", "user", 30 + k, policy="ace") for k in range(MIN_GAMES - 1)),
    # telemetry and test sessions never reach the board
    *(finished(f"t{k}", "tel", "user", 30 + k, source="telemetry") for k in range(9)),
    *(finished(f"x{k}", "tst", "user", 30 + k, is_test=True) for k in range(9)),
    # "old" won more than anyone, ten days ago
    *(
        finished(
            f"o{k}",
            "old",
            "user",
            0,
            created_at=utc_now(-10 * DAY),
            finished_at=utc_now(-10 * DAY + k),
        )
        for k in range(10)
    ),
]


@pytest.fixture
def standings(database):
    with write_transaction(database) as connection:
        connection.execute(insert(games), [*ADA, *OTHERS])
    return Standings(database, cache_seconds=0)


def board(standings: Standings, **args: str) -> list[tuple]:
    reply = standings.leaderboard(LeaderboardQuery.from_args(args))
    return [
        (p["rank"], p["player_name"], p["games"], p["wins"], p["win_rate"], p["best_streak"])
        for p in reply["players"]
    ]


def test_the_weeks_board_ranks_sessions_by_wins_and_shares_places_on_ties(standings):
    assert board(standings, period="7d") == [
        (1, "Countess", 8, 6, 0.75, 3),
        (2, "Dee", 3, 3, 1.0, 3),
        (2, "Ada", 3, 3, 1.0, 3),  # bob, a later winner under a reused name
        (4, "Gil", 4, 3, 0.75, 3),
    ]


def test_the_months_and_all_time_boards_count_older_games(standings):
    rows = board(standings, period="all")

    assert rows[0] == (1, "Old", 10, 10, 1.0, 10)
    assert [row[1] for row in rows[1:]] == ["Countess", "Dee", "Ada", "Gil"]
    assert board(standings, period="30d") == rows


def test_a_board_of_one_policy_counts_and_streaks_only_its_games(standings):
    assert board(standings, policy="brian") == [(1, "Countess", 5, 5, 1.0, 5)]
    assert board(standings, policy="LOGAN") == [(1, "Countess", 3, 1, 0.333, 1)]
    assert board(standings, policy="hal") == []


def test_the_board_names_its_period_policy_and_minimum_and_never_a_session(standings):
    reply = standings.leaderboard(LeaderboardQuery(period="7d", policy="brian"))

    assert {k: v for k, v in reply.items() if k != "players"} == {
        "period": "7d",
        "policy": "brian",
        "min_games": MIN_GAMES,
    }
    assert "ada" not in str(reply)  # the session id; its name is Countess


def test_a_sessions_record_counts_per_bot_and_streaks_across_bots(standings):
    me = standings.session_record(SessionQuery("ada"))

    assert {
        k: me[k] for k in ("player_name", "games", "wins", "current_streak", "best_streak")
    } == {
        "player_name": "Countess",
        "games": 8,
        "wins": 6,
        "current_streak": 1,  # a8, after the tie a7
        "best_streak": 3,  # a4, a5, a6
    }
    assert me["bots"] == [
        {"policy": "brian", "games": 5, "wins": 5, "losses": 0, "ties": 0, "win_rate": 1.0},
        {"policy": "logan", "games": 3, "wins": 1, "losses": 1, "ties": 1, "win_rate": 0.333},
    ]


def test_a_sessions_recent_games_include_the_unfinished_and_skip_test_games(standings):
    recent = standings.session_record(SessionQuery("ada"))["recent_games"]

    assert [g["game_id"] for g in recent] == [
        "a-latest",
        "a7",
        "a6",
        "a-open",
        "a5",
        "a4",
        "a3",
        "a2",
        "a1",
        "a8",
    ]
    assert recent[0] == {
        "game_id": "a-latest",
        "policy": "ace",
        "difficulty": "normal",
        "player_name": "Countess",
        "started_at": ADA[-2]["created_at"],
        "finished_at": None,
        "rounds": 0,
        "user_score": 0.0,
        "bot_score": 0.0,
        "finished": False,
        "winner": None,
    }
    assert (recent[1]["finished"], recent[1]["winner"]) == (True, "tie")


def test_a_session_shows_its_newest_games_only(database):
    rows = [finished(f"n{k:02}", "new", "user", k + 1) for k in range(RECENT_GAMES + 2)]
    with write_transaction(database) as connection:
        connection.execute(insert(games), rows)

    me = Standings(database, cache_seconds=0).session_record(SessionQuery("new"))

    assert len(me["recent_games"]) == RECENT_GAMES
    assert me["recent_games"][0]["game_id"] == f"n{RECENT_GAMES + 1:02}"
    assert (me["games"], me["current_streak"], me["best_streak"]) == (22, 22, 22)


def test_an_unknown_session_has_an_empty_record(standings):
    assert standings.session_record(SessionQuery("nobody")) == {
        "player_name": None,
        "games": 0,
        "wins": 0,
        "current_streak": 0,
        "best_streak": 0,
        "bots": [],
        "recent_games": [],
    }


def test_the_bots_record_the_weeks_human_games_of_every_policy(standings):
    reply = standings.bots()
    bots = {b["policy"]: (b["games"], b["bot_wins"], b["bot_win_rate"]) for b in reply["bots"]}

    assert reply["days"] == 7
    assert bots["brian"] == (5, 0, 0.0)
    assert bots["logan"] == (3, 1, 0.333)  # a tie is a game the bot did not win
    assert bots["forrest"] == (10, 1, 0.1)  # bob, dee, gil; "old" is ten days ago
    assert bots["ace"] == (MIN_GAMES - 1, 0, 0.0)
    assert bots["hal"] == (0, 0, None)
    assert len(bots) == 11


def test_replies_are_kept_a_few_seconds_per_query(database):
    now = [0.0]
    standings = Standings(database, cache_seconds=5, clock=lambda: now[0])
    everything, brian = LeaderboardQuery(), LeaderboardQuery(policy="brian")
    assert standings.leaderboard(everything)["players"] == []
    with write_transaction(database) as connection:
        connection.execute(insert(games), ADA)

    now[0] = 4.9
    kept = standings.leaderboard(everything)["players"]
    other_query = standings.leaderboard(brian)["players"]
    now[0] = 5.0
    renewed = standings.leaderboard(everything)["players"]

    assert kept == []
    assert [p["player_name"] for p in other_query] == ["Countess"]
    assert [p["player_name"] for p in renewed] == ["Countess"]
