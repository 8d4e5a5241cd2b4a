"""Print the evaluation report of every alias's current model (`make eval`):

rps-eval [--games 10]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from rpsquest.arena.zoo import ZOO_TYPES
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


def _score(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report_table(reports: Sequence[ModelReport], games: int) -> Table:
    table = Table(title=f"Held-out human play, and bot win rate in {games} matches per legacy bot")
    for column in ("family", "alias", "config", "version", *HUMAN_COLUMNS):
        table.add_column(column)
    for bot in LEGACY_BOTS:
        table.add_column(f"vs {bot}", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("arena", justify="right")
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
            _score(r.arena.headline if r.arena else None),
        )
    return table


def arena_table(reports: Sequence[ModelReport]) -> Table:
    """Each model's strength check as its training cycle logged it: a column per model."""
    table = Table(
        title="Arena win rate per zoo type",
        caption=(
            "Match win rate over games 1-10 in each model's training cycle "
            "(RPS_TRAIN_ARENA_SESSIONS sessions per type, evaluation seeds); "
            "headline = mean over types"
        ),
    )
    table.add_column("type")
    for r in reports:
        table.add_column(f"{r.family}\n{r.alias}", justify="right")
    for kind in ZOO_TYPES:
        table.add_row(
            kind,
            *(_score(r.arena.win_rates.get(kind) if r.arena else None, 2) for r in reports),
        )
    table.add_section()
    table.add_row("headline", *(_score(r.arena.headline if r.arena else None) for r in reports))
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
    console = Console(width=200)
    console.print(report_table(reports, args.games))
    if any(r.arena for r in reports):
        console.print(arena_table(reports))


if __name__ == "__main__":
    main()
