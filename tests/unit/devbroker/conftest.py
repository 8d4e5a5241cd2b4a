"""What the dev broker's tests share: the real manifests' topology, what SPEC §10.3 says they
define, and a broker on a scripted transport that never sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from cloudevents.http import from_http

from rpsquest.devbroker.dispatch import DevBroker
from rpsquest.devbroker.topology import load_topology
from rpsquest.devbroker.wire import Outcome
from rpsquest.events import (
    MODEL_PROMOTED,
    PING,
    PROMOTION_REQUESTED,
    RETENTION_REQUESTED,
    TELEMETRY_REQUESTED,
    TRAINING_COMPLETED,
    TRAINING_REQUESTED,
    new_event,
)
from tests.conftest import REPO

TRAIN, PROMOTE, PLAY = "http://train.test/", "http://promote.test/", "http://play.test/"
SUBSCRIBERS = {"rps-train": TRAIN, "rps-promote": PROMOTE, "rps-play": PLAY}

# SPEC §10.3: name -> (filter attributes, ksvc, retry, backoffDelay s, timeout s).
SPEC_TRIGGERS = {
    "rps-train-on-request": ({"type": TRAINING_REQUESTED}, "rps-train", 2, 10, 540),
    "rps-train-on-ping": (
        {"type": PING, "rpsintent": "training.requested"},
        "rps-train",
        2,
        10,
        540,
    ),
    "rps-telemetry-on-request": ({"type": TELEMETRY_REQUESTED}, "rps-train", 1, 10, 300),
    "rps-telemetry-on-ping": (
        {"type": PING, "rpsintent": "telemetry.requested"},
        "rps-train",
        1,
        10,
        300,
    ),
    "rps-promote-on-training": ({"type": TRAINING_COMPLETED}, "rps-promote", 5, 1, 120),
    "rps-promote-on-request": ({"type": PROMOTION_REQUESTED}, "rps-promote", 5, 1, 120),
    "rps-promote-on-ping": (
        {"type": PING, "rpsintent": "promotion.requested"},
        "rps-promote",
        5,
        1,
        120,
    ),
    "rps-retention-on-request": ({"type": RETENTION_REQUESTED}, "rps-promote", 5, 30, 120),
    "rps-retention-on-ping": (
        {"type": PING, "rpsintent": "retention.requested"},
        "rps-promote",
        5,
        30,
        120,
    ),
    "rps-play-on-promoted": ({"type": MODEL_PROMOTED}, "rps-play", 3, 0.5, 10),
}


@pytest.fixture(scope="module")
def topology():
    return load_topology(REPO)


class Subscribers:
    """A fake transport: records each POST and answers from a script per URL (default 200)."""

    def __init__(self, **scripts: list[Outcome]) -> None:
        self.scripts = {url: list(answers) for url, answers in scripts.items()}
        self.calls: list[tuple[str, dict, bytes, float | None]] = []
        self.lock = threading.Lock()

    def __call__(self, url, headers, body, timeout):
        with self.lock:
            self.calls.append((url, dict(headers), body, timeout))
            script = self.scripts.get(url, [])
            return script.pop(0) if script else Outcome(200, "OK")

    def events(self, url):
        with self.lock:
            calls = [c for c in self.calls if c[0] == url]
        return [from_http(headers, body) for _, headers, body, _ in calls]


@pytest.fixture
def make_broker(tmp_path, topology) -> Callable[..., tuple[DevBroker, list[float]]]:
    def build(subscribers: Subscribers, **options) -> tuple[DevBroker, list[float]]:
        sleeps: list[float] = []
        broker = DevBroker(
            topology,
            SUBSCRIBERS,
            tmp_path / "dead-letter",
            time_scale=0.5,
            send=subscribers,
            sleep=sleeps.append,
            **options,
        )
        return broker, sleeps

    return build


def requested(kind=TRAINING_REQUESTED, event_id="e-1"):
    return new_event("admin", kind, {"force": True}, "manual", event_id)
