"""Run one training cycle from a shell, as the train function would:

rps-train [--force] [--families feedforward xgboost logistic]
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from rpsquest.api import TrainRequest
from rpsquest.config import Settings
from rpsquest.game.policies import FAMILY_NAMES
from rpsquest.training.cycle import CycleResult
from rpsquest.training.trainer import Trainer


def results_table(result: CycleResult) -> Table:
    table = Table(title=f"Cycle {result.cycle_id}: {result.status}")
    for column in ("family", "alias", "config", "version", "val acc", "test acc", "test loss"):
        table.add_column(column)
    for family, aliases in result.models.items():
        for alias, entry in aliases.items():
            scores = entry["metrics"]
            table.add_row(
                family,
                alias,
                entry["config_id"],
                str(entry["version"]),
                f"{scores['val_accuracy']:.3f}",
                f"{scores['test_accuracy']:.3f}",
                f"{scores['test_log_loss']:.3f}",
            )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rps-train", description=__doc__)
    parser.add_argument("--force", action="store_true", help="train even without new data")
    parser.add_argument("--families", nargs="+", choices=FAMILY_NAMES)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler()])
    request = TrainRequest(force=args.force, families=tuple(args.families or ()) or None)
    result = Trainer.open(Settings.from_env()).train(request, trigger_event_id=None)
    console = Console()
    if result is None:
        raise SystemExit("another training cycle holds the lease; try again later")
    if result.status == "skipped":
        console.print(f"Nothing trained: {result.reason}")
        return
    console.print(results_table(result))


if __name__ == "__main__":
    main()
