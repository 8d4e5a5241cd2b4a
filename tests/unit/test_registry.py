"""MLflow registry and manifest publishing against a real MLflow SQLite store and a folder
model store, after one real training cycle of the twelve §7.2 bootstrap lineages."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.exceptions import MlflowException

from rpsquest.config import Settings
from rpsquest.features import PROBE_VECTOR
from rpsquest.game.policies import ALIASES, FAMILY_NAMES
from rpsquest.manifest import read_manifest
from rpsquest.models.export import create_session, predict_onnx
from rpsquest.modelstore import ArtifactMissing, FolderStore, open_store
from rpsquest.processes import free_port
from rpsquest.registry import (
    EXPERIMENT,
    RegistryUnavailable,
    connect,
    current_aliases,
    ensure_experiment,
    publish,
    registered_model,
    serving_models,
    set_aliases,
)
from tests.training_fixture import Cycle, project_settings, smaller_configs

pytestmark = pytest.mark.slow

PROBE_TOLERANCE = 1e-4


@pytest.fixture
def cycle(trained_cycle: Cycle) -> Cycle:
    return trained_cycle


@pytest.fixture
def copied(cycle: Cycle, tmp_path: Path) -> tuple[Settings, FolderStore]:
    """A private copy of the cycle's MLflow database and model store, so a test may move
    aliases without touching the others."""
    shutil.copytree(cycle.project / "var", tmp_path / "var")
    settings = project_settings(tmp_path)
    store = open_store(settings.model_store)
    assert isinstance(store, FolderStore)
    return settings, store


def _bootstrap_table(cycle: Cycle) -> dict[str, dict[str, int]]:
    return {
        family: {row["alias"]: row["version"] for row in cycle.rows if row["family"] == family}
        for family in FAMILY_NAMES
    }


def test_a_training_cycle_publishes_the_bootstrap_assignment_end_to_end(cycle, copied):
    settings, store = copied
    client = connect(settings)

    published = publish(settings, store, cycle.rows, previous_manifest=None, ledger_ids=[1, 2, 3])
    manifest = published.to_json()

    for family in FAMILY_NAMES:
        name = registered_model(family)
        versions = client.search_model_versions(f"name = '{name}'")
        assert sorted(int(v.version) for v in versions) == [1, 2, 3, 4]
        assert sorted(client.get_registered_model(name).aliases) == sorted(ALIASES)
    assert current_aliases(settings) == _bootstrap_table(cycle)
    assert store.read_manifest() == manifest
    assert read_manifest(store) == published
    assert manifest["schema"] == 1
    assert manifest["manifest_version"] == 1
    assert manifest["feature_contract"] == "rps50-v3"
    assert manifest["created_at"].endswith("Z")
    assert manifest["ledger_ids"] == [1, 2, 3]
    assert sum(len(aliases) for aliases in manifest["models"].values()) == 12
    configs = smaller_configs()
    for family, aliases in manifest["models"].items():
        for alias, entry in aliases.items():
            assert entry["config_id"] == configs.bootstrap_assignment[family][alias]
            assert entry["feature_contract"] == "rps50-v3"  # as train recorded the version
            data = store.read(entry["artifact"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert cycle.parity[family, alias] < 1e-5  # train checked >= 1,000 vectors
            output = predict_onnx(create_session(data), np.asarray([PROBE_VECTOR]))[0]
            assert np.allclose(output, entry["probe"], atol=PROBE_TOLERANCE, rtol=0)
            assert output.sum() == pytest.approx(1.0, abs=1e-3)


def test_a_run_records_what_the_spec_asks(cycle):
    settings = project_settings(cycle.project)
    client = connect(settings)
    run = client.get_run(cycle.runs["xgboost", "B"])

    artifacts = sorted(item.path for item in client.list_artifacts(run.info.run_id))
    confusion = client.download_artifacts(run.info.run_id, "confusion_matrix.csv")

    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == EXPERIMENT
    assert experiment.artifact_location == (cycle.project / "var" / "mlartifacts").as_uri()
    assert run.info.run_name == f"xgboost-B-{cycle.cycle_id}"
    assert run.data.params["config_id"] == "xgb_c02"
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["feature_contract"] == "rps50-v3"
    assert int(run.data.params["bootstrap_rounds"]) > 1000
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
    assert version.tags == {"config_id": "xgb_c02", "cycle_id": cycle.cycle_id}
    artifacts_root = cycle.project / "var" / "mlartifacts"
    assert run.info.artifact_uri.startswith(artifacts_root.as_uri())
    assert len(list(artifacts_root.rglob("MLmodel"))) == 12  # the native models, all under var/


def test_training_registers_versions_without_moving_aliases(cycle):
    assert current_aliases(project_settings(cycle.project)) == {
        family: {} for family in FAMILY_NAMES
    }


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
    assert rerun.manifest_version == 2


def test_a_promotion_swaps_aliases_and_bumps_the_manifest_version(cycle, copied):
    settings, store = copied
    first = publish(settings, store, cycle.rows, previous_manifest=None)
    swapped = {("feedforward", "Production"): "B", ("feedforward", "B"): "Production"}
    rows = [
        {**row, "alias": swapped.get((row["family"], row["alias"]), row["alias"])}
        for row in cycle.rows
    ]

    second = publish(settings, store, rows, previous_manifest=first, ledger_ids=[4])

    before = first.models["feedforward"]
    production, b = before["Production"], before["B"]
    assert second.manifest_version == 2
    assert second.ledger_ids == (4,)
    assert second.models["feedforward"] == {
        **before,
        "Production": b,
        "B": production,
    }
    assert second.models["xgboost"] == first.models["xgboost"]
    assert current_aliases(settings)["feedforward"] == {
        "Production": b.version,
        "B": production.version,
        "shadow1": before["shadow1"].version,
        "shadow2": before["shadow2"].version,
    }
    assert store.read_manifest() == second.to_json()


def test_publish_refuses_a_table_whose_artifact_is_missing(cycle, copied):
    settings, store = copied
    (store.root / cycle.rows[5]["artifact"]).unlink()

    with pytest.raises(ArtifactMissing, match=cycle.rows[5]["artifact"]):
        publish(settings, store, cycle.rows, previous_manifest=None)

    assert store.read_manifest() is None
    assert current_aliases(settings) == {family: {} for family in FAMILY_NAMES}


def test_set_aliases_is_idempotent(cycle, copied):
    settings, _ = copied
    table = {"logistic": {"Production": 2, "B": 1}}

    set_aliases(settings, table)
    set_aliases(settings, table)

    assert current_aliases(settings)["logistic"] == {"Production": 2, "B": 1}


def test_serving_models_orders_families_and_aliases_canonically(cycle):
    models = serving_models(reversed(cycle.rows))

    assert list(models) == list(FAMILY_NAMES)
    assert all(list(aliases) == list(ALIASES) for aliases in models.values())
    assert list(models["logistic"]["shadow2"].probe) == json.loads(cycle.rows[-1]["probe"])


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


@pytest.mark.parametrize(
    ("call", "arguments"),
    [
        (current_aliases, ()),
        (set_aliases, ({"logistic": {"B": 1}},)),
        (ensure_experiment, ()),
    ],
    ids=["current_aliases", "set_aliases", "ensure_experiment"],
)
def test_an_unreachable_mlflow_server_is_registry_unavailable(call, arguments, make_settings):
    settings = make_settings(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}")  # refused

    with pytest.raises(RegistryUnavailable, match="MLflow is unreachable") as caught:
        call(settings, *arguments)

    assert (caught.value.status, caught.value.code) == (503, "unavailable")
    assert isinstance(caught.value.__cause__, MlflowException)


def test_an_mlflow_refusal_is_no_outage(copied):
    settings, _ = copied

    with pytest.raises(MlflowException, match="9999") as caught:
        set_aliases(settings, {"logistic": {"B": 9999}})

    assert not isinstance(caught.value, RegistryUnavailable)


def test_mlflow_http_retries_are_bounded_unless_the_environment_says_otherwise(
    make_settings, monkeypatch
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")

    connect(make_settings(MLFLOW_TRACKING_URI="http://127.0.0.1:5000"))

    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "5"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
