"""The whole loop on real servers: bootstrap training → training.completed → promote →
model.promoted → play reload; players then make B clearly better → promotion.requested swaps
Production and B → the ledger shows it → play serves the new Production."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import requests
from cloudevents.conversion import to_binary

from rpsquest.client import Client
from rpsquest.events import PROMOTION_REQUESTED, TRAINING_REQUESTED, new_event
from rpsquest.local import start_broker, wait_healthy
from tests.conftest import REPO
from tests.integration.conftest import free_port
from tests.training_fixture import SMALLER

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# logistic's Production lineage is made nearly blind (predictions ≈ the class priors), so the
# EV policy plays the high-value move and loses to `cal`, who plays the low one; B (mn_c12)
# learns that habit from the live rounds played before the first training.
BLIND = {"l2_lambda": 1e4}


def publish(broker, event):
    headers, body = to_binary(event)
    requests.post(broker.url, data=body, headers=headers, timeout=10).raise_for_status()


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def serving(play):
    status = requests.get(play.url + "models", timeout=10).json()
    return status["manifest_version"], {
        (m["family"], m["alias"]): m["version"] for m in status["loaded"]
    }


@pytest.fixture
def platform(tmp_path, launch):
    document = json.loads((REPO / "configs" / "model_configs.json").read_text())
    for config in document["configs"].values():
        config.update(SMALLER[config["family"]])
    document["configs"]["mn_c06"].update(BLIND)
    (tmp_path / "configs.json").write_text(json.dumps(document))
    (tmp_path / "knative" / "base").mkdir(parents=True)
    shutil.copy(REPO / "knative" / "base" / "eventing.yaml", tmp_path / "knative" / "base")
    ports = {name: free_port() for name in ("broker", "start_game", "play", "train", "promote")}
    env = {
        "RPS_PROJECT_DIR": str(tmp_path),
        "RPS_MODEL_CONFIGS": str(tmp_path / "configs.json"),
        "RPS_TRAIN_BOOTSTRAP_ROUNDS": "800",
        "RPS_HUMAN_DATA_DIR": str(REPO.parent / "shared" / "data" / "human-rps"),
        "RPS_PROMOTION_MIN_GAMES": "5",
        "K_SINK": f"http://127.0.0.1:{ports['broker']}/",
        "RPS_PLAY_URL": f"http://127.0.0.1:{ports['play']}/",
    }
    # play must learn of a new manifest from model.promoted: its own periodic check is off
    only = {"play": {"RPS_MANIFEST_CHECK_SECONDS": "3600"}}
    servers = {
        name: launch(name, port=ports[name], **env, **only.get(name, {}))
        for name in ("start_game", "play", "train", "promote")
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


def test_the_whole_loop_promotes_a_better_b_end_to_end(platform):
    broker, servers = platform
    play, promote = servers["play"], servers["promote"]

    client = Client(servers["start_game"].url)
    for _ in range(40):  # before any model: the fallback bot plays, the rounds become data
        client.play_game("cal", "logan")

    publish(broker, new_event("admin", TRAINING_REQUESTED, {"force": True}, "e2e", "boot-1"))
    version, _ = wait_for(lambda: serving(play)[0] and serving(play), 300, "the first manifest")
    assert version == 1

    for _ in range(30):
        client.play_game("cal", "logan")
    aliases = {
        row["alias"]: row
        for row in requests.get(promote.url + "aliases", timeout=10).json()["aliases"]
        if row["family"] == "logistic"
    }
    assert aliases["B"]["bot_win_rate"] > aliases["Production"]["bot_win_rate"]
    old_production, old_b = aliases["Production"]["version"], aliases["B"]["version"]

    started = time.perf_counter()
    publish(broker, new_event("admin", PROMOTION_REQUESTED, {}, "e2e", "promote-1"))
    version, loaded = wait_for(
        lambda: serving(play)[0] == 2 and serving(play), 120, "play to serve the promotion"
    )
    elapsed = time.perf_counter() - started

    assert loaded[("logistic", "Production")] == old_b
    assert loaded[("logistic", "B")] == old_production
    ledger = requests.get(promote.url + "promotions?family=logistic&limit=1", timeout=10).json()
    row = ledger["promotions"][0]
    assert (row["decision"], row["state"], row["trigger_event_id"]) == (
        "promote_b",
        "applied",
        "promote-1",
    )
    assert row["inputs"]["posterior_b_better"] >= 0.95
    print(f"\npromotion.requested in → play serving the new Production: {elapsed:.2f} s")
