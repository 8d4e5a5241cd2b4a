"""The dev broker's HTTP surface."""

import pytest
from cloudevents.conversion import to_binary, to_structured

from rpsquest.devbroker.app import create_app
from rpsquest.events import PING
from tests.unit.devbroker.conftest import SPEC_TRIGGERS, Subscribers, requested


@pytest.fixture
def client(make_broker):
    broker, _ = make_broker(Subscribers())
    app = create_app(broker)
    yield app.test_client()
    broker.wait_idle(5)


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_ingest_accepts_binary_and_structured_events(client, encode):
    headers, body = encode(requested())

    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json"}, b"{}"),
        ({"ce-specversion": "1.0", "ce-type": "t", "ce-source": "s"}, b""),  # no id
        ({"Content-Type": "application/cloudevents+json"}, b"{nope"),
    ],
)
def test_ingest_rejects_what_is_not_a_cloudevent(client, headers, body):
    response = client.post("/", headers=headers, data=body)

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_event"


def test_ingest_rejects_oversized_bodies(client):
    headers, _ = to_binary(requested())

    response = client.post("/", headers=headers, data=b"x" * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_admin_ping_answers_loopback_only(client):
    remote = client.post(
        "/admin/ping/rps-training-schedule", environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    local = client.post("/admin/ping/rps-training-schedule")
    unknown = client.post("/admin/ping/nope")

    assert remote.status_code == 403 and remote.json["error"]["code"] == "forbidden"
    assert local.status_code == 202 and local.json["type"] == PING
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"


def test_healthz_and_unknown_routes(client):
    health = client.get("/healthz")
    missing = client.get("/nope")
    wrong_method = client.get("/")

    assert health.status_code == 200
    assert health.json["status"] == "ok" and health.json["function"] == "devbroker"
    assert health.json["triggers"] == len(SPEC_TRIGGERS)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
