"""The whole platform on loopback ports: the four functions as real servers, started the way the
integration tests start them, and the dev broker routing events between them."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import pytest
import requests
from cloudevents.conversion import to_binary

from rpsquest.local import Server, start_broker, wait_healthy
from rpsquest.processes import free_port
from tests.conftest import REPO
from tests.integration.conftest import launch
from tests.training_fixture import SMALLER

__all__ = ["launch"]

FUNCTIONS = ("start_game", "play", "train", "promote")

# logistic's Production lineage is made nearly blind (predictions ≈ the class priors), so the
# EV policy plays the high-value move and loses to `cal`, who plays the low one; B (mn_c12)
# learns that habit from the live rounds played before the first training.
BLIND = {"l2_lambda": 1e4}


def publish(broker, event):
    headers, body = to_binary(event)
    requests.post(broker.url, data=body, headers=headers, timeout=10).raise_for_status()


def serving(play):
    """play's manifest version and the version it serves per (family, alias)."""
    status = requests.get(play.url + "models", timeout=10).json()
    return status["manifest_version"], {
        (m["family"], m["alias"]): m["version"] for m in status["loaded"]
    }


@pytest.fixture
def platform(tmp_path, launch) -> Iterator[tuple[Server, dict[str, Server]]]:
    """The broker and the four functions, one project under tmp_path, no models yet; smaller
    model configs, logistic's Production blind, promotion after 5 games, play on the models
    alone."""
    document = json.loads((REPO / "configs" / "model_configs.json").read_text())
    for config in document["configs"].values():
        config.update(SMALLER[config["family"]])
    document["configs"]["mn_c06"].update(BLIND)
    (tmp_path / "configs.json").write_text(json.dumps(document))
    (tmp_path / "knative" / "base").mkdir(parents=True)
    shutil.copy(REPO / "knative" / "base" / "eventing.yaml", tmp_path / "knative" / "base")
    ports = {name: free_port() for name in ("broker", *FUNCTIONS)}
    env = {
        "RPS_PROJECT_DIR": str(tmp_path),
        "RPS_MODEL_CONFIGS": str(tmp_path / "configs.json"),
        "RPS_TRAIN_BOOTSTRAP_ROUNDS": "800",
        "RPS_PROMOTION_MIN_GAMES": "5",
        "K_SINK": f"http://127.0.0.1:{ports['broker']}/",
        "RPS_PLAY_URL": f"http://127.0.0.1:{ports['play']}/",
    }
    # play must learn of a new manifest from model.promoted: its own periodic check is off. The
    # models alone decide its ML rounds: the adaptive policy's online experts would hide the
    # blind Production model the promotion is meant to find (docs/policy.md).
    only = {"play": {"RPS_MANIFEST_CHECK_SECONDS": "3600", "RPS_ADAPTIVE_POLICY": "false"}}
    servers = {
        name: launch(name, port=ports[name], **env, **only.get(name, {})) for name in FUNCTIONS
    }
    subscribers = [
        option
        for name in ("train", "promote", "play")
        for option in ("--subscriber", f"rps-{name}={servers[name].url}")
    ]
    broker = start_broker(
        ports["broker"],
        tmp_path,
        {**os.environ, **env},
        tmp_path / "devbroker.log",
        "--time-scale",
        "0.01",
        *subscribers,
    )
    wait_healthy([broker])
    yield broker, servers
    broker.stop()
