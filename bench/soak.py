"""Soak (`make soak`): simulated players play whole games over HTTP against the production
profile (PostgreSQL, S3, an MLflow server, each function from its image) while training,
promotion and telemetry run on their PingSource schedules, sped up.

    python bench/soak.py [--players 32] [--minutes 10] [--speed 15] [--small]

Each player is a zoo type (rpsquest.arena.zoo) with a session of its own: it starts a game,
plays it to the finish (every move carries its round number, so a retried move is a replay,
never a second round), reads its record (GET /me) and, now and then, the leaderboard, the
bots and the finished game's state (POST /state), then starts the next one. The report:
games and rounds, every answer by route and status, p50/p99 latency per route, the rounds
lost (acknowledged, not stored) or double-counted (a score that is not the sum of its stored
rounds), each function's RSS at the start and the end, training cycles and promotions run,
and the database and store sizes. tests/e2e/test_soak.py runs it for a minute in CI.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select, text

from rpsquest.arena.seeds import training_seed
from rpsquest.arena.zoo import ZOO_TYPES, zoo_player
from rpsquest.game.rules import PlayedRound, RoundPoints
from rpsquest.local import bootstrap_models
from rpsquest.production import Production, throwaway
from rpsquest.store.games import inconsistent_games, utc_now
from rpsquest.store.schema import promotion_ledger, rounds, training_cycles

REPO = Path(__file__).resolve().parents[1]
POLICIES = ("brian", "forrest", "logan", "brian", "forrest", "logan", "cal")
SOAK_SEEDS = 700_000  # player k draws training seed SOAK_SEEDS + k: no arena opponent
ATTEMPTS = 3  # a move that gets no 200 is sent again this many times, then the game is left
TIMEOUT = 10


@dataclass
class Tally:
    """What the players saw, shared by their threads."""

    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    acknowledged: dict[str, int] = field(default_factory=dict)  # game id -> rounds answered 200
    finished: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(
        self, http: requests.Session, route: str, method: str, url: str, **options: Any
    ) -> requests.Response | None:
        """One request, timed and counted under `route`; None (status 0) if nothing answered."""
        started = time.perf_counter()
        try:
            reply: requests.Response | None = http.request(method, url, timeout=TIMEOUT, **options)
        except requests.RequestException:
            reply = None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[route].append(elapsed)
            self.statuses[route, reply.status_code if reply is not None else 0] += 1
        return reply


def play_games(
    k: int, start_url: str, play_url: str, tally: Tally, until: float, think: float
) -> None:
    """Player k's games until `until` (time.monotonic); the game in progress is finished."""
    http = requests.Session()
    kind = ZOO_TYPES[k % len(ZOO_TYPES)]
    player = zoo_player(kind, training_seed(SOAK_SEEDS + k))
    session = {"session_id": f"soak-{k}", "player_name": f"soak {kind}"}
    count = 0
    while time.monotonic() < until:
        policy = POLICIES[(k + count) % len(POLICIES)]
        reply = tally.call(
            http, "POST /start_game", "POST", start_url, json={**session, "policy": policy}
        )
        if reply is None or reply.status_code != 201:
            time.sleep(0.5)
            continue
        game = reply.json()
        finished = _play_to_the_end(http, play_url, game, player, tally, think)
        count += 1
        headers = {"X-Session-Id": session["session_id"]}
        tally.call(http, "GET /me", "GET", start_url + "me", headers=headers)
        if count % 5 == 0:
            tally.call(http, "GET /leaderboard", "GET", start_url + "leaderboard")
            tally.call(http, "GET /bots", "GET", start_url + "bots")
            ids = {key: game[key] for key in ("game_id", "game_token")}
            tally.call(http, "POST /state", "POST", play_url + "state", json=ids)
        if finished:
            with tally.lock:
                tally.finished += 1


def _play_to_the_end(
    http: requests.Session,
    play_url: str,
    game: Mapping[str, Any],
    player: Any,
    tally: Tally,
    think: float,
) -> bool:
    """Play `game` to its finish; False if a move got no 200 in ATTEMPTS tries."""
    history: list[PlayedRound] = []
    points = RoundPoints(**game["round_points"])
    ids = {"game_id": game["game_id"], "game_token": game["game_token"]}
    while True:
        move = player.move(game["game_id"], tuple(history), points)
        body = {**ids, "move": move, "round": len(history) + 1}
        for _ in range(ATTEMPTS):
            reply = tally.call(http, "POST /play", "POST", play_url + "play", json=body)
            if reply is not None and reply.status_code == 200:
                break
            time.sleep(0.2)
        else:
            return False
        answer = reply.json()
        with tally.lock:
            tally.acknowledged[game["game_id"]] = answer["round"]
        history.append(
            PlayedRound(
                answer["round"],
                answer["user_move"],
                answer["bot_move"],
                points,
                answer["user_score"],
                answer["bot_score"],
            )
        )
        if answer["finished"]:
            player.game_over(tuple(history))
            return True
        points = RoundPoints(**answer["next_round_points"])
        time.sleep(think)


