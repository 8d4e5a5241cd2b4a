"""MLflow registry and manifest publishing against a real MLflow SQLite store and a folder
model store: twelve models trained with the §7.2 bootstrap configs on a small synthetic corpus."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rpsquest.config import Settings
from rpsquest.features import PROBE_VECTOR
from rpsquest.models import ALIASES, FAMILIES, ModelConfigs, TrainedModel, parse_configs, train
from rpsquest.models.export import create_session, parity_check, predict_onnx, probe
from rpsquest.modelstore import ArtifactMissing, FolderStore, open_store
from rpsquest.registry import (
    EXPERIMENT,
    connect,
    current_aliases,
    log_model_run,
    publish,
    registered_model,
    serving_models,
    set_aliases,
)
from tests.conftest import REPO

pytestmark = pytest.mark.slow

CYCLE_ID = "cycle-0001"
# The repo's configs and starting assignment with smaller capacities: twelve models in seconds.
SMALLER = {
    "feedforward": {"hidden": [16, 8], "max_epochs": 5, "patience": 2},
    "xgboost": {"n_estimators": 20},
    "logistic": {},
}
PROBE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Cycle:
    """A finished training cycle: its project folder, trained models and alias-table rows."""

    project: Path
    models: dict[tuple[str, str], TrainedModel]
    rows: list[dict[str, Any]]
    runs: dict[tuple[str, str], str]
    X_test: np.ndarray
    log_seconds: list[float]


def _corpus(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """rps50-shaped rows whose label often beats the user's last move, so models learn."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 50)).astype(np.float32)
    last = rng.integers(0, 3, size=n_rows)
    X[:, :3] = 0.0
    X[np.arange(n_rows), last] = 1.0
    X[:, 49] = 0.0
    y = np.where(rng.random(n_rows) < 0.6, (last + 1) % 3, rng.integers(0, 3, size=n_rows))
    return X, y.astype(np.int64)


def _evaluate(model: TrainedModel, X: np.ndarray, y: np.ndarray, split: str) -> dict[str, float]:
    p = model.predict_proba(X).astype(np.float64)
    return {
        f"{split}_accuracy": float(np.mean(p.argmax(axis=1) == y)),
        f"{split}_log_loss": float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1)))),
    }


def _confusion(model: TrainedModel, X: np.ndarray, y: np.ndarray) -> list[list[int]]:
    predicted = model.predict_proba(X).argmax(axis=1)
    counts = np.bincount(3 * y + predicted, minlength=9).reshape(3, 3)
    return counts.tolist()


def _configs() -> ModelConfigs:
    document = json.loads((REPO / "configs" / "model_configs.json").read_text())
    for config in document["configs"].values():
        config.update(SMALLER[config["family"]])
    return parse_configs(document)


def _settings(project: Path) -> Settings:
    return Settings.from_env({"RPS_PROJECT_DIR": str(project)})


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> Cycle:
    """Train the twelve bootstrap models, log and register each, upload its ONNX artifact."""
    project = tmp_path_factory.mktemp("project")
    settings = _settings(project)
    store = open_store(settings.model_store)
    configs = _configs()
    X, y = _corpus(1200, seed=3)
    X_train, y_train, X_val, y_val = X[:840], y[:840], X[840:1020], y[840:1020]
    X_test, y_test = X[1020:], y[1020:]
    models, rows, runs, log_seconds = {}, [], {}, []
    for family in FAMILIES:
        for alias in ALIASES:
            config = configs.bootstrap_config(family, alias)
            started = time.perf_counter()
            # One thread: with two, a busy 2-core machine made 20 xgboost trees take 13 s.
            trained = train(config, X_train, y_train, X_val, y_val, seed=7, threads=1)
            train_seconds = time.perf_counter() - started
            onnx_bytes = trained.to_onnx()
            difference = parity_check(trained, onnx_bytes, X_test)
            key, sha256 = store.put_artifact(family, config.config_id, onnx_bytes)
            metrics = {
                **_evaluate(trained, X_val, y_val, "val"),
                **_evaluate(trained, X_test, y_test, "test"),
                "train_seconds": train_seconds,
                "onnx_max_abs_diff": difference,
            }
            params = {
                "train_rows": len(X_train),
                "val_rows": len(X_val),
                "test_rows": len(X_test),
                "live_rounds": 0,
                "bootstrap_rounds": len(X),
                "data_cutoff": "2026-01-01T00:00:00.000Z",
                "data_fingerprint": hashlib.sha256(b"synthetic corpus 3").hexdigest(),
            }
            started = time.perf_counter()
            run_id, version = log_model_run(
                settings,
                family,
                alias,
                CYCLE_ID,
                config,
                trained,
                params,
                metrics,
                onnx_bytes,
                {"rows": len(X), "source": "synthetic"},
                _confusion(trained, X_test, y_test),
            )
            log_seconds.append(time.perf_counter() - started)
            models[family, alias] = trained
            runs[family, alias] = run_id
            rows.append(
                {
                    "family": family,
                    "alias": alias,
                    "version": version,
                    "config_id": config.config_id,
                    "assignment_id": len(rows) + 1,
                    "artifact": key,
                    "sha256": sha256,
                    "probe": json.dumps(probe(onnx_bytes, PROBE_VECTOR)),
                }
            )
    return Cycle(project, models, rows, runs, X_test, log_seconds)


