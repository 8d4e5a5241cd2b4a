"""Legacy bots playing the server over HTTP, as players would:

    rps-simulate --games 50 --player cal --policy brian \
        --start-url http://127.0.0.1:8081
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rpsquest.client import Client
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.policies import POLICIES


@dataclass
class Tally:
    games: int = 0
    rounds: int = 0
    winners: dict[str, int] = field(default_factory=lambda: {"user": 0, "bot": 0, "tie": 0})

    def add(self, winner: str, rounds: int) -> None:
        self.games += 1
        self.rounds += rounds
        self.winners[winner] += 1


def simulate(
    client: Client, players: Sequence[str], policies: Sequence[str], games: int, **start: Any
) -> dict[tuple[str, str], Tally]:
    tallies = {pair: Tally() for pair in itertools.product(players, policies)}
    with Progress(transient=True) as progress:
        task = progress.add_task("playing", total=games * len(tallies))
        for (player, policy), tally in tallies.items():
            for _ in range(games):
                tally.add(*client.play_game(player, policy, **start))
                progress.advance(task)
    return tallies


def summary(tallies: dict[tuple[str, str], Tally]) -> Table:
    table = Table(title="Simulated games")
    for column in (
        "player",
        "policy",
        "games",
        "player wins",
        "bot wins",
        "ties",
        "bot win rate",
        "avg rounds",
    ):
        table.add_column(column, justify="left" if column in ("player", "policy") else "right")
    for (player, policy), t in tallies.items():
        table.add_row(
            player,
            policy,
            str(t.games),
            str(t.winners["user"]),
            str(t.winners["bot"]),
            str(t.winners["tie"]),
            f"{t.winners['bot'] / max(1, t.games):.2f}",
            f"{t.rounds / max(1, t.games):.1f}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rps-simulate", description=__doc__)
    parser.add_argument("--games", type=int, default=10, help="games per player and policy")
    parser.add_argument("--player", choices=[*LEGACY_BOTS, "all"], default="all")
    parser.add_argument("--policy", choices=[*POLICIES, "all"], default="brian")
    parser.add_argument("--difficulty", choices=["normal", "easy"], default="normal")
    parser.add_argument("--start-url", default="http://127.0.0.1:8081/")
    parser.add_argument("--test", action="store_true", help="mark the games is_test")
    args = parser.parse_args(argv)
    players = LEGACY_BOTS if args.player == "all" else (args.player,)
    policies = POLICIES if args.policy == "all" else (args.policy,)
    start = {"difficulty": args.difficulty, "is_test": args.test}
    try:
        tallies = simulate(Client(args.start_url), players, policies, args.games, **start)
    except requests.RequestException as exc:
        raise SystemExit(f"simulate: the server did not answer as expected: {exc}") from None
    Console().print(summary(tallies))


if __name__ == "__main__":
    main()
