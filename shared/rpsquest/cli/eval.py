"""Print the evaluation report of every alias's current model (`make eval`):

rps-eval [--games 10]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from rpsquest.config import Settings
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.models import load_configs
from rpsquest.modelstore import open_store
from rpsquest.store.database import migrate, open_engine
from rpsquest.training.report import ModelReport, evaluate_aliases

# Held-out human play: accuracy apart for sessions against stable and against adaptive bots, as
# people play differently against a bot that learns them; log loss over both.
HUMAN_COLUMNS = {
    "stable acc": "test_human_stable_accuracy",
    "adaptive acc": "test_human_adaptive_accuracy",
    "human loss": "test_human_log_loss",
}


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def report_table(reports: Sequence[ModelReport], games: int) -> Table:
    table = Table(title=f"Held-out human play, and bot win rate in {games} matches per legacy bot")
    for column in ("family", "alias", "config", "version", *HUMAN_COLUMNS):
        table.add_column(column)
    for bot in LEGACY_BOTS:
        table.add_column(f"vs {bot}", justify="right")
    table.add_column("mean", justify="right")
    for r in reports:
        rates = [r.bot_win_rates[bot] for bot in LEGACY_BOTS]
        table.add_row(
            r.family,
            r.alias,
            r.config_id,
            str(r.version),
            *(_score(r.human_scores.get(metric)) for metric in HUMAN_COLUMNS.values()),
            *(f"{rate:.2f}" for rate in rates),
            f"{sum(rates) / len(rates):.2f}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rps-eval", description=__doc__)
    parser.add_argument("--games", type=int, default=10, help="matches per legacy bot")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    database = open_engine(settings.database_url)
    migrate(database)
    reports = evaluate_aliases(
        settings,
        database,
        open_store(settings.model_store),
        load_configs(settings.model_configs),
        args.games,
    )
    if not reports:
        raise SystemExit("No trained models yet: run `rps-train --force` first.")
    Console(width=200).print(report_table(reports, args.games))


if __name__ == "__main__":
    main()