@pytest.fixture
def copied(cycle: Cycle, tmp_path: Path) -> tuple[Settings, FolderStore]:
    """A private copy of the cycle's MLflow database and model store, so a test may move
    aliases without touching the others."""
    shutil.copytree(cycle.project / "var", tmp_path / "var")
    settings = _settings(tmp_path)
    store = open_store(settings.model_store)
    assert isinstance(store, FolderStore)
    return settings, store


def _bootstrap_table(cycle: Cycle) -> dict[str, dict[str, int]]:
    return {
        family: {row["alias"]: row["version"] for row in cycle.rows if row["family"] == family}
        for family in FAMILIES
    }


def test_a_training_cycle_publishes_the_bootstrap_assignment_end_to_end(cycle, copied):
    settings, store = copied
    client = connect(settings)

    manifest = publish(settings, store, cycle.rows, previous_manifest=None, ledger_ids=[1, 2, 3])

    for family in FAMILIES:
        name = registered_model(family)
        versions = client.search_model_versions(f"name = '{name}'")
        assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
        assert sorted(client.get_registered_model(name).aliases) == sorted(ALIASES)
    assert current_aliases(settings) == _bootstrap_table(cycle)
    assert store.read_manifest() == manifest
    assert manifest["schema"] == 1
    assert manifest["manifest_version"] == 1
    assert manifest["feature_contract"] == "rps50-v2"
    assert manifest["created_at"].endswith("Z")
    assert manifest["ledger_ids"] == [1, 2, 3]
    assert sum(len(aliases) for aliases in manifest["models"].values()) == 12
    configs = _configs()
    for family, aliases in manifest["models"].items():
        for alias, entry in aliases.items():
            assert entry["config_id"] == configs.bootstrap_assignment[family][alias]
            data = store.read(entry["artifact"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            parity_check(cycle.models[family, alias], data, cycle.X_test)
            output = predict_onnx(create_session(data), np.asarray([PROBE_VECTOR]))[0]
            assert np.allclose(output, entry["probe"], atol=PROBE_TOLERANCE, rtol=0)
            assert output.sum() == pytest.approx(1.0, abs=1e-3)


def test_a_run_records_what_the_spec_asks(cycle):
    settings = _settings(cycle.project)
    client = connect(settings)
    run = client.get_run(cycle.runs["xgboost", "B"])

    artifacts = sorted(item.path for item in client.list_artifacts(run.info.run_id))
    confusion = client.download_artifacts(run.info.run_id, "confusion_matrix.csv")

    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == EXPERIMENT
    assert experiment.artifact_location == (cycle.project / "var" / "mlartifacts").as_uri()
    assert run.info.run_name == f"xgboost-B-{CYCLE_ID}"
    assert run.data.params["config_id"] == "xgb_c02"
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["feature_contract"] == "rps50-v2"
    assert run.data.params["data_cutoff"] == "2026-01-01T00:00:00.000Z"
    assert set(run.data.metrics) >= {
        "val_accuracy",
        "test_log_loss",
        "best_iteration",
        "train_seconds",
        "onnx_max_abs_diff",
    }
    assert artifacts == ["confusion_matrix.csv", "dataset_summary.json", "model.onnx"]
    assert Path(confusion).read_text().splitlines()[0] == "actual\\predicted,rock,paper,scissors"
    version = client.get_model_version("rps_xgboost", "2")
    assert version.run_id == run.info.run_id
    assert version.tags == {"config_id": "xgb_c02", "cycle_id": CYCLE_ID}
    artifacts_root = cycle.project / "var" / "mlartifacts"
    assert run.info.artifact_uri.startswith(artifacts_root.as_uri())
    assert len(list(artifacts_root.rglob("MLmodel"))) == 12  # the native models, all under var/


def test_logging_a_run_stays_fast(cycle):
    later_runs = sorted(cycle.log_seconds)[:-3]  # the first of each family imports its flavour

    # ~0.15 s each; inferring pip requirements or a signature would take seconds.
    assert max(later_runs) < 2.0


def test_training_registers_versions_without_moving_aliases(cycle):
    assert current_aliases(_settings(cycle.project)) == {family: {} for family in FAMILIES}


def test_publishing_the_same_table_again_changes_nothing(cycle, copied):
    settings, store = copied
    first = publish(settings, store, cycle.rows, previous_manifest=None)
    tag = store.manifest_tag()

    again = publish(settings, store, cycle.rows, previous_manifest=first, ledger_ids=[9])

    assert again == first
    assert store.manifest_tag() == tag
    assert current_aliases(settings) == _bootstrap_table(cycle)


def test_a_rerun_after_a_crash_keeps_the_manifest_it_wrote(cycle, copied):
    settings, store = copied
    before = publish(settings, store, cycle.rows[:8], previous_manifest=None)
    written = publish(settings, store, cycle.rows, previous_manifest=before)

    rerun = publish(settings, store, cycle.rows, previous_manifest=before)

    assert rerun == written
    assert rerun["manifest_version"] == 2


def test_a_promotion_swaps_aliases_and_bumps_the_manifest_version(cycle, copied):
    settings, store = copied
    first = publish(settings, store, cycle.rows, previous_manifest=None)
    swapped = {("feedforward", "Production"): "B", ("feedforward", "B"): "Production"}
    rows = [
        {**row, "alias": swapped.get((row["family"], row["alias"]), row["alias"])}
        for row in cycle.rows
    ]

    second = publish(settings, store, rows, previous_manifest=first, ledger_ids=[4])

    before = first["models"]["feedforward"]
    production, b = before["Production"], before["B"]
    assert second["manifest_version"] == 2
    assert second["ledger_ids"] == [4]
    assert second["models"]["feedforward"] == {
        **before,
        "Production": b,
        "B": production,
    }
    assert second["models"]["xgboost"] == first["models"]["xgboost"]
    assert current_aliases(settings)["feedforward"] == {
        "Production": b["version"],
        "B": production["version"],
        "shadow1": before["shadow1"]["version"],
        "shadow2": before["shadow2"]["version"],
    }
    assert store.read_manifest() == second


def test_publish_refuses_a_table_whose_artifact_is_missing(cycle, copied):
    settings, store = copied
    (store.root / cycle.rows[5]["artifact"]).unlink()

    with pytest.raises(ArtifactMissing, match=cycle.rows[5]["artifact"]):
        publish(settings, store, cycle.rows, previous_manifest=None)

    assert store.read_manifest() is None
    assert current_aliases(settings) == {family: {} for family in FAMILIES}


def test_set_aliases_is_idempotent(cycle, copied):
    settings, _ = copied
    table = {"logistic": {"Production": 2, "B": 1}}

    set_aliases(settings, table)
    set_aliases(settings, table)

    assert current_aliases(settings)["logistic"] == {"Production": 2, "B": 1}


def test_serving_models_orders_families_and_aliases_canonically(cycle):
    models = serving_models(reversed(cycle.rows))

    assert list(models) == list(FAMILIES)
    assert all(list(aliases) == list(ALIASES) for aliases in models.values())
    assert models["logistic"]["shadow2"]["probe"] == json.loads(cycle.rows[-1]["probe"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alias": "champion"}, "unknown alias 'champion'"),
        ({"family": "legacy"}, "unknown family 'legacy'"),
        ({"config_id": "xgb_c99"}, "should be artifacts/xgboost/xgb_c99/"),
        ({"probe": [0.5, 0.5]}, "probe must have 3 values"),
    ],
)
def test_serving_models_refuses_a_bad_row(cycle, change: dict[str, Any], message: str):
    row = {**cycle.rows[4], **change}

    with pytest.raises(ValueError, match=message):
        serving_models([row])


def test_serving_models_refuses_an_alias_twice(cycle):
    with pytest.raises(ValueError, match="feedforward Production appears twice"):
        serving_models([cycle.rows[0], cycle.rows[0]])
