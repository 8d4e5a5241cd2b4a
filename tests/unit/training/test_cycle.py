"""A training cycle's strength check of each new model, and a cycle while a dependency is down:
no model fails on its own account, so the whole cycle ends as a 503 for the Broker to retry,
recorded as failed, with its lease free again."""

from __future__ import annotations

import logging
import statistics

import pytest
from sqlalchemy import select

from rpsquest import FEATURE_CONTRACT, metrics, registry
from rpsquest.arena.zoo import ZOO_TYPES
from rpsquest.errors import Unavailable
from rpsquest.modelstore import open_store
from rpsquest.processes import free_port
from rpsquest.store.coordination import acquire_lease
from rpsquest.store.database import migrate, open_engine, write_transaction
from rpsquest.store.lineages import record_version, version_metrics
from rpsquest.store.schema import model_versions, training_cycles
from rpsquest.training import cycle
from rpsquest.training.cycle import LEASE, has_current_versions, lineage_configs, run_cycle
from rpsquest.training.strength import type_metric
from tests.training_fixture import project_settings, smaller_configs

pytestmark = pytest.mark.slow  # models train

ARENA_METRICS = {"arena_headline", *(type_metric(kind) for kind in ZOO_TYPES)}


def stored_metrics(database) -> dict[tuple[str, int], dict[str, float]]:
    with database.connect() as connection:
        rows = connection.execute(select(model_versions)).mappings().all()
    return {(row["family"], row["version"]): version_metrics(row) for row in rows}


def arena_metrics(figures: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in figures.items() if key.startswith("arena_")}


def test_every_new_model_logs_its_arena_figures_to_its_run_and_its_version(trained_cycle):
    settings = project_settings(trained_cycle.project)
    database = open_engine(settings.database_url)
    stored = stored_metrics(database)
    database.dispose()
    client = registry.connect(settings)

    for row in trained_cycle.rows:
        figures = arena_metrics(stored[row["family"], row["version"]])
        run = client.get_run(trained_cycle.runs[row["family"], row["alias"]])
        rates = [figures[type_metric(kind)] for kind in ZOO_TYPES]
        assert set(figures) == ARENA_METRICS
        assert all(0.0 <= rate <= 1.0 for rate in rates)
        assert figures["arena_headline"] == pytest.approx(statistics.fmean(rates))
        assert arena_metrics(run.data.metrics) == pytest.approx(figures)


def failing_check(*args, **kwargs):
    raise RuntimeError("the arena broke")


@pytest.mark.parametrize("case", ["off", "failing"])
def test_a_check_that_is_off_or_fails_leaves_the_metrics_out_and_the_models_in(
    case, make_settings, monkeypatch, caplog
):
    if case == "failing":
        monkeypatch.setattr(cycle, "measure_strength", failing_check)
    sessions = "0" if case == "off" else "2"
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="1500", RPS_TRAIN_ARENA_SESSIONS=sessions)
    database = open_engine(settings.database_url)
    migrate(database)

    with caplog.at_level(logging.ERROR, logger=cycle.__name__):
        result = run_cycle(
            settings,
            database,
            open_store(settings.model_store),
            smaller_configs(),
            force=True,
            families=["logistic"],
        )

    stored = stored_metrics(database)
    database.dispose()
    assert result is not None and result.status == "success"
    assert len(stored) == 4
    assert all(
        "test_accuracy" in figures and not arena_metrics(figures) for figures in stored.values()
    )
    failures = [r for r in caplog.records if "strength check" in r.getMessage()]
    assert len(failures) == (4 if case == "failing" else 0)
    run = registry.connect(settings).get_run(result.models["logistic"]["B"]["run_id"])
    assert not arena_metrics(run.data.metrics)


def failed_runs() -> float:
    labels = {"family": "logistic", "alias": "Production", "status": "failure"}
    return metrics.REGISTRY.get_sample_value("rps_training_runs_total", labels) or 0.0


@pytest.mark.parametrize("dependency", ["store", "mlflow"])
def test_an_outage_ends_the_whole_cycle_and_frees_its_lease(
    dependency, database, make_settings, monkeypatch, tmp_path
):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    if dependency == "store":
        monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "rps-test-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "rps-test-secret")
        settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="1500")
        store = open_store("s3://rps-models/outage")
    else:
        settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="1500", MLFLOW_TRACKING_URI=closed)
        store = open_store(tmp_path / "models")
    before = failed_runs()

    with pytest.raises(Unavailable):
        run_cycle(settings, database, store, smaller_configs(), force=True, families=["logistic"])

    with database.connect() as connection:
        cycles = connection.execute(select(training_cycles)).mappings().all()
        versions = connection.execute(select(model_versions)).all()
    assert [(c["status"], c["finished_at"] is not None) for c in cycles] == [("failure", True)]
    assert versions == []
    assert failed_runs() == before  # no model is blamed for the outage
    assert acquire_lease(database, LEASE, "the retry", 60)


def record_lineage_versions(database, lineages, version, feature_contract):
    """One version of every lineage, trained on `feature_contract`."""
    with write_transaction(database) as connection:
        for family, aliases in lineages.items():
            for offset, config in enumerate(aliases.values()):
                record_version(
                    connection,
                    family=family,
                    version=version + offset,
                    config_id=config.config_id,
                    run_id="run",
                    cycle_id="cycle",
                    artifact="artifact",
                    sha256="0" * 64,
                    probe=[1 / 3] * 3,
                    metrics={},
                    created_at="2026-01-01T00:00:00.000Z",
                    feature_contract=feature_contract,
                )


def test_lineages_whose_newest_version_takes_other_features_are_retrained(database):
    lineages = lineage_configs(database, smaller_configs())

    record_lineage_versions(database, lineages, 1, "rps50-v2")
    after_the_upgrade = has_current_versions(database, lineages)
    record_lineage_versions(database, lineages, 5, FEATURE_CONTRACT)

    assert not after_the_upgrade  # the gate's alias_without_version: train at once
    assert has_current_versions(database, lineages)
