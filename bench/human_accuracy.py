"""Held-out human next-move accuracy of each family's Production config, for the corpus'
stable-bot and adaptive-bot sessions apart:

    python bench/human_accuracy.py [--bootstrap-rounds 10000] [--held-out-games 2500] [--seed 2024]

Each model trains in-process, as a young deployment's first cycle does (the bootstrap dataset of
an empty store, whatever mix and feature contract this checkout has), and registers nothing.
It is scored on the last `--held-out-games` pseudo-games of the shuffled human corpus, which no
bootstrap fill reaches: the same games whatever the contract or the mix, so two checkouts can be
compared (run this file with another checkout's package first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rpsquest import FEATURE_CONTRACT
from rpsquest.config import Settings
from rpsquest.game.policies import FAMILIES
from rpsquest.models import load_configs, train
from rpsquest.store.database import migrate, open_engine
from rpsquest.training.corpus import human_corpus
from rpsquest.training.dataset import Dataset, build_dataset, labelled_rows

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "shared" / "rpsquest" / "training" / "data" / "brockbank_vul_2024_rounds.csv.gz"
COHORTS = {"E1_stable_bots": "stable", "E2_adaptive_bots": "adaptive"}


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


def session_cohorts() -> dict[str, str]:
    """Each corpus session's cohort by its number, read from the CSV itself."""
    rows = csv.DictReader(io.StringIO(gzip.decompress(CORPUS.read_bytes()).decode()))
    return {row["game"]: COHORTS[row["experiment"]] for row in rows}


def held_out(games: int, trained_rounds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and cohorts of the corpus' last `games` pseudo-games (ids
    `bv2024:<session>:<n>`), after checking that the fill stopped well before them."""
    corpus = human_corpus()
    tail = corpus[-games:]
    if sum(len(g.rounds) for g in corpus[:-games]) < trained_rounds:
        raise SystemExit("the held-out games overlap what a bootstrap fill may take")
    cohorts = session_cohorts()
    features: list[Sequence[float]] = []
    labels: list[int] = []
    groups: list[str] = []
    for game in tail:
        rows, moves = labelled_rows(game.rounds, easy=False)
        features += rows
        labels += moves
        groups += [cohorts[game.id.split(":")[1]]] * len(moves)
    return np.asarray(features, np.float32), np.asarray(labels), np.asarray(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap-rounds", type=int, default=10000)
    parser.add_argument("--held-out-games", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    dataset = bootstrap_dataset(args.bootstrap_rounds)
    X, y, cohort = held_out(args.held_out_games, args.bootstrap_rounds)
    masks = {"all": np.ones(len(y), bool), **{c: cohort == c for c in COHORTS.values()}}
    sizes = ", ".join(f"{name} {int(mask.sum())}" for name, mask in masks.items())
    print(f"{FEATURE_CONTRACT}: {len(dataset.y_train)} training rows; held-out rounds: {sizes}")
    configs = load_configs(REPO / "configs" / "model_configs.json")
    for family in FAMILIES:
        config = configs.bootstrap_config(family.name, "Production")
        model = train(
            config, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, args.seed
        )
        predicted = np.argmax(model.predict_proba(X), axis=1)
        shown = "  ".join(
            f"{name} {np.mean(predicted[mask] == y[mask]):.4f}" for name, mask in masks.items()
        )
        print(f"{family.name:<12} {config.config_id:<9} {shown}", flush=True)


if __name__ == "__main__":
    main()