def rss_mb(production: Production) -> dict[str, float]:
    """Each function's resident memory: its gunicorn master and workers together."""
    figures = {}
    for server in production.servers:
        if server.name in production.staged:
            pids = [server.process.pid, *_children(server.process.pid)]
            figures[server.name] = sum(_rss_kb(pid) for pid in pids) / 1024
    return figures


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sizes_mb(production: Production) -> dict[str, float]:
    """The game database, MLflow's database and every S3 bucket, in MB."""
    figures = {}
    for name, url in (
        ("game database", production.database_url("database-url")),
        ("MLflow database", production.database_url("mlflow-database-url")),
    ):
        engine = create_engine(url)
        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
        engine.dispose()
        figures[name] = (size or 0) / 1e6
    s3 = production.s3()
    for bucket in s3.list_buckets()["Buckets"]:
        total = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            total += sum(item["Size"] for item in page.get("Contents", []))
        figures[f"bucket {bucket['Name']}"] = total / 1e6
    return figures


def audit(database_url: str, acknowledged: Mapping[str, int], since: str) -> dict[str, int]:
    """Rounds lost (a 200 the store does not hold) and games double-counted (a stored count or
    score that is not what its stored rounds add up to); cycles and promotions since `since`."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored = dict(
            connection.execute(
                select(rounds.c.game_id, func.count())
                .where(rounds.c.game_id.in_(list(acknowledged)))
                .group_by(rounds.c.game_id)
            ).all()
        )
        mismatched = len(inconsistent_games(connection))
        cycles = connection.execute(
            select(training_cycles.c.status, func.count())
            .where(training_cycles.c.started_at >= since)
            .group_by(training_cycles.c.status)
        ).all()
        promotions = connection.execute(
            select(func.count()).where(promotion_ledger.c.created_at >= since)
        ).scalar_one()
    engine.dispose()
    lost = sum(max(0, n - stored.get(game, 0)) for game, n in acknowledged.items())
    return {
        "lost": lost,
        "double_counted": mismatched,
        "promotions": promotions,
        **{f"cycles {status}": count for status, count in cycles},
    }


@dataclass(frozen=True)
class Report:
    seconds: float
    tally: Tally
    audit: dict[str, int]
    rss_start: dict[str, float]
    rss_end: dict[str, float]
    sizes_start: dict[str, float]
    sizes_end: dict[str, float]

    @property
    def rounds(self) -> int:
        return sum(self.tally.acknowledged.values())

    @property
    def server_errors(self) -> int:
        return sum(n for (_, code), n in self.tally.statuses.items() if code >= 500 or code == 0)

    def lines(self) -> list[str]:
        tally = self.tally
        out = [
            f"{self.seconds:.0f} s: {len(tally.acknowledged)} games started, "
            f"{tally.finished} finished, {self.rounds} rounds "
            f"({self.rounds / self.seconds:.1f} rounds/s)",
            "",
            f"{'route':<18} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses",
        ]
        for route, seconds in sorted(tally.latencies.items()):
            ordered = sorted(seconds)
            p99 = ordered[int(0.99 * (len(ordered) - 1))]
            codes = " ".join(
                f"{code}: {n}" for (r, code), n in sorted(tally.statuses.items()) if r == route
            )
            out.append(
                f"{route:<18} {len(ordered):>8} {statistics.median(ordered) * 1e3:>8.1f} "
                f"{p99 * 1e3:>8.1f}  {codes}"
            )
        out += ["", *(f"{key}: {value}" for key, value in self.audit.items()), ""]
        out += [
            f"RSS {name}: {self.rss_start[name]:.0f} → {self.rss_end.get(name, 0):.0f} MB"
            for name in self.rss_start
        ]
        out += [
            f"{name}: {self.sizes_start[name]:.1f} → {self.sizes_end.get(name, 0):.1f} MB"
            for name in self.sizes_start
        ]
        return out


def run(
    production: Production,
    players: int,
    seconds: float,
    think: float,
    progress: Callable[[str], None] = lambda _line: None,
) -> Report:
    """Bootstrap the models if there are none, then soak the running `production` stack."""
    bootstrap_models(production)
    database_url = production.database_url("database-url")
    since = utc_now()
    rss_start, sizes_start = rss_mb(production), sizes_mb(production)
    tally = Tally()
    started = time.monotonic()
    until = started + seconds
    threads = [
        threading.Thread(
            target=play_games,
            args=(k, production.url("start_game"), production.url("play"), tally, until, think),
            daemon=True,
        )
        for k in range(players)
    ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(5)
        progress(f"{time.monotonic() - started:.0f} s: {sum(tally.acknowledged.values())} rounds")
    elapsed = time.monotonic() - started
    return Report(
        elapsed,
        tally,
        audit(database_url, tally.acknowledged, since),
        rss_start,
        rss_mb(production),
        sizes_start,
        sizes_mb(production),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--speed", type=float, default=15, help="schedules run this much faster")
    parser.add_argument(
        "--think", type=float, default=0.25, help="seconds between a player's moves"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rps-soak-") as scratch:
        options = ("--schedule-speed", str(args.speed))
        print("starting the production profile…", flush=True)
        with throwaway(REPO, Path(scratch), {}, options, pings=True) as production:
            report = run(
                production,
                args.players,
                args.minutes * 60,
                args.think,
                lambda line: print(line, flush=True),
            )
    print("\n".join(report.lines()))
    if report.audit["lost"] or report.audit["double_counted"]:
        raise SystemExit("soak: rounds lost or double-counted")


if __name__ == "__main__":
    main()
