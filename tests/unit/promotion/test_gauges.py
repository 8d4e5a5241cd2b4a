"""Business gauges and the alias table they read, from a real store (SQLite and PostgreSQL), and
the cached collector."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import create_engine, insert

from rpsquest.promotion.gauges import BusinessGauges, business_metrics
from rpsquest.promotion.posterior import prob_b_better
from rpsquest.promotion.views import alias_table
from rpsquest.store.games import utc_now
from rpsquest.store.schema import (
    alias_assignments,
    games,
    model_versions,
    predictions,
    promotion_ledger,
    rounds,
    training_cycles,
)
from tests.factories import finished_game_row, prediction_row, round_row

DAY = 86400.0


@pytest.fixture
def store(database):
    """logistic's Production (4 of 10 bot wins, arena headline 0.875) and B (8 of 10, trained
    before the strength check), with games and cycles that must not count: a test game, a
    telemetry game, one a week old, one of an ended assignment."""
    started = utc_now(-DAY)
    lineages = [
        {"family": "logistic", "alias": alias, "config_id": f"mn_{alias}", "version": n}
        for n, alias in enumerate(("Production", "B", "shadow1", "shadow2"), start=1)
    ]
    rows = [finished_game_row(f"p-{k}", "bot" if k < 4 else "user") for k in range(10)]
    rows += [
        finished_game_row(f"b-{k}", "bot" if k < 8 else "tie", alias="B", assignment_id=2)
        for k in range(10)
    ]
    rows += [
        finished_game_row("test", "bot", is_test=True),
        finished_game_row("telemetry", "user", source="telemetry"),
        finished_game_row("old", "user", assignment_id=99, finished_at=utc_now(-8 * DAY)),
        finished_game_row("ended", "user", assignment_id=99),
        finished_game_row(
            "cal", "bot", policy="cal", family="legacy", alias=None, assignment_id=None
        ),
    ]
    with database.begin() as connection:
        connection.execute(
            insert(alias_assignments),
            [
                {**row, "reason": "bootstrap", "state": "applied", "started_at": started}
                for row in lineages
            ],
        )
        connection.execute(insert(games), rows)
        connection.execute(
            insert(model_versions),
            [
                version_row(1, {"test_accuracy": 0.4, "arena_headline": 0.875}),
                version_row(2, {"test_accuracy": 0.5}),
            ],
        )
        connection.execute(
            insert(rounds),
            [
                round_row(
                    "p-0", n, phase="ml", alias="Production", model_version=1, assignment_id=1
                )
                for n in (1, 2, 3, 4)
            ],
        )
        connection.execute(
            insert(predictions),
            [prediction_row("p-0", n, "Production", correct=n == 1) for n in (1, 2, 3, 4)]
            + [prediction_row("p-0", n, "shadow1", version=3, assignment_id=3) for n in (1, 2)],
        )
        connection.execute(
            insert(training_cycles),
            [
                {
                    "id": "c1",
                    "started_at": started,
                    "finished_at": "2026-11-20T10:00:00.000Z",
                    "status": "success",
                },
                {"id": "c2", "started_at": started, "finished_at": utc_now(), "status": "failure"},
            ],
        )
    return database


def version_row(version: int, metrics: dict[str, float]) -> dict[str, object]:
    return {
        "family": "logistic",
        "version": version,
        "config_id": f"mn_{version}",
        "run_id": f"run-{version}",
        "cycle_id": "c1",
        "artifact": f"artifacts/logistic/mn_{version}/{version:064x}.onnx",
        "sha256": f"{version:064x}",
        "probe": "[0.3, 0.3, 0.4]",
        "metrics": json.dumps(metrics),
        "created_at": utc_now(-DAY),
        "feature_contract": "rps50-v3",
    }


def samples(database) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with database.connect() as connection:
        families = business_metrics(connection)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def value(figures, name: str, **labels: str) -> float | None:
    return figures.get((name, tuple(sorted(labels.items()))))


def test_alias_gauges_count_only_evidence_games(store):
    figures = samples(store)

    assert value(figures, "rps_alias_games", family="logistic", alias="Production") == 10
    assert value(figures, "rps_alias_games", family="logistic", alias="B") == 10
    assert value(figures, "rps_alias_games", family="logistic", alias="shadow1") == 0
    assert value(figures, "rps_alias_bot_win_rate", family="logistic", alias="Production") == 0.4
    assert value(figures, "rps_alias_bot_win_rate", family="logistic", alias="B") == 0.8
    assert value(figures, "rps_alias_bot_win_rate", family="logistic", alias="shadow1") is None
    assert (
        value(figures, "rps_alias_prediction_accuracy", family="logistic", alias="Production")
        == 0.25
    )
    assert (
        value(figures, "rps_alias_prediction_accuracy", family="logistic", alias="shadow1") == 1.0
    )
    assert value(figures, "rps_promotion_posterior_b_better", family="logistic") == pytest.approx(
        prob_b_better(8, 10, 4, 10)
    )
    assert value(figures, "rps_promotion_posterior_b_better", family="xgboost") is None


def test_the_alias_table_shows_each_versions_arena_headline_where_train_measured_one(store):
    with store.connect() as connection:
        rows = {row["alias"]: row for row in alias_table(connection, 3)["aliases"]}

    assert rows["Production"]["arena_headline"] == 0.875
    assert rows["Production"]["sha256"] == f"{1:064x}"
    assert rows["B"]["arena_headline"] is None  # trained before the strength check
    assert rows["shadow1"]["arena_headline"] is None  # a version the store does not know
    assert rows["shadow1"]["sha256"] is None


def test_the_arena_gauge_shows_the_measured_headlines(store):
    figures = samples(store)

    assert (
        value(figures, "rps_alias_arena_headline", family="logistic", alias="Production") == 0.875
    )
    assert value(figures, "rps_alias_arena_headline", family="logistic", alias="B") is None


def test_policy_gauges_cover_seven_days_of_human_games(store):
    figures = samples(store)

    # 20 evidence games + the ended assignment's; not the test, telemetry or week-old ones
    assert value(figures, "rps_games_finished_7d", policy="logan") == 21
    assert value(figures, "rps_policy_bot_win_rate_7d", policy="logan") == 12 / 21
    assert value(figures, "rps_games_finished_7d", policy="cal") == 1
    assert value(figures, "rps_games_finished_7d", policy="brian") == 0
    assert value(figures, "rps_policy_bot_win_rate_7d", policy="brian") is None


def test_the_last_successful_cycle_is_a_unix_time(store):
    figures = samples(store)

    assert value(figures, "rps_last_training_success_timestamp_seconds") == 1795168800.0


def ledger_row(family: str, decision: str, created_at: str) -> dict[str, object]:
    return {
        "created_at": created_at,
        "family": family,
        "decision": decision,
        "reorder_applied": False,
        "state": "applied",
        "inputs": "{}",
        "before": "{}",
        "after": "{}",
        "reason": "",
        "trigger_type": "io.rpsquest.promotion.requested",
    }


def test_a_family_judged_only_insufficient_data_since_its_last_decision_shows_since_when(
    database,
):
    with database.begin() as connection:
        connection.execute(
            insert(promotion_ledger),
            [
                ledger_row("logistic", "insufficient_data", "2026-11-01T10:00:00.000Z"),
                ledger_row("logistic", "retain", "2026-11-02T10:00:00.000Z"),
                ledger_row("logistic", "insufficient_data", "2026-11-20T10:00:00.000Z"),
                ledger_row("logistic", "insufficient_data", "2026-11-21T10:00:00.000Z"),
                ledger_row("xgboost", "insufficient_data", "2026-11-19T10:00:00.000Z"),
                ledger_row("feedforward", "insufficient_data", "2026-11-19T10:00:00.000Z"),
                ledger_row("feedforward", "promote_b", "2026-11-20T10:00:00.000Z"),
            ],
        )

    figures = samples(database)

    since = "rps_promotion_insufficient_data_since_timestamp_seconds"
    assert value(figures, since, family="logistic") == 1795168800.0
    assert value(figures, since, family="xgboost") == 1795168800.0 - DAY
    assert value(figures, since, family="feedforward") is None


def test_the_gauges_carry_the_time_they_were_read(database):
    before = time.time()

    figures = samples(database)

    read = value(figures, "rps_business_gauges_read_timestamp_seconds")
    assert before <= read <= time.time()


def test_an_empty_store_still_names_every_policy(database):
    figures = samples(database)

    assert value(figures, "rps_games_finished_7d", policy="hal") == 0
    assert not any(name == "rps_alias_games" for name, _ in figures)
    assert value(figures, "rps_last_training_success_timestamp_seconds") is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exposition(collector: BusinessGauges) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_the_collector_reads_the_store_at_most_once_per_ttl(store):
    clock = Clock()
    collector = BusinessGauges(lambda: store, ttl=15, clock=clock)
    assert 'rps_games_finished_7d{policy="brian"} 0.0' in exposition(collector)

    with store.begin() as connection:
        connection.execute(
            insert(games), [finished_game_row("new", "bot", policy="brian", family="feedforward")]
        )
    clock.now += 14
    assert 'rps_games_finished_7d{policy="brian"} 0.0' in exposition(collector)
    clock.now += 1
    assert 'rps_games_finished_7d{policy="brian"} 1.0' in exposition(collector)


def test_an_unreachable_store_serves_the_last_figures(store, tmp_path):
    clock = Clock()
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'rps.db'}")
    engines = iter([store, broken, broken])
    collector = BusinessGauges(lambda: next(engines), ttl=15, clock=clock)
    first = exposition(collector)

    clock.now += 15
    assert exposition(collector) == first
    assert "rps_alias_games" in first

    never_read = BusinessGauges(lambda: broken, ttl=15, clock=clock)
    assert "rps_" not in exposition(never_read)


def test_a_function_that_cannot_open_its_store_still_answers_the_scrape(store):
    clock = Clock()
    opened = iter([store])

    def database():
        engine = next(opened, None)
        if engine is None:
            raise ValueError("RPS_MODEL_CONFIGS names no readable file")
        return engine

    collector = BusinessGauges(database, ttl=15, clock=clock)
    first = exposition(collector)
    clock.now += 15
    assert exposition(collector) == first
    assert "rps_alias_games" in first

    never_opened = BusinessGauges(database, ttl=15, clock=clock)
    assert "rps_" not in exposition(never_opened)
