"""The evaluation report: every alias's current model on held-out human play and in matches
against each legacy bot, played in-process through the EV policy, with the strength its
training cycle measured against the zoo (`make eval`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import onnxruntime as ort
from sqlalchemy import Engine

from rpsquest.arena.selfplay import OneModel, play_match
from rpsquest.config import Settings
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.policies import FAMILIES
from rpsquest.game.rules import match_winner
from rpsquest.models import ModelConfigs
from rpsquest.models.export import create_session, predict_onnx
from rpsquest.modelstore import ModelStore
from rpsquest.store.database import read_connection
from rpsquest.store.lineages import newest_versions, version_metrics
from rpsquest.training.cycle import lineage_configs
from rpsquest.training.dataset import Dataset, build_dataset
from rpsquest.training.evaluation import accuracy_by_group, log_loss
from rpsquest.training.strength import Strength

EVAL_SECRET = "rps-quest-eval"


@dataclass(frozen=True)
class ModelReport:
    family: str
    alias: str
    config_id: str
    version: int
    # Held-out human play, named as train logs it (`test_human_stable_accuracy`, ...); a metric
    # whose rows the test split lacks is absent.
    human_scores: Mapping[str, float]
    bot_win_rates: Mapping[str, float]  # legacy player -> share of matches the ML bot won
    arena: Strength | None  # what its cycle's strength check measured, if it ran


def human_scores(session: ort.InferenceSession, dataset: Dataset) -> dict[str, float]:
    """Accuracy on the test split's human rows, all and per cohort, and their log loss."""
    human = dataset.test_human
    if not human.any():
        return {}
    probabilities = predict_onnx(session, dataset.X_test)
    scores = accuracy_by_group(probabilities, dataset.y_test, dataset.held_out_human())
    scores["test_human_log_loss"] = log_loss(probabilities[human], dataset.y_test[human])
    return scores


def bot_win_rates(
    policy: str, family: str, alias: str, model: OneModel, games_per_bot: int
) -> dict[str, float]:
    """Matches to 10 against each legacy bot as the player; a tie is a match the bot did not win."""
    rates = {}
    for player in LEGACY_BOTS:
        wins = 0
        for k in range(games_per_bot):
            game_id = f"eval:{family}:{alias}:{player}:{k}"
            last = play_match(game_id, player, policy, EVAL_SECRET, model, alias).rounds[-1]
            wins += match_winner(last.user_score, last.bot_score) == "bot"
        rates[player] = wins / games_per_bot
    return rates


def evaluate_aliases(
    settings: Settings,
    database: Engine,
    store: ModelStore,
    configs: ModelConfigs,
    games_per_bot: int,
) -> list[ModelReport]:
    """One report per family and alias that has a trained model, in canonical order."""
    lineages = lineage_configs(database, configs)
    with read_connection(database) as connection:
        versions = newest_versions(connection)
    dataset = build_dataset(database, settings)
    reports = []
    for family in FAMILIES:
        for alias, config in lineages[family.name].items():
            row = versions.get((family.name, config.config_id))
            if row is None:
                continue
            session = create_session(store.read(row["artifact"]))
            model = OneModel(session, (alias,), row["version"])
            reports.append(
                ModelReport(
                    family=family.name,
                    alias=alias,
                    config_id=config.config_id,
                    version=row["version"],
                    human_scores=human_scores(session, dataset),
                    bot_win_rates=bot_win_rates(
                        family.policy, family.name, alias, model, games_per_bot
                    ),
                    arena=Strength.from_metrics(version_metrics(row)),
                )
            )
    return reports
