"""Held-out human accuracy of each family's Production config, stable- and adaptive-bot sessions
apart, on the bootstrap dataset of an empty store (the data a young deployment trains on):

    python bench/human_accuracy.py [--bootstrap-rounds 10000] [--seed 2024]

It trains in-process and registers nothing: a quick check that a feature contract does not
lose what the previous one predicted. The split is train's own, so runs on different contracts
hold out the same games.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rpsquest import FEATURE_CONTRACT
from rpsquest.config import Settings
from rpsquest.game.policies import FAMILIES
from rpsquest.models import load_configs, train
from rpsquest.store.database import migrate, open_engine
from rpsquest.training.dataset import Dataset, build_dataset
from rpsquest.training.evaluation import accuracy_by_group

REPO = Path(__file__).resolve().parent.parent
GROUPS = {"human": "human", "stable": "human_stable", "adaptive": "human_adaptive"}


def bootstrap_dataset(rounds: int) -> Dataset:
    """The dataset a cycle builds on a store with no live games."""
    with tempfile.TemporaryDirectory(prefix="rps-bench-") as project:
        settings = Settings.from_env(
            {"RPS_PROJECT_DIR": project, "RPS_TRAIN_BOOTSTRAP_ROUNDS": str(rounds)}
        )
        database = open_engine(settings.database_url)
        migrate(database)
        try:
            return build_dataset(database, settings)
        finally:
            database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap-rounds", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    dataset = bootstrap_dataset(args.bootstrap_rounds)
    groups = dataset.held_out_human()
    sizes = ", ".join(f"{label} {int(groups[name].sum())}" for label, name in GROUPS.items())
    print(f"{FEATURE_CONTRACT}: {len(dataset.y_train)} training rows; held out: {sizes}")
    configs = load_configs(REPO / "configs" / "model_configs.json")
    for family in FAMILIES:
        config = configs.bootstrap_config(family.name, "Production")
        model = train(
            config, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, args.seed
        )
        scores = accuracy_by_group(model.predict_proba(dataset.X_test), dataset.y_test, groups)
        shown = "  ".join(
            f"{label} {scores[f'test_{name}_accuracy']:.4f}" for label, name in GROUPS.items()
        )
        print(f"{family.name:<12} {config.config_id:<9} {shown}", flush=True)


if __name__ == "__main__":
    main()
