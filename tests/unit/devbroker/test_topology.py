"""The real manifests' Broker, Triggers and PingSources, manifests refused at load, and the
Knative Services' local addresses."""

import json
from datetime import UTC, datetime

import pytest

from rpsquest.devbroker.dispatch import DevBroker
from rpsquest.devbroker.errors import ManifestError
from rpsquest.devbroker.topology import (
    Delivery,
    default_subscribers,
    load_topology,
    parse_subscriber,
    parse_topology,
)
from rpsquest.events import PING
from tests.conftest import REPO
from tests.unit.devbroker.conftest import PROMOTE, SPEC_TRIGGERS


def trigger_matrix(topology, attributes):
    return {t.name for t in topology.triggers if t.matches(attributes)}


def test_the_real_manifests_define_the_triggers_of_the_spec(topology):
    assert {t.name for t in topology.triggers} == set(SPEC_TRIGGERS)
    for trigger in topology.triggers:
        attributes, service, retry, delay, timeout = SPEC_TRIGGERS[trigger.name]
        assert (trigger.subscriber.kind, trigger.subscriber.name) == ("Service", service)
        assert trigger.subscriber.uri == "/"
        assert trigger.delivery == Delivery(retry, "exponential", delay, timeout)
        assert trigger_matrix(topology, {**attributes, "id": "1", "source": "s"}) == {trigger.name}


def test_the_real_broker_delivery(topology):
    assert topology.broker == "default"
    assert topology.delivery.retry == 5
    assert topology.delivery.backoff_policy == "exponential"
    assert topology.delivery.backoff_delay == pytest.approx(0.2)
    sink = topology.delivery.dead_letter_sink
    assert (sink.kind, sink.name, sink.uri) == ("Service", "rps-promote", "/dead-letter")


def test_a_ping_without_a_known_intent_reaches_no_trigger(topology):
    assert trigger_matrix(topology, {"type": PING, "rpsintent": "other"}) == set()
    assert trigger_matrix(topology, {"type": PING}) == set()


@pytest.mark.parametrize(
    ("name", "schedule", "intent"),
    [
        ("rps-training-schedule", "*/30 * * * *", "training.requested"),
        ("rps-promotion-schedule", "15,45 * * * *", "promotion.requested"),
        ("rps-telemetry-schedule", "5 */2 * * *", "telemetry.requested"),
        ("rps-retention-schedule", "20 3 * * *", "retention.requested"),
    ],
)
def test_the_real_ping_sources(topology, name, schedule, intent):
    source = {s.name: s for s in topology.ping_sources}[name]

    event = source.event(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))

    assert source.schedule == schedule
    assert event["type"] == PING
    assert event["source"] == f"/apis/v1/namespaces/rps-quest/pingsources/{name}"
    assert event["rpsintent"] == intent
    assert event["datacontenttype"] == "application/json"
    assert event["time"] == "2026-03-01T10:30:00Z"
    assert isinstance(json.loads(event.data), dict)


def manifests(**trigger_spec):
    broker = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": "default"},
        "spec": {
            "delivery": {
                "retry": 2,
                "backoffPolicy": "exponential",
                "backoffDelay": "PT1S",
                "deadLetterSink": {
                    "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service"}
                    | {"name": "rps-promote"},
                    "uri": "/dead-letter",
                },
            }
        },
    }
    trigger = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": "t"},
        "spec": {
            "broker": "default",
            "subscriber": {"ref": {"kind": "Service", "name": "rps-train"}, "uri": "/"},
            **trigger_spec,
        },
    }
    return [broker, trigger]


def test_a_duplicate_resource_is_rejected():
    documents = manifests()

    with pytest.raises(ManifestError, match="defined twice"):
        parse_topology([*documents, documents[1]])


def test_a_missing_broker_is_rejected():
    with pytest.raises(ManifestError, match="No Broker named default"):
        parse_topology(manifests()[1:])


def test_overlays_are_not_read(tmp_path):
    base = tmp_path / "knative" / "base"
    overlay = tmp_path / "knative" / "overlays" / "dev"
    base.mkdir(parents=True)
    overlay.mkdir(parents=True)
    (base / "eventing.yaml").write_text((REPO / "knative/base/eventing.yaml").read_text())
    (overlay / "patch.yaml").write_text(
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
        "metadata: {name: rps-play-on-promoted}\n"
    )

    assert len(load_topology(tmp_path).triggers) == len(SPEC_TRIGGERS)


@pytest.mark.parametrize(
    ("ping", "message"),
    [
        ({"schedule": "*/150 * * * *"}, "exceeds the range"),
        ({"ceOverrides": {"extensions": {"type": "x"}}}, "cannot be a CloudEvents extension"),
        ({"sink": {"ref": {"kind": "Service", "name": "rps-train"}}}, "sink to Broker default"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
    ],
)
def test_bad_ping_sources_are_rejected(ping, message):
    source = {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": {"name": "p"},
        "spec": {
            "schedule": "* * * * *",
            "sink": {"ref": {"kind": "Broker", "name": "default"}},
            **ping,
        },
    }

    with pytest.raises(ManifestError, match=message):
        parse_topology([*manifests(), source])


def test_a_subscriber_without_a_local_address_is_rejected(tmp_path):
    topology = parse_topology(manifests())

    with pytest.raises(ManifestError, match="--subscriber rps-train="):
        DevBroker(topology, {"rps-promote": PROMOTE}, tmp_path)


def test_default_subscribers_use_the_local_ports():
    assert default_subscribers() == {
        "rps-start-game": "http://127.0.0.1:8081/",
        "rps-play": "http://127.0.0.1:8082/",
        "rps-train": "http://127.0.0.1:8083/",
        "rps-promote": "http://127.0.0.1:8084/",
    }


def test_cli_subscriber_option():
    assert parse_subscriber("rps-train=http://127.0.0.1:9/") == (
        "rps-train",
        "http://127.0.0.1:9/",
    )
    with pytest.raises(Exception, match="NAME=http"):
        parse_subscriber("rps-train:9")
