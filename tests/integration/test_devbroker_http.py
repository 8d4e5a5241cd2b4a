"""The dev broker as a real process, delivering the real knative/base/eventing.yaml to stand-in
subscribers on loopback: retries, dead letters, replies, pings, duplicates."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from rpsquest import local
from rpsquest.events import (
    MODEL_PROMOTED,
    PING,
    PROMOTION_REQUESTED,
    TRAINING_COMPLETED,
    TRAINING_REQUESTED,
    new_event,
)
from rpsquest.local import Server, wait_healthy
from rpsquest.processes import free_port
from tests.conftest import REPO
from tests.helpers import wait_for as poll  # FakeService.wait_for is another thing

Answer = tuple[int, dict[str, str], bytes]
OK: Answer = (200, {}, b"")


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


class FakeService:
    """Stands in for one Knative Service: records every request, answers from a script per event."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.scripts: dict[tuple[str, str], list[Answer]] = {}
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def script(self, event_id: str, *answers: Answer | int, path: str = "/") -> None:
        with self.lock:
            self.scripts[path, event_id] = [
                a if isinstance(a, tuple) else (a, {}, b"") for a in answers
            ]

    @Request.application
    def wsgi(self, request: Request) -> Response:
        event_id = request.headers.get("ce-id", "")
        with self.lock:
            self.received.append(
                Received(
                    request.path, {k.lower(): v for k, v in request.headers}, request.get_data()
                )
            )
            script = self.scripts.get((request.path, event_id), [])
            status, headers, body = script.pop(0) if script else OK
        return Response(body, status=status, headers=headers)

    def requests_for(self, event_id: str, path: str = "/") -> list[Received]:
        with self.lock:
            return [
                r for r in self.received if r.path == path and r.headers.get("ce-id") == event_id
            ]

    def wait_for(
        self, event_id: str, count: int, path: str = "/", timeout: float = 10
    ) -> list[Received]:
        """The first `count` deliveries of `event_id` to `path`, waiting at most `timeout` s."""
        return poll(
            lambda: len(found := self.requests_for(event_id, path)) >= count and found,
            timeout,
            f"{count} deliveries of {event_id} to {self.name}{path}",
            every=0.02,
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Stack:
    broker: Server
    train: FakeService
    promote: FakeService
    play: FakeService
    project: Path

    def publish(self, event, encode: Callable = to_binary) -> requests.Response:
        headers, body = encode(event)
        return requests.post(self.broker.url, data=body, headers=headers, timeout=10)

    def dead_letter(self, event_id: str, timeout: float = 10) -> dict:
        folder = self.project / "var" / "dead-letter"
        found = poll(
            lambda: list(folder.glob(f"*_{event_id}.json")),
            timeout,
            f"a dead letter for {event_id}",
            every=0.02,
        )
        return json.loads(found[0].read_text())

    def log(self) -> str:
        return (self.project / "devbroker.log").read_text()


def start_broker(project: Path, *options: str) -> Server:
    """`python -m rpsquest.devbroker` on a free loopback port, logging to project/devbroker.log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPS_")}
    env["RPS_PROJECT_DIR"] = str(project)
    return local.start_broker(free_port(), project, env, project / "devbroker.log", *options)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The broker, with every ksvc pointed at a stand-in and backoffs shrunk 1000 times."""
    project = tmp_path_factory.mktemp("devbroker")
    (project / "knative" / "base").mkdir(parents=True)
    shutil.copy(REPO / "knative" / "base" / "eventing.yaml", project / "knative" / "base")
    services = {name: FakeService(name) for name in ("rps-train", "rps-promote", "rps-play")}
    options = ["--time-scale", "0.001"]
    for name, service in services.items():
        options += ["--subscriber", f"{name}={service.url}"]
    broker = start_broker(project, *options)
    try:
        wait_healthy([broker])
        yield Stack(
            broker, services["rps-train"], services["rps-promote"], services["rps-play"], project
        )
    finally:
        broker.stop()
        for service in services.values():
            service.stop()


def event_id() -> str:
    return f"it-{uuid.uuid4()}"


def requested(kind: str = TRAINING_REQUESTED, identifier: str | None = None):
    return new_event("admin", kind, {"force": True}, "manual", identifier or event_id())


def test_a_failing_subscriber_is_retried_until_it_accepts(stack):
    event = requested()
    stack.train.script(event["id"], 500, 200)

    response = stack.publish(event)

    assert response.status_code == 202
    attempts = stack.train.wait_for(event["id"], 2)
    time.sleep(0.3)  # room for a wrong third attempt
    assert len(stack.train.requests_for(event["id"])) == 2
    for attempt in attempts:
        assert attempt.headers["ce-type"] == TRAINING_REQUESTED
        assert json.loads(attempt.body) == {"force": True}
    assert f"id={event['id']}" in stack.log() and "attempt=1/3 status=500" in stack.log()
    assert not list((stack.project / "var" / "dead-letter").glob(f"*_{event['id']}.json"))


def test_a_poison_event_is_dead_lettered_without_retry(stack):
    event = requested(PROMOTION_REQUESTED)
    stack.promote.script(event["id"], (400, {"Content-Type": "application/json"}, b'{"error":1}'))

    stack.publish(event)

    (dead,) = stack.promote.wait_for(event["id"], 1, path="/dead-letter")
    record = stack.dead_letter(event["id"])
    time.sleep(0.2)
    assert len(stack.promote.requests_for(event["id"])) == 1
    assert dead.headers["ce-type"] == PROMOTION_REQUESTED
    assert dead.headers["ce-knativeerrorcode"] == "400"
    assert dead.headers["ce-knativeerrordest"] == stack.promote.url
    assert json.loads(dead.body) == {"force": True}
    assert (record["status"], record["attempts"], record["trigger"]) == (
        400,
        1,
        "rps-promote-on-request",
    )
    assert record["data"] == {"force": True}


def test_exhausted_retries_are_dead_lettered(stack):
    event = new_event("promote", MODEL_PROMOTED, {"manifest_version": 2}, "2", event_id())
    stack.play.script(event["id"], 503, 503, 503, 503)

    stack.publish(event)

    (dead,) = stack.promote.wait_for(event["id"], 1, path="/dead-letter")
    assert len(stack.play.requests_for(event["id"])) == 4  # retry 3
    assert dead.headers["ce-knativeerrorcode"] == "503"
    assert stack.dead_letter(event["id"])["attempts"] == 4


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_a_reply_is_republished_to_the_trigger_of_its_type(stack, encode):
    event = requested()
    reply = new_event("train", TRAINING_COMPLETED, {"cycle_id": "c-1"}, "c-1", event_id())
    headers, body = encode(reply)
    stack.train.script(event["id"], (200, headers, body))

    stack.publish(event)

    (delivered,) = stack.promote.wait_for(reply["id"], 1)
    assert delivered.headers["ce-type"] == TRAINING_COMPLETED
    assert delivered.headers["ce-source"] == "/rpsquest/train"
    assert json.loads(delivered.body) == {"cycle_id": "c-1"}
    assert stack.play.requests_for(reply["id"]) == []


@pytest.mark.parametrize(
    ("name", "service", "intent", "data"),
    [
        ("rps-training-schedule", "train", "training.requested", {"force": False}),
        ("rps-promotion-schedule", "promote", "promotion.requested", {}),
        ("rps-telemetry-schedule", "train", "telemetry.requested", {}),
        ("rps-retention-schedule", "promote", "retention.requested", {"dry_run": False}),
    ],
)
def test_an_admin_ping_reaches_its_trigger(stack, name, service, intent, data):
    response = requests.post(f"{stack.broker.url}admin/ping/{name}", timeout=10)

    assert response.status_code == 202
    (delivered,) = getattr(stack, service).wait_for(response.json()["id"], 1)
    assert delivered.headers["ce-type"] == PING
    assert delivered.headers["ce-rpsintent"] == intent
    assert delivered.headers["ce-source"] == f"/apis/v1/namespaces/rps-quest/pingsources/{name}"
    assert json.loads(delivered.body) == data


def test_an_unknown_ping_is_404(stack):
    response = requests.post(f"{stack.broker.url}admin/ping/nope", timeout=10)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_duplicate_event_is_delivered_again(stack):
    event = requested()

    first, second = stack.publish(event), stack.publish(event)

    assert (first.status_code, second.status_code) == (202, 202)
    assert len(stack.train.wait_for(event["id"], 2)) == 2
    assert requests.get(stack.broker.url + "healthz", timeout=5).json()["status"] == "ok"


def test_a_structured_event_is_delivered_in_binary_mode(stack):
    event = requested()

    stack.publish(event, to_structured)

    (delivered,) = stack.train.wait_for(event["id"], 1)
    assert delivered.headers["ce-specversion"] == "1.0"
    assert delivered.headers["content-type"] == "application/json"
    assert json.loads(delivered.body) == {"force": True}


def test_a_body_that_is_not_an_event_is_400(stack):
    response = requests.post(stack.broker.url, json={"type": "x"}, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"


def test_a_cesql_trigger_stops_the_broker_at_start(tmp_path):
    (tmp_path / "knative").mkdir()
    manifests = (REPO / "knative" / "base" / "eventing.yaml").read_text()
    broken = manifests.replace(
        "  filter:\n    attributes:\n      type: io.rpsquest.model.promoted\n",
        "  filters:\n    - cesql: \"type = 'io.rpsquest.model.promoted'\"\n",
    )
    assert broken != manifests
    (tmp_path / "knative" / "eventing.yaml").write_text(broken)

    broker = start_broker(tmp_path)
    try:
        code = broker.process.wait(timeout=30)
    finally:
        broker.stop()

    assert code != 0
    assert (
        "rps-play-on-promoted: CESQL filters are not supported"
        in (tmp_path / "devbroker.log").read_text()
    )
