"""The train function as a real server: a CloudEvent in, 12 registered models and a reply out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import from_http

from rpsquest.events import TRAINING_COMPLETED, TRAINING_REQUESTED, new_event
from rpsquest.modelstore import open_store
from tests.conftest import REPO

pytestmark = pytest.mark.slow

# The repo's configs with small capacities, so that 12 models train in seconds.
SMALLER = {
    "feedforward": {"hidden": [16], "max_epochs": 3, "patience": 2},
    "xgboost": {"n_estimators": 15},
    "logistic": {},
}


@pytest.fixture
def project_env(tmp_path):
    """A project under tmp_path with the smaller configs and a small bootstrap corpus."""
    document = json.loads((REPO / "configs" / "model_configs.json").read_text())
    for config in document["configs"].values():
        config.update(SMALLER[config["family"]])
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps(document))
    return {
        "RPS_PROJECT_DIR": str(tmp_path),
        "RPS_DATABASE_URL": f"sqlite:///{tmp_path / 'rps.db'}",
        "RPS_MODEL_CONFIGS": str(configs),
        "RPS_TRAIN_BOOTSTRAP_ROUNDS": "1500",
    }


@pytest.fixture
def trainer(launch, project_env):
    return launch("train", **project_env)


def run_cli(module, *args, env):
    """Run `python -m module` as an operator would; returns its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_training_request_registers_twelve_models_and_replies_once(trainer, tmp_path):
    request = new_event("admin", TRAINING_REQUESTED, {"force": True}, "test", "req-1")
    headers, body = to_binary(request)

    response = requests.post(trainer.url, data=body, headers=headers, timeout=300)
    duplicate = requests.post(trainer.url, data=body, headers=headers, timeout=60)

    assert response.status_code == 200, response.text
    reply = from_http(dict(response.headers), response.content)
    assert reply["type"] == TRAINING_COMPLETED
    assert reply["source"] == "/rpsquest/train"
    data = reply.data
    assert data["status"] == "success"
    assert data["trigger_event_id"] == "req-1"
    assert data["data"]["bootstrap_rounds"] > 1000
    assert {f: sorted(a) for f, a in data["models"].items()} == {
        f: ["B", "Production", "shadow1", "shadow2"] for f in ("feedforward", "xgboost", "logistic")
    }
    store = open_store(tmp_path / "var" / "models")
    for aliases in data["models"].values():
        for entry in aliases.values():
            assert store.read(entry["artifact"])  # immutable artifact, named by its SHA-256
            assert entry["artifact"].endswith(f"{entry['sha256']}.onnx")
            assert 0.2 < entry["metrics"]["test_accuracy"] < 0.7
    assert duplicate.status_code == 200
    assert duplicate.content == response.content
    assert duplicate.headers["ce-id"] == response.headers["ce-id"]
    metrics = requests.get(trainer.url + "metrics", timeout=10).text
    assert 'rps_training_runs_total{alias="B",family="xgboost",status="success"} 1.0' in metrics
    assert 'rps_training_cycles_total{status="success"} 1.0' in metrics
    assert 'rps_training_duration_seconds_count{family="logistic"} 4.0' in metrics
    assert (
        'rps_events_total{function="train",outcome="duplicate",'
        'type="io.rpsquest.training.requested"} 1.0'
    ) in metrics


def test_the_evaluation_report_and_sweep_cover_the_trained_models(trainer, project_env):
    request = new_event("admin", TRAINING_REQUESTED, {"force": True}, "test", "req-2")
    headers, body = to_binary(request)
    assert requests.post(trainer.url, data=body, headers=headers, timeout=300).ok

    report = run_cli("rpsquest.cli.eval", "--games", "2", env=project_env)
    sweep = run_cli("rpsquest.cli.sweep", "--configs", "mn_c06", "mn_default", env=project_env)

    models, arena = report.split("Arena win rate per zoo type")
    header = next(line for line in models.splitlines() if "family" in line)
    assert "stable acc" in header and "adaptive acc" in header  # held-out humans, by cohort
    assert header.split("┃")[-2].strip() == "arena"
    rows = [line for line in models.splitlines() if "│" in line]
    assert len(rows) == 12
    headline = next(line for line in arena.splitlines() if "│ headline " in line)
    figures = [float(cell) for cell in headline.split("│")[2:-1]]  # each model's, from training
    assert len(figures) == 12
    assert all(0.0 <= figure <= 1.0 for figure in figures)
    for family, alias in zip(
        ["feedforward"] * 4 + ["xgboost"] * 4 + ["logistic"] * 4,
        ["Production", "B", "shadow1", "shadow2"] * 3,
        strict=True,
    ):
        assert any(family in row and f" {alias} " in row for row in rows)
    assert "mn_default" in sweep
    assert "mn_c06" in sweep


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_poison_events_are_refused_without_retry(trainer, encode):
    bad = new_event("admin", TRAINING_REQUESTED, {"families": ["nope"]}, "test")
    headers, body = encode(bad)

    response = requests.post(trainer.url, data=body, headers=headers, timeout=30)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
