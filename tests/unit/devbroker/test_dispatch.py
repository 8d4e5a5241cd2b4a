"""Delivering, with a scripted transport and no sleeping: retries, dead letters, replies, pings."""

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cloudevents.conversion import to_binary, to_structured

from rpsquest.devbroker.dispatch import is_retryable
from rpsquest.devbroker.wire import Outcome
from rpsquest.events import (
    MODEL_PROMOTED,
    PING,
    PROMOTION_REQUESTED,
    TRAINING_COMPLETED,
    TRAINING_REQUESTED,
    new_event,
)
from tests.unit.devbroker.conftest import PLAY, PROMOTE, TRAIN, Subscribers, requested


@pytest.mark.parametrize("status", [None, 404, 408, 409, 429, 500, 502, 503, 504])
def test_knative_retryable_outcomes(status):
    assert is_retryable(status)


@pytest.mark.parametrize("status", [400, 401, 403, 405, 410, 413, 422, 301])
def test_other_failures_are_not_retried(status):
    assert not is_retryable(status)


def test_an_event_goes_to_the_matching_subscriber_in_binary_mode(make_broker):
    subscribers = Subscribers()
    broker, _ = make_broker(subscribers)

    assert broker.publish(requested()) == ["rps-train-on-request"]
    assert broker.wait_idle(5)

    ((url, headers, body, timeout),) = subscribers.calls
    assert (url, timeout) == (TRAIN, 540)
    assert headers["ce-id"] == "e-1" and headers["ce-type"] == TRAINING_REQUESTED
    assert json.loads(body) == {"force": True}


def test_retryable_failures_are_retried_with_scaled_backoff(make_broker):
    subscribers = Subscribers(**{TRAIN: [Outcome(503, "x"), Outcome(None, "refused")]})
    broker, sleeps = make_broker(subscribers)

    outcome = broker.deliver(requested(), broker.topology.triggers[0])

    assert outcome.status == 200
    assert len(subscribers.calls) == 3
    assert sleeps == [5.0, 10.0]  # PT10S x 2^n x time scale 0.5
    assert not (broker.dead_letter_dir).exists()


@pytest.mark.parametrize("status", [400, 403, 413])
def test_a_poison_event_is_dead_lettered_without_retry(make_broker, status):
    subscribers = Subscribers(**{PROMOTE: [Outcome(status, "Bad", body=b'{"error": 1}')]})
    broker, sleeps = make_broker(subscribers)

    broker.publish(requested(PROMOTION_REQUESTED, "poison/1"))
    assert broker.wait_idle(5)

    assert [url for url, *_ in subscribers.calls] == [PROMOTE, PROMOTE + "dead-letter"]
    assert sleeps == []
    (path,) = broker.dead_letter_dir.iterdir()
    assert path.name.endswith("_poison_1.json")
    record = json.loads(path.read_text())
    assert record["attributes"]["id"] == "poison/1"
    assert record["data"] == {"force": True}
    assert (record["status"], record["reason"], record["attempts"]) == (status, "Bad", 1)
    assert record["trigger"] == "rps-promote-on-request"
    (dead,) = subscribers.events(PROMOTE + "dead-letter")
    assert dead["id"] == "poison/1" and dead["type"] == PROMOTION_REQUESTED
    assert dead["knativeerrorcode"] == str(status)
    assert dead["knativeerrordest"] == PROMOTE
    assert base64.b64decode(dead["knativeerrordata"]) == b'{"error": 1}'


def test_exhausted_retries_are_dead_lettered(make_broker):
    subscribers = Subscribers(**{PLAY: [Outcome(None, "ConnectionError: refused")] * 4})
    broker, sleeps = make_broker(subscribers)

    broker.publish(new_event("promote", MODEL_PROMOTED, {}, "1", "m-1"))
    assert broker.wait_idle(5)

    assert len([c for c in subscribers.calls if c[0] == PLAY]) == 4
    assert sleeps == [0.25, 0.5, 1.0]
    (path,) = broker.dead_letter_dir.iterdir()
    record = json.loads(path.read_text())
    assert (record["status"], record["attempts"]) == (None, 4)
    assert "refused" in record["reason"]
    (dead,) = subscribers.events(PROMOTE + "dead-letter")
    assert dead["knativeerrorcode"] == "500"


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_a_reply_is_published_back_into_the_broker(make_broker, encode):
    reply = new_event("train", TRAINING_COMPLETED, {"cycle_id": "c1"}, "c1", "r-1")
    headers, body = encode(reply)
    subscribers = Subscribers(**{TRAIN: [Outcome(200, "OK", headers, body)]})
    broker, _ = make_broker(subscribers)

    broker.publish(requested())
    assert broker.wait_idle(5)

    (delivered,) = subscribers.events(PROMOTE)
    assert (delivered["id"], delivered["type"]) == ("r-1", TRAINING_COMPLETED)
    assert delivered.data == {"cycle_id": "c1"}
    assert subscribers.events(PLAY) == []


