"""Training at scale (`make bench`): one cycle on the cap of live labelled rounds.

(a) the store fills with live games as players make them: opponent-zoo players (training seeds,
    sessions of ten games) play whole games against brian, forrest and logan over HTTP, on
    start_game and play served from this checkout, until the live labelled rounds pass the
    cap (RPS_TRAIN_MAX_ROUNDS, 20,000), so the cycle reads the cap and no bootstrap corpus;
(b) one forced cycle trains the twelve models with the repo's configs in a child process,
    as the train function would: its time per family and in total against the budget
    (RPS_TRAIN_BUDGET_SECONDS, 480 s), and the child's peak RSS.

    python bench/training.py [--project DIR] [--rounds 20000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rpsquest import metrics
from rpsquest.api import TrainRequest
from rpsquest.arena.seeds import training_seed
from rpsquest.arena.zoo import ZOO_TYPES, zoo_player
from rpsquest.client import Client
from rpsquest.config import Settings
from rpsquest.game.gambits import GAMBIT_ROUNDS
from rpsquest.processes import start_function, wait_healthy
from rpsquest.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
POLICIES = ("brian", "forrest", "logan")
SESSION_GAMES = 10
PLAYERS = 4  # sessions played at once
START_PORT, PLAY_PORT = 18281, 18282


def play_session(client: Client, number: int) -> int:
    """Session `number`'s ten games; returns their labelled rounds."""
    kind = ZOO_TYPES[number % len(ZOO_TYPES)]
    player = zoo_player(kind, training_seed(number))
    labelled = 0
    for game in range(SESSION_GAMES):
        policy = POLICIES[(number + game) % len(POLICIES)]
        rounds = client.play_match(player, policy, session_id=f"bench-{number}")
        player.game_over(rounds)
        labelled += max(0, len(rounds) - GAMBIT_ROUNDS)
    return labelled


def fill(env: dict[str, str], rounds: int) -> tuple[int, int, float]:
    """(sessions, labelled rounds, seconds) of live play until `rounds` labelled rounds."""
    servers = [
        start_function("start_game", START_PORT, REPO, env),
        start_function("play", PLAY_PORT, REPO, env),
    ]
    started = time.perf_counter()
    try:
        wait_healthy(servers)
        clients = [Client(servers[0].url, play_url=servers[1].url) for _ in range(PLAYERS)]
        labelled, sessions = 0, 0
        numbers = itertools.count()
        with ThreadPoolExecutor(PLAYERS) as pool:
            while labelled < rounds:
                batch = [next(numbers) for _ in range(PLAYERS)]
                labelled += sum(pool.map(play_session, clients, batch))
                sessions += len(batch)
                print(f"\r  {labelled:,} labelled rounds", end="", flush=True)
        print()
        return sessions, labelled, time.perf_counter() - started
    finally:
        for server in servers:
            server.stop()


def cycle_in_child(env: dict[str, str], report: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one forced cycle run by this script's --cycle mode."""
    command = [sys.executable, __file__, "--cycle", str(report)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the training cycle failed ({status})")
    return elapsed, usage.ru_maxrss / 1024  # kB on Linux


def run_cycle(report: Path) -> None:
    """The child: one forced cycle as the train function runs it, its event data to `report`."""
    result = Trainer.open(Settings.from_env()).train(TrainRequest(force=True), None)
    if result is None or result.status != "success":
        raise SystemExit(f"cycle did not succeed: {result and result.event_data()}")

    def observed(family: str, part: str) -> float | None:
        name = f"rps_training_duration_seconds_{part}"
        return metrics.REGISTRY.get_sample_value(name, {"family": family})

    families = {f: [observed(f, "count"), observed(f, "sum")] for f in result.models}
    report.write_text(json.dumps({**result.event_data(), "families": families}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--project", type=Path, help="default: a fresh temporary folder")
    parser.add_argument("--rounds", type=int, default=20_000)
    parser.add_argument("--cycle", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cycle:
        return run_cycle(args.cycle)
    project = args.project or Path(tempfile.mkdtemp(prefix="rps-bench-training-"))
    env = {
        **os.environ,
        "RPS_PROJECT_DIR": str(project),
        "RPS_MODEL_CONFIGS": str(REPO / "configs" / "model_configs.json"),
        "RPS_TRAIN_MAX_ROUNDS": str(args.rounds),
        "RPS_PLAY_URL": f"http://127.0.0.1:{PLAY_PORT}/",
    }
    settings = Settings.from_env(env)
    print(f"project {project}; filling the store with live games…", flush=True)
    sessions, labelled, fill_seconds = fill(env, args.rounds)
    print(f"  {sessions} sessions, {labelled:,} labelled rounds in {fill_seconds:.0f} s")
    report = project / "cycle.json"
    wall, rss = cycle_in_child(env, report)
    event = json.loads(report.read_text())
    print(f"\none cycle on {event['data']['live_rounds']:,} live labelled rounds")
    print(f"{'family':<12} {'models':>6} {'seconds':>8}")
    for family, (models, seconds) in event["families"].items():  # train, export, check, register
        print(f"{family:<12} {models:>6.0f} {seconds:>8.1f}")
    budget = settings.train_budget_seconds
    print(f"{'cycle':<12} {'':>6} {event['duration_seconds']:>8.1f}   budget {budget:.0f} s")
    print(f"process wall {wall:.1f} s, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
