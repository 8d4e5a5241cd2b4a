"""The public read side of start_game: the leaderboard, the bots' recent records for the picker,
and a session's own record. Names are not unique and are not accounts: a session is ranked
under the display name of its latest game, and session ids never leave the session itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine as Database

from rpsquest.api import LeaderboardQuery, Period, SessionQuery
from rpsquest.game.policies import POLICIES
from rpsquest.store.database import read_connection
from rpsquest.store.evidence import policy_results
from rpsquest.store.games import utc_now
from rpsquest.store.standings import (
    leaderboard,
    recent_games,
    session_records,
    session_streaks,
)

# A lucky first game must not top the board: a session is ranked from this many games on.
MIN_GAMES = 3
LEADERBOARD_SIZE = 50
RECENT_GAMES = 20
BOTS_WINDOW = timedelta(days=7)
_PERIODS: dict[Period, timedelta | None] = {
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}


def _since(window: timedelta) -> str:
    return utc_now(-window.total_seconds())


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


class _Recent:
    """Replies computed in the last few seconds, by what was asked: a burst of page loads
    costs one query. The keys are validated queries (a period and a known policy or none),
    so there are a few dozen of them at most and nothing needs evicting. Two threads that
    miss together both compute: cheaper than making one wait on the other's query."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._replies: dict[Hashable, tuple[float, dict[str, Any]]] = {}

    def get(self, key: Hashable, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            kept = self._replies.get(key)
        if kept is not None and now - kept[0] < self._seconds:
            return kept[1]
        reply = compute()
        with self._lock:
            self._replies[key] = (now, reply)
        return reply


class Standings:
    """Reads what finished games add up to. Thread-safe: each call reads in its own
    connection, and the cache takes a lock."""

    def __init__(
        self,
        database: Database,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self._cache = _Recent(cache_seconds, clock)

    def leaderboard(self, query: LeaderboardQuery) -> dict[str, Any]:
        return self._cache.get(("leaderboard", query), lambda: self._leaderboard(query))

    def bots(self) -> dict[str, Any]:
        return self._cache.get("bots", self._bots)

    def session_record(self, query: SessionQuery) -> dict[str, Any]:
        """Not cached: it is one session's indexed games, and a player who has just finished
        a game expects to see it counted at once."""
        with read_connection(self.database) as connection:
            records = session_records(connection, query.session_id)
            streaks = session_streaks(connection, query.session_id)
            recent = recent_games(connection, query.session_id, RECENT_GAMES)
        return {
            "player_name": recent[0].player_name if recent else None,
            "games": sum(r.games for r in records),
            "wins": sum(r.wins for r in records),
            "current_streak": streaks.current,
            "best_streak": streaks.best,
            "bots": [
                {
                    "policy": r.policy,
                    "games": r.games,
                    "wins": r.wins,
                    "losses": r.losses,
                    "ties": r.ties,
                    "win_rate": _rate(r.wins, r.games),
                }
                for r in sorted(records, key=lambda r: POLICIES.index(r.policy))
            ],
            "recent_games": [
                {
                    "game_id": g.id,
                    "policy": g.policy,
                    "difficulty": g.difficulty,
                    "player_name": g.player_name,
                    "started_at": g.created_at,
                    "finished_at": g.finished_at,
                    "rounds": g.rounds_played,
                    "user_score": g.user_score,
                    "bot_score": g.bot_score,
                    "finished": g.winner is not None,
                    "winner": g.winner,
                }
                for g in recent
            ],
        }

    def _leaderboard(self, query: LeaderboardQuery) -> dict[str, Any]:
        with read_connection(self.database) as connection:
            window = _PERIODS[query.period]
            since = None if window is None else _since(window)
            standings = leaderboard(connection, since, query.policy, MIN_GAMES, LEADERBOARD_SIZE)
        players: list[dict[str, Any]] = []
        for place, s in enumerate(standings, start=1):
            tied = players and (players[-1]["wins"], players[-1]["games"]) == (s.wins, s.games)
            players.append(
                {
                    # Equal wins in equal games share a place (1, 2, 2, 4); the streak and who
                    # got there first only order the lines within it.
                    "rank": players[-1]["rank"] if tied else place,
                    "player_name": s.player_name,
                    "games": s.games,
                    "wins": s.wins,
                    "win_rate": _rate(s.wins, s.games),
                    "best_streak": s.best_streak,
                }
            )
        return {
            "period": query.period,
            "policy": query.policy,
            "min_games": MIN_GAMES,
            "players": players,
        }

    def _bots(self) -> dict[str, Any]:
        with read_connection(self.database) as connection:
            results = policy_results(connection, _since(BOTS_WINDOW))
        bots = []
        for policy in POLICIES:
            games, bot_wins = results.get(policy, (0, 0))
            bots.append(
                {
                    "policy": policy,
                    "games": games,
                    "bot_wins": bot_wins,
                    "bot_win_rate": _rate(bot_wins, games),
                }
            )
        return {"days": BOTS_WINDOW.days, "bots": bots}