def test_a_non_event_answer_is_not_a_reply(make_broker):
    answer = Outcome(200, "OK", {"Content-Type": "application/json"}, b'{"ok": true}')
    subscribers = Subscribers(**{TRAIN: [answer]})
    broker, _ = make_broker(subscribers)

    broker.publish(requested())
    assert broker.wait_idle(5)

    assert [url for url, *_ in subscribers.calls] == [TRAIN]


def test_a_ping_reaches_the_trigger_of_its_intent(make_broker):
    subscribers = Subscribers()
    broker, _ = make_broker(subscribers)

    event = broker.ping("rps-promotion-schedule")
    assert broker.wait_idle(5)

    (delivered,) = subscribers.events(PROMOTE)
    assert delivered["id"] == event["id"]
    assert delivered["type"] == PING and delivered["rpsintent"] == "promotion.requested"
    assert delivered.data == {}


def _run_schedules_until_a_call(broker, subscribers, *schedule_args) -> threading.Thread:
    """The broker's schedules on a thread until a subscriber is called (5 s at most), then
    stopped; the thread, for the test to see it ended."""
    stop = threading.Event()
    runner = threading.Thread(target=broker.run_schedules, args=(stop, *schedule_args))
    runner.start()
    try:
        for _ in range(100):
            if subscribers.calls:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        runner.join(5)
    broker.wait_idle(5)
    return runner


def test_schedules_emit_pings_when_due(make_broker):
    subscribers = Subscribers()
    broker, _ = make_broker(subscribers)
    almost = datetime(2026, 3, 1, 10, 29, 59, 950000, tzinfo=UTC)

    runner = _run_schedules_until_a_call(broker, subscribers, lambda: almost)

    (delivered,) = subscribers.events(TRAIN)
    assert delivered["rpsintent"] == "training.requested"
    assert delivered["time"] == "2026-03-01T10:30:00Z"
    assert not runner.is_alive()


def test_sped_up_schedules_fire_at_their_schedule_times_sooner(make_broker):
    subscribers = Subscribers()
    broker, _ = make_broker(subscribers)
    began, at = time.monotonic(), datetime(2026, 3, 1, 10, 29, 0, tzinfo=UTC)

    def clock() -> datetime:
        return at + timedelta(seconds=time.monotonic() - began)

    # a minute of schedule in a tenth of a second
    _run_schedules_until_a_call(broker, subscribers, clock, 600.0)

    (delivered, *_) = subscribers.events(TRAIN)
    assert delivered["time"] == "2026-03-01T10:30:00Z"
    assert time.monotonic() - began < 5


def test_dead_letter_files_never_overwrite(tmp_path, make_broker):
    broker, _ = make_broker(Subscribers())
    trigger = broker.topology.triggers[0]
    event = requested()

    paths = {
        broker.write_dead_letter(event, trigger, TRAIN, Outcome(400, "x"), 1) for _ in range(5)
    }

    assert len(paths) == 5 and all(isinstance(p, Path) and p.exists() for p in paths)


# The pool: a bounded number of deliveries at once.


class SlowSubscribers(Subscribers):
    """Answers 200 once released, counting how many deliveries are in a POST at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Lock()
        self.running = 0
        self.most = 0
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, url, headers, body, timeout):
        with self.gate:
            self.running += 1
            self.most = max(self.most, self.running)
        self.started.release()
        self.release.wait(5)
        try:
            return super().__call__(url, headers, body, timeout)
        finally:
            with self.gate:
                self.running -= 1


def test_deliveries_beyond_max_workers_wait_their_turn_and_all_arrive(make_broker):
    subscribers = SlowSubscribers()
    broker, _ = make_broker(subscribers, max_workers=3)
    ids = [f"e-{n}" for n in range(10)]

    for event_id in ids:
        assert broker.publish(requested(event_id=event_id)) == ["rps-train-on-request"]

    assert all(subscribers.started.acquire(timeout=5) for _ in range(3))
    assert not subscribers.started.acquire(timeout=0.2)  # the fourth is queued, not started
    assert broker.in_flight() == 10
    subscribers.release.set()
    assert broker.wait_idle(5)
    assert subscribers.most == 3
    assert sorted(event["id"] for event in subscribers.events(TRAIN)) == sorted(ids)
    assert broker.in_flight() == 0 and broker.max_workers == 3
    assert not broker.dead_letter_dir.exists()
