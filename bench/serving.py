"""Serving benchmarks for play (`make bench`), measured side by side in one run:

(a) cold start: a new play process to its first ML-backed answer, 12 models in the store,
    against a fresh interpreter merely importing torch, xgboost, sklearn, mlflow and boto3;
(b) peak RSS of the play worker with all 12 models loaded;
(c) warm throughput and latency of POST / with wrk over loopback, many concurrent games.

    python bench/serving.py [--project DIR] [--seconds 10]

Without --project it trains the repo's configs on a small bootstrap corpus first (minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from rpsquest.config import Settings
from rpsquest.local import Server, start_function, wait_healthy

REPO = Path(__file__).resolve().parents[1]

HEAVY_IMPORT = "import torch, xgboost, sklearn, mlflow, boto3"
POLICIES = ("brian", "forrest", "logan")
COLD_TRIALS = 5
CONNECTIONS = int(os.environ.get("RPS_BENCH_CONNECTIONS", "8"))  # = the pod's THREADS
TARGETS = {"cold_s": 0.6, "ratio": 6.0, "rss_mb": 150.0, "rps": 400.0, "p99_ms": 10.0}
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

    start_game = start_function("start_game", 18181, REPO, env)
    play = start_function("play", 18182, REPO, env)
    try:
        wait_healthy([start_game, play])
        cold_games = new_games(start_game.url, play.url, COLD_TRIALS, rounds=3)
        load_games = new_games(start_game.url, play.url, 600, rounds=3)
        play.stop()
        cold = [cold_start(env, g, 18183) for g in cold_games]
        heavy = [heavy_import_seconds() for _ in range(3)]

        play = start_function("play", 18182, REPO, env)
        wait_healthy([play])
        for game in load_games[:3]:  # one ML round per family loads its four models first
            requests.post(play.url, json=game, timeout=10).raise_for_status()
        games_file = project / "bench-games.txt"
        games_file.write_text(
            "\n".join(json.dumps({**g, "move": "MOVE"}) for g in load_games) + "\n"
        )
        warm = run_wrk(play.url, games_file, args.seconds)
        loaded = requests.get(play.url + "models", timeout=10).json()["loaded"]
        worker_mb, master_mb = peak_rss_mb(play)
    finally:
        play.stop()
        start_game.stop()
        if not args.project:
            shutil.rmtree(project, ignore_errors=True)

    cold_median, heavy_median = statistics.median(cold), statistics.median(heavy)
    rows = [
        ("ONNX artifacts", f"{len(sizes)} files, {sum(sizes) / 1024:.0f} KiB", ""),
        ("(a) play cold start, median of 5", f"{cold_median:.3f} s", f"≤ {TARGETS['cold_s']} s"),
        ("    runs", ", ".join(f"{c:.3f}" for c in cold), ""),
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
        ("    models loaded / gunicorn master RSS", f"{len(loaded)} / {master_mb:.0f} MB", ""),
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
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'measured':<22}  target")
    for label, value, target in rows:
        print(f"{label:<{width}}  {value:<22}  {target}")


if __name__ == "__main__":
    main()
