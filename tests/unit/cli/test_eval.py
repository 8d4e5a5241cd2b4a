"""The evaluation report's tables (`make eval`), from model reports."""

from __future__ import annotations

import io

from rich.console import Console

from rpsquest.arena.zoo import ZOO_TYPES
from rpsquest.cli.eval import arena_table, report_table
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.training.report import ModelReport
from rpsquest.training.strength import Strength

MEASURED = ModelReport(
    family="logistic",
    alias="Production",
    config_id="mn_c06",
    version=5,
    human_scores={"test_human_stable_accuracy": 0.41},
    bot_win_rates=dict.fromkeys(LEGACY_BOTS, 0.5),
    arena=Strength(0.8125, {kind: 0.75 if kind == "iocaine" else 0.8 for kind in ZOO_TYPES}),
)
UNMEASURED = ModelReport(
    family="logistic",
    alias="B",
    config_id="mn_c12",
    version=2,
    human_scores={},
    bot_win_rates=dict.fromkeys(LEGACY_BOTS, 0.25),
    arena=None,  # trained before the strength check
)


def rendered(table) -> list[str]:
    text = io.StringIO()
    Console(file=text, width=200).print(table)
    return text.getvalue().splitlines()


def line(lines: list[str], *words: str) -> str:
    (found,) = [text for text in lines if all(word in text for word in words)]
    return found


def cells(text: str) -> list[str]:
    return [cell.strip() for cell in text.split("│")[1:-1]]


def test_the_report_ends_each_models_row_with_its_arena_headline():
    lines = rendered(report_table([MEASURED, UNMEASURED], games=10))

    assert "arena" in line(lines, "family", "alias")
    assert cells(line(lines, "Production"))[-1] == "0.812"
    assert cells(line(lines, " B "))[-1] == "n/a"


def test_the_arena_table_has_a_column_per_model_and_a_row_per_zoo_type():
    lines = rendered(arena_table([MEASURED, UNMEASURED]))

    assert "Production" in line(lines, "┃ type ")
    for kind in ZOO_TYPES:
        rate = "0.75" if kind == "iocaine" else "0.80"
        assert cells(line(lines, f"│ {kind} ")) == [kind, rate, "n/a"]
    assert cells(line(lines, "│ headline ")) == ["headline", "0.812", "n/a"]
