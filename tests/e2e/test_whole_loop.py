"""The whole loop on real servers: bootstrap training → training.completed → promote →
model.promoted → play reload; players then make B clearly better → promotion.requested swaps
Production and B → the ledger shows it → play serves the new Production."""

from __future__ import annotations

import time

import requests

from rpsquest.client import Client
from rpsquest.events import PROMOTION_REQUESTED, TRAINING_REQUESTED, new_event
from tests.e2e.conftest import publish, serving
from tests.helpers import wait_for


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
