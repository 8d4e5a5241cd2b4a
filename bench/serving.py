"""Serving benchmarks for play (`make bench`), measured side by side in one run:

(a) cold start: a new play process to its first ML-backed answer, 12 models in the store,
    against a fresh interpreter merely importing torch, xgboost, sklearn, mlflow and boto3;
(b) peak RSS of the play worker with all 12 models loaded;
(c) warm throughput and latency of POST / with wrk over loopback, many concurrent games
    (closed loop: 8 connections, each sending its next round when the last one is answered);
(e) latency at a fixed offered load of 200 rounds/s (open loop), games replaced as they end.
    (c)'s latency is mostly queueing: one worker's 8 threads share one GIL, so a round waits
    behind up to 7 others, and by Little's law the mean is 8 / throughput (33 ms at 240
    rounds/s), whatever a round costs alone; (e) measures a round's latency at a fixed load,
    which stays low only while that load is well below the worker's throughput;
(d) the decision's own time per ML round, in-process on the same models.
(a), (c) and (e) run twice, SPEC §5.1's plain EV (RPS_ADAPTIVE_POLICY=false) beside the adaptive
policy, so that what the adaptive policy costs is a ratio measured in one run.

    python bench/serving.py [--project DIR] [--seconds 10]

Without --project it trains the repo's configs on a small bootstrap corpus first (minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

from rpsquest.config import Settings
from rpsquest.processes import Server, start_function, wait_healthy

REPO = Path(__file__).resolve().parents[1]

HEAVY_IMPORT = "import torch, xgboost, sklearn, mlflow, boto3"
POLICIES = ("brian", "forrest", "logan")
PLAY_URL = "http://127.0.0.1:18182/"
COLD_TRIALS = 5
CONNECTIONS = int(os.environ.get("RPS_BENCH_CONNECTIONS", "8"))  # = the pod's THREADS
OPEN_LOOP_RATE = 200.0  # rounds/s offered, whatever the replies' pace
OPEN_LOOP_GAMES = 64
TARGETS = {
    "cold_s": 0.6,
    "ratio": 6.0,
    "rss_mb": 150.0,
    "rps": 400.0,
    "p99_ms": 10.0,
    "open_p99_ms": 15.0,
}
WRK_SCRIPT = """
local games = {}
for line in io.lines(os.getenv("RPS_BENCH_GAMES")) do games[#games + 1] = line end
local moves = {"rock", "paper", "scissors"}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local game = games[(n % #games) + 1]
  local body = game:gsub("MOVE", moves[(n % 3) + 1])
  return wrk.format(nil, "/", nil, body)
end
-- A round that finishes its game takes the game out of the rotation: a move on a finished
-- game is a 409, which the run would count against the server. The rotation is long enough
-- that no request for the finished game is in flight by then.
response = function(status, headers, body)
  if status == 200 and body:find('"finished":true', 1, true) then
    local id = body:match('"game_id":"([^"]+)"')
    for i = #games, 1, -1 do
      if games[i]:find(id, 1, true) then table.remove(games, i) end
    end
  end
end
"""


def sh(*command: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def train_and_publish(project: Path, env: dict[str, str]) -> None:
    """Train the repo's 12 configs on a small corpus and publish the §7.2 starting table."""
    print("training 12 models with the repo's configs (this takes a few minutes)…", flush=True)
    sh(sys.executable, "-m", "rpsquest.cli.train", "--force", env=env)
    from rpsquest.models import load_configs
    from rpsquest.modelstore import open_store
    from rpsquest.registry import publish
    from rpsquest.store.database import open_engine, read_connection
    from rpsquest.store.lineages import newest_versions
    from rpsquest.training.cycle import lineage_configs

    settings = Settings.from_env(env)
    database = open_engine(settings.database_url)
    with read_connection(database) as connection:
        versions = newest_versions(connection)
    rows = []
    for family, aliases in lineage_configs(database, load_configs(settings.model_configs)).items():
        for alias, config in aliases.items():
            row = versions[family, config.config_id]
            rows.append({**row, "alias": alias, "assignment_id": len(rows) + 1})
    publish(settings, open_store(settings.model_store), rows, previous_manifest=None)
    database.dispose()


def new_games(start_url: str, play_url: str, count: int, rounds: int) -> list[dict[str, str]]:
    """Games advanced past their gambit, so every measured round is an ML round."""
    http = requests.Session()
    games = []
    for k in range(count):
        game = http.post(start_url, json={"policy": POLICIES[k % 3]}, timeout=10).json()
        body = {"game_id": game["game_id"], "game_token": game["game_token"], "move": "rock"}
        for _ in range(rounds):
            http.post(play_url, json=body, timeout=10).raise_for_status()
        games.append(body)
    return games


def cold_start(env: dict[str, str], game: dict[str, str], port: int) -> float:
    """Seconds from spawning play to its answer for round 4 of a prepared game."""
    started = time.perf_counter()
    server = start_function("play", port, REPO, env)
    try:
        while True:
            try:
                response = requests.post(server.url, json=game, timeout=10)
                break
            except requests.ConnectionError:
                time.sleep(0.002)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return elapsed
    finally:
        server.stop()


def heavy_import_seconds() -> float:
    started = time.perf_counter()
    sh(sys.executable, "-c", HEAVY_IMPORT)
    return time.perf_counter() - started


def peak_rss_mb(server: Server) -> tuple[float, float]:
    """(worker VmHWM, master VmRSS) in MB: gunicorn forks one worker that loads the models."""

    def status(pid: int, field: str) -> float:
        text = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) / 1024

    workers = [int(p) for p in sh("pgrep", "-P", str(server.process.pid)).split()]
    return max(status(p, "VmHWM") for p in workers), status(server.process.pid, "VmRSS")


def run_wrk(url: str, games_file: Path, seconds: int) -> dict[str, float]:
    script = games_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    output = sh(
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
        env={**os.environ, "RPS_BENCH_GAMES": str(games_file)},
    )

    def latency(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


async def _open_loop(start_url: str, play_url: str, rate: float, seconds: float) -> dict:
    """Rounds offered at `rate` per second on a fixed schedule, whatever pace the replies keep
    (open loop): a round's latency runs from its scheduled time, so a stall also counts against
    every round queued behind it. Each round goes to a game with no round in flight; a game
    that finishes is replaced by a new one (its start is not a round). Every round counts,
    the scripted opening ones too."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def new_game(k: int) -> dict[str, str]:
            async with http.post(start_url, json={"policy": POLICIES[k % 3]}) as reply:
                game = await reply.json()
            return {"game_id": game["game_id"], "game_token": game["game_token"]}

        idle = [await new_game(k) for k in range(OPEN_LOOP_GAMES)]
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        started_games = len(idle)

        async def one_round(game: dict[str, str], due: float, n: int) -> None:
            nonlocal started_games
            body = {**game, "move": ("rock", "paper", "scissors")[n % 3]}
            async with http.post(play_url, json=body) as reply:
                reply_body = await reply.json()
                latencies.append(time.perf_counter() - due)
                statuses[reply.status] += 1
            if reply.status == 200 and reply_body["finished"]:
                started_games += 1
                game = await new_game(started_games)
            idle.append(game)

        tasks = set()
        t0 = time.perf_counter()
        for n in range(int(rate * seconds)):
            due = t0 + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if not idle:  # every game has a round in flight: the server is far behind
                statuses[0] += 1
                continue
            task = asyncio.create_task(one_round(idle.pop(), due, n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "rounds": len(latencies),
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1e3,
        "max_ms": latencies[-1] * 1e3,
        "statuses": dict(statuses),
        "games": started_games,
    }


def open_loop(start_url: str, play_url: str, seconds: float) -> dict:
    return asyncio.run(_open_loop(start_url, play_url, OPEN_LOOP_RATE, seconds))


def decision_microseconds(settings: Settings, sessions: int = 8) -> dict[str, float]:
    """Mean time of one ML round's decision (the four models' prediction included), plain EV
    against adaptive with its state kept, and the rebuild of a 10-game session's state."""
    from rpsquest.arena.selfplay import play_session
    from rpsquest.game.adaptive import AdaptiveMemory, AdaptiveState
    from rpsquest.game.bots import decide
    from rpsquest.game.legacy import LEGACY_BOTS
    from rpsquest.game.players import LegacyPlayer
    from rpsquest.serving import ServingModels

    models = ServingModels(settings)
    figures, played = {}, []
    for mode, memory in (("plain", None), ("adaptive", AdaptiveMemory())):
        spent, count = 0.0, 0

        def bot(situation, memory=memory):
            nonlocal spent, count
            started = time.perf_counter()
            decision = decide(situation, "bench", models, memory)
            if decision.phase == "ml":
                spent, count = spent + time.perf_counter() - started, count + 1
            return decision

        for k in range(sessions):
            player = LegacyPlayer(LEGACY_BOTS[k % len(LEGACY_BOTS)])
            played.append(play_session(f"bench-{k}", player, POLICIES[k % 3], "bench", bot=bot))
        figures[mode] = spent / count * 1e6
    started = time.perf_counter()
    for games in played:
        AdaptiveState().follow(games)
    figures["rebuild_ms"] = (time.perf_counter() - started) / len(played) * 1e3
    return figures


def measure(env: dict[str, str], start_url: str, project: Path, seconds: int) -> dict:
    """Cold starts and the warm wrk run of play in one policy mode."""
    play = start_function("play", 18182, REPO, env)
    try:
        wait_healthy([play])
        cold_games = new_games(start_url, play.url, COLD_TRIALS, rounds=3)
        load_games = new_games(start_url, play.url, 600, rounds=3)
    finally:
        play.stop()
    cold = [cold_start(env, g, 18183) for g in cold_games]
    play = start_function("play", 18182, REPO, env)
    try:
        wait_healthy([play])
        # Each game's first ML round in a process loads its family's models and, adaptive,
        # rebuilds the session's state from the store: once per game and instance, which (d)
        # measures apart. wrk then measures the rounds a warm instance plays.
        http = requests.Session()
        for game in load_games:
            http.post(play.url, json=game, timeout=10).raise_for_status()
        games_file = project / "bench-games.txt"
        games_file.write_text(
            "\n".join(json.dumps({**g, "move": "MOVE"}) for g in load_games) + "\n"
        )
        warm = run_wrk(play.url, games_file, seconds)
        offered = open_loop(start_url, play.url, seconds)
        loaded = requests.get(play.url + "models", timeout=10).json()["loaded"]
        worker_mb, master_mb = peak_rss_mb(play)
    finally:
        play.stop()
    return {
        "cold": cold,
        "warm": warm,
        "open": offered,
        "loaded": loaded,
        "rss": (worker_mb, master_mb),
    }


def _statuses(run: dict) -> str:
    return " ".join(f"{code}: {count}" for code, count in sorted(run["statuses"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, help="a project whose var/ has a manifest")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    project = args.project or Path(tempfile.mkdtemp(prefix="rps-bench-"))
    env = {
        **os.environ,
        "RPS_PROJECT_DIR": str(project),
        "RPS_MODEL_CONFIGS": str(REPO / "configs" / "model_configs.json"),
        "RPS_TRAIN_BOOTSTRAP_ROUNDS": "4000",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    if not (project / "var" / "models" / "manifest.json").is_file():
        train_and_publish(project, env)
    manifest = json.loads((project / "var" / "models" / "manifest.json").read_text())
    sizes = [
        (project / "var" / "models" / e["artifact"]).stat().st_size
        for aliases in manifest["models"].values()
        for e in aliases.values()
    ]

    modes = {
        mode: {**env, "RPS_ADAPTIVE_POLICY": flag, "RPS_PLAY_URL": PLAY_URL}
        for mode, flag in (("plain", "false"), ("adaptive", "true"))
    }
    start_game = start_function("start_game", 18181, REPO, env)
    try:
        wait_healthy([start_game])
        heavy = [heavy_import_seconds() for _ in range(3)]
        runs = {
            mode: measure(e, start_game.url, project, args.seconds) for mode, e in modes.items()
        }
        decisions = decision_microseconds(Settings.from_env(env))
    finally:
        start_game.stop()
        if not args.project:
            shutil.rmtree(project, ignore_errors=True)

    heavy_median = statistics.median(heavy)
    plain, adaptive = runs["plain"], runs["adaptive"]
    cold_median = statistics.median(adaptive["cold"])
    plain_cold = statistics.median(plain["cold"])
    warm, plain_warm = adaptive["warm"], plain["warm"]
    opened = adaptive["open"]
    worker_mb, master_mb = adaptive["rss"]
    rows = [
        ("ONNX artifacts", f"{len(sizes)} files, {sum(sizes) / 1024:.0f} KiB", ""),
        ("(a) play cold start, median of 5", f"{cold_median:.3f} s", f"≤ {TARGETS['cold_s']} s"),
        ("    runs", ", ".join(f"{c:.3f}" for c in adaptive["cold"]), ""),
        ("    with plain EV, median of 5", f"{plain_cold:.3f} s", ""),
        ("    adaptive / plain EV", f"{cold_median / plain_cold:.2f}x", "≤ 1.10x"),
        ("    import torch+xgboost+sklearn+mlflow+boto3, median of 3", f"{heavy_median:.3f} s", ""),
        (
            "    ratio import / cold start",
            f"{heavy_median / cold_median:.1f}x",
            f"≥ {TARGETS['ratio']:.0f}x",
        ),
        (
            "(b) play worker peak RSS, 12 models loaded",
            f"{worker_mb:.0f} MB",
            f"≤ {TARGETS['rss_mb']:.0f} MB",
        ),
        (
            "    models loaded / gunicorn master RSS",
            f"{len(adaptive['loaded'])} / {master_mb:.0f} MB",
            "",
        ),
        (
            f"(c) warm throughput, 1 worker, 8 threads, wrk -c{CONNECTIONS}",
            f"{warm['rps']:.0f} rounds/s",
            f"≥ {TARGETS['rps']:.0f}",
        ),
        (
            "    p50 / p99 latency",
            f"{warm['p50_ms']:.2f} / {warm['p99_ms']:.2f} ms",
            f"p99 ≤ {TARGETS['p99_ms']:.0f} ms",
        ),
        ("    requests / non-2xx", f"{warm['requests']:.0f} / {warm['non_2xx']:.0f}", ""),
        (
            "    with plain EV: rounds/s, p50 / p99",
            f"{plain_warm['rps']:.0f}, {plain_warm['p50_ms']:.2f} / {plain_warm['p99_ms']:.2f} ms",
            "",
        ),
        (
            "    adaptive / plain EV throughput",
            f"{warm['rps'] / plain_warm['rps']:.2f}x",
            "≥ 0.90x",
        ),
        (
            f"(e) open loop, {OPEN_LOOP_RATE:.0f} rounds/s offered: p50 / p99 / max",
            f"{opened['p50_ms']:.2f} / {opened['p99_ms']:.2f} / {opened['max_ms']:.0f} ms",
            f"p99 ≤ {TARGETS['open_p99_ms']:.0f} ms",
        ),
        (
            "    rounds, by status (0: no idle game) / games",
            f"{opened['rounds']}, {_statuses(opened)} / {opened['games']}",
            "",
        ),
        (
            "    with plain EV: p50 / p99",
            f"{runs['plain']['open']['p50_ms']:.2f} / {runs['plain']['open']['p99_ms']:.2f} ms",
            "",
        ),
        (
            "(d) decision per ML round, plain EV / adaptive",
            f"{decisions['plain']:.0f} / {decisions['adaptive']:.0f} µs",
            "",
        ),
        (
            "    added by the adaptive policy",
            f"{decisions['adaptive'] - decisions['plain']:.0f} µs",
            "",
        ),
        ("    rebuilding a 10-game session's state", f"{decisions['rebuild_ms']:.1f} ms", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'measured':<22}  target")
    for label, value, target in rows:
        print(f"{label:<{width}}  {value:<22}  {target}")


if __name__ == "__main__":
    main()
