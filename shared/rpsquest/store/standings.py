"""What players' finished games add up to: the leaderboard, a session's record per policy, its
streaks and its recent games. Only finished, human, non-test games count; everything is summed
in SQL, so a reply costs one query however many games there are.

A streak is a run of won games in the order they finished: a lost or tied game ends it; an
unfinished game has no place in that order, so it neither counts nor ends one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, ColumnElement, Connection, Subquery, UnaryExpression, case, func, select

from rpsquest.store.schema import games

_COUNTED = (games.c.source == "human", games.c.is_test.is_(False))
_WON = case((games.c.winner == "user", 1), else_=0)
_NOT_WON = 1 - _WON


@dataclass(frozen=True, slots=True)
class Standing:
    """One session's line on the leaderboard, under its latest display name."""

    player_name: str
    games: int
    wins: int
    best_streak: int


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A session's finished games against one policy, from the player's side."""

    policy: str
    games: int
    wins: int
    losses: int
    ties: int


@dataclass(frozen=True, slots=True)
class Streaks:
    current: int
    best: int


@dataclass(frozen=True, slots=True)
class RecentGame:
    id: str
    policy: str
    difficulty: str
    player_name: str
    created_at: str
    finished_at: str | None
    rounds_played: int
    user_score: float
    bot_score: float
    winner: str | None


def _runs(conditions: Sequence[ColumnElement[bool]]) -> CTE:
    """The counted games of each session cut into runs, one row per run: a run opens with a
    game the player did not win (or the session's first game) and holds the wins after it.
    A run's number is how many games the player did not win up to its first game, a running
    sum over the session's games in finished order (ids order games finished together)."""
    counted = (
        select(
            games.c.session_id,
            games.c.finished_at,
            _WON.label("won"),
            func.sum(_NOT_WON)
            .over(partition_by=games.c.session_id, order_by=(games.c.finished_at, games.c.id))
            .label("run"),
        )
        .where(games.c.finished_at.is_not(None), *_COUNTED, *conditions)
        .cte("counted")
    )
    return (
        select(
            counted.c.session_id,
            counted.c.run,
            func.count().label("games"),
            func.sum(counted.c.won).label("wins"),
            func.max(case((counted.c.won == 1, counted.c.finished_at))).label("last_win_at"),
        )
        .group_by(counted.c.session_id, counted.c.run)
        .cte("runs")
    )


def _ranking(sessions: Subquery) -> tuple[UnaryExpression[Any], ...]:
    """The leaderboard's order, applied to the ranked sessions and again to their top rows."""
    return (
        sessions.c.wins.desc(),
        sessions.c.games.asc(),  # as many wins in fewer games: the higher win rate
        sessions.c.best_streak.desc(),
        sessions.c.last_win_at.asc(),
        sessions.c.session_id.asc(),  # never shown: only makes the order total
    )


def leaderboard(
    connection: Connection, since: str | None, policy: str | None, min_games: int, limit: int
) -> list[Standing]:
    """The best `limit` sessions with at least `min_games` counted games finished since
    `since` (None: ever), against `policy` (None: any): most wins first, then the higher win
    rate, then the longer best streak, then whoever got their last win first. A streak counts
    the same games, so against one policy games against others neither extend nor end it."""
    conditions = []
    if since is not None:
        conditions.append(games.c.finished_at >= since)
    if policy is not None:
        conditions.append(games.c.policy == policy)
    runs = _runs(conditions)
    played, won = func.sum(runs.c.games), func.sum(runs.c.wins)
    sessions = (
        select(
            runs.c.session_id,
            played.label("games"),
            won.label("wins"),
            func.max(runs.c.wins).label("best_streak"),
            func.max(runs.c.last_win_at).label("last_win_at"),
        )
        .group_by(runs.c.session_id)
        .having(played >= min_games)
        .subquery("sessions")
    )
    top = select(sessions).order_by(*_ranking(sessions)).limit(limit).subquery("top")
    latest_name = (
        select(games.c.player_name)
        .where(games.c.session_id == top.c.session_id, *_COUNTED)
        .order_by(games.c.created_at.desc(), games.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = connection.execute(
        select(latest_name, top.c.games, top.c.wins, top.c.best_streak).order_by(*_ranking(top))
    )
    return [Standing(name, int(n), int(wins), int(best)) for name, n, wins, best in rows]


def session_records(connection: Connection, session_id: str) -> list[PolicyRecord]:
    """The session's counted games per policy it played."""
    rows = connection.execute(
        select(
            games.c.policy,
            func.count(),
            func.sum(_WON),
            func.sum(case((games.c.winner == "bot", 1), else_=0)),
            func.sum(case((games.c.winner == "tie", 1), else_=0)),
        )
        .where(games.c.session_id == session_id, games.c.finished_at.is_not(None), *_COUNTED)
        .group_by(games.c.policy)
        .order_by(games.c.policy)
    )
    return [PolicyRecord(policy, *(int(n) for n in counts)) for policy, *counts in rows]


def session_streaks(connection: Connection, session_id: str) -> Streaks:
    """The session's current streak (the wins since its last game not won) and its best,
    across every policy."""
    runs = _runs([games.c.session_id == session_id])
    best, current = connection.execute(
        select(
            func.coalesce(func.max(runs.c.wins), 0),
            func.coalesce(
                select(runs.c.wins).order_by(runs.c.run.desc()).limit(1).scalar_subquery(), 0
            ),
        )
    ).one()
    return Streaks(current=int(current), best=int(best))


def recent_games(connection: Connection, session_id: str, limit: int) -> list[RecentGame]:
    """The session's newest `limit` human, non-test games, finished or not, newest first."""
    rows = connection.execute(
        select(
            games.c.id,
            games.c.policy,
            games.c.difficulty,
            games.c.player_name,
            games.c.created_at,
            games.c.finished_at,
            games.c.rounds_played,
            games.c.user_score,
            games.c.bot_score,
            games.c.winner,
        )
        .where(games.c.session_id == session_id, *_COUNTED)
        .order_by(games.c.created_at.desc(), games.c.id.desc())
        .limit(limit)
    ).mappings()
    return [RecentGame(**row) for row in rows]
