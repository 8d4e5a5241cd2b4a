"""Every bot against the opponent zoo on the evaluation seeds (`make arena`):

    rps-arena [--sessions 100] [--bots brian ev-uniform] [--types iocaine human-like]
              [--jobs 2] [--start-url http://127.0.0.1:8081/] [--json arena.json]

In-process it plays the real engine with the model store's ONNX models (ML bots fall back to
their legacy bots without them); with --start-url it plays a running stack's policies over HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rpsquest.arena.baselines import BASELINES
from rpsquest.arena.seeds import EVALUATION_SEEDS
from rpsquest.arena.selfplay import SESSION_GAMES
from rpsquest.arena.tournament import Rate, Tournament, run_tournament
from rpsquest.arena.venues import InProcess, OverHttp, Venue
from rpsquest.arena.zoo import ZOO_TYPES, describe
from rpsquest.config import Settings
from rpsquest.game.policies import FAMILY_BY_POLICY, ML_POLICIES, POLICIES

DEFAULT_BOTS = (*ML_POLICIES, *BASELINES)


def _rate(rate: Rate) -> str:
    low, high = rate.interval
    return f"{rate.value:.2f} ({low:.2f}-{high:.2f})"


def results_table(tournament: Tournament) -> Table:
    table = Table(
        title=f"Bot match win rate against the zoo: {tournament.sessions} sessions per cell",
        caption=(
            f"{SESSION_GAMES} games per session; a tie is not a win; 95 % Wilson intervals; "
            "headline = mean over types"
        ),
    )
    table.add_column("type")
    for bot in tournament.bots:
        table.add_column(f"{bot}\ngames 1-10", justify="right")
        table.add_column(f"{bot}\ngame 1", justify="right")
    for kind in tournament.kinds:
        cells = [tournament.cells[bot, kind] for bot in tournament.bots]
        table.add_row(
            kind, *(text for c in cells for text in (_rate(c.games), f"{c.first_games.value:.2f}"))
        )
    table.add_section()
    table.add_row(
        "headline",
        *(
            f"{tournament.headline(bot, first_game):.3f}"
            for bot in tournament.bots
            for first_game in (False, True)
        ),
    )
    table.add_row(
        "rounds per game",
        *(text for bot in tournament.bots for text in (f"{tournament.mean_rounds(bot):.1f}", "")),
    )
    return table


def decision_notes(tournament: Tournament) -> list[str]:
    """Who made each ML bot's decisions after the gambit: its models, or its fallback bot."""
    notes = []
    for bot in tournament.bots:
        if bot not in FAMILY_BY_POLICY:
            continue
        phases = tournament.phases(bot)
        phases.pop("gambit", None)
        if not phases:
            notes.append(f"{bot}: decisions not visible over HTTP")
            continue
        total = sum(phases.values())
        fallback = f"fallback to {FAMILY_BY_POLICY[bot].fallback_bot}"
        shares = ", ".join(
            f"{fallback if phase == 'fallback' else phase} {n / total:.1%}"
            for phase, n in sorted(phases.items())
        )
        notes.append(f"{bot} after the gambit: {shares}")
    return notes


@dataclass(frozen=True, slots=True)
class _Run:
    """What the command line asks for, checked."""

    venue: Venue
    where: str
    bots: list[str]
    kinds: list[str]
    sessions: int
    jobs: int
    json: Path | None


def _venue(start_url: str | None) -> tuple[Venue, str]:
    if start_url:
        return OverHttp(start_url), f"over HTTP against {start_url}"
    settings = Settings.from_env()
    return InProcess(settings), f"in-process, models from {settings.model_store}"


def _arguments(argv: Sequence[str] | None) -> _Run:
    parser = argparse.ArgumentParser(
        prog="rps-arena",
        description=__doc__,
        epilog="zoo types:\n" + "\n".join(f"  {k:13} {describe(k)}" for k in ZOO_TYPES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sessions", type=int, default=100, help="sessions per bot and type")
    parser.add_argument(
        "--bots",
        nargs="+",
        choices=(*POLICIES, *BASELINES),
        metavar="BOT",
        help=f"default: {' '.join(DEFAULT_BOTS)}; over HTTP policies only, {' '.join(ML_POLICIES)}",
    )
    parser.add_argument(
        "--types", nargs="+", choices=ZOO_TYPES, default=ZOO_TYPES, metavar="TYPE", help="see below"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)"
    )
    parser.add_argument("--start-url", help="play a running stack's start_game over HTTP")
    parser.add_argument("--json", type=Path, help="also write the result to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= len(EVALUATION_SEEDS):
        parser.error(f"--sessions must be between 1 and {len(EVALUATION_SEEDS)}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    venue, where = _venue(args.start_url)
    bots = args.bots or [bot for bot in DEFAULT_BOTS if bot in venue.bots]
    if unseated := [bot for bot in bots if bot not in venue.bots]:
        parser.error(f"{' '.join(unseated)} cannot play {where}: baselines play in-process only")
    return _Run(venue, where, bots, list(args.types), args.sessions, args.jobs, args.json)


def main(argv: Sequence[str] | None = None) -> None:
    run = _arguments(argv)
    console = Console(width=200)
    console.print(f"rps-arena {run.where}")
    started = time.perf_counter()
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(
                "sessions", total=len(run.bots) * len(run.kinds) * run.sessions
            )
            tournament = run_tournament(
                run.venue,
                run.bots,
                run.kinds,
                run.sessions,
                run.jobs,
                lambda: progress.advance(task),
            )
    except requests.RequestException as exc:
        raise SystemExit(f"arena: the server did not answer as expected: {exc}") from None
    seconds = time.perf_counter() - started
    console.print(results_table(tournament))
    for note in decision_notes(tournament):
        console.print(note)
    console.print(f"{seconds:.1f} s wall time, --jobs {run.jobs}")
    if run.json:
        result = {"venue": run.where, "seconds": seconds, **tournament.as_json()}
        run.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
