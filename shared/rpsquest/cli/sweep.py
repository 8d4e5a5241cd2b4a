"""Train a grid of hyperparameter configs on the current data and print them side by side:

    rps-sweep [--families logistic] [--configs mn_c06 mn_default] [--csv out.csv]

Without --configs it trains every config of configs/model_configs.json for the families given.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rpsquest.config import Settings
from rpsquest.game.policies import FAMILY_NAMES
from rpsquest.models import load_configs
from rpsquest.store.database import migrate, open_engine
from rpsquest.training.dataset import build_dataset
from rpsquest.training.sweep import SweepResult, sweep

COLUMNS = ("val_accuracy", "val_log_loss", "test_accuracy", "test_log_loss", "test_human_accuracy")
SEED = 2024


def results_table(results: Sequence[SweepResult]) -> Table:
    table = Table(title="Sweep (sorted by validation log loss within each family)")
    for column in ("family", "config", *COLUMNS, "seconds"):
        table.add_column(column)
    for r in results:
        scores = [f"{r.metrics[c]:.4f}" if c in r.metrics else "n/a" for c in COLUMNS]
        table.add_row(r.config.family, r.config.config_id, *scores, f"{r.seconds:.1f}")
    return table


def write_csv(path: Path, results: Sequence[SweepResult]) -> None:
    keys = sorted({key for r in results for key in r.metrics})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["family", "config_id", *keys, "seconds"])
        for r in results:
            row = [r.metrics.get(key, "") for key in keys]
            writer.writerow([r.config.family, r.config.config_id, *row, f"{r.seconds:.3f}"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rps-sweep", description=__doc__)
    parser.add_argument("--families", nargs="+", choices=FAMILY_NAMES, default=FAMILY_NAMES)
    parser.add_argument("--configs", nargs="+", help="config ids (default: all of the families)")
    parser.add_argument("--csv", type=Path, help="also write every metric to this CSV file")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    catalogue = load_configs(settings.model_configs)
    chosen = (
        [catalogue.get(config_id) for config_id in args.configs]
        if args.configs
        else [c for c in catalogue.configs.values() if c.family in args.families]
    )
    database = open_engine(settings.database_url)
    migrate(database)
    dataset = build_dataset(database, settings)
    results = sorted(
        sweep(chosen, dataset, SEED),
        key=lambda r: (FAMILY_NAMES.index(r.config.family), r.metrics["val_log_loss"]),
    )
    Console(width=160).print(results_table(results))
    if args.csv:
        write_csv(args.csv, results)


if __name__ == "__main__":
    main()
