import json
import uuid

import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from werkzeug.test import EnvironBuilder

from rpsquest.errors import InvalidEvent
from rpsquest.events import (
    TRAINING_REQUESTED,
    deliver,
    is_cloudevent,
    new_event,
    parse_event,
    reply_id,
)
from rpsquest.modelstore import StoreError


def request_for(headers, body):
    return EnvironBuilder(method="POST", path="/", headers=headers, data=body).get_request()


def ping(intent):
    return CloudEvent(
        {
            "type": "dev.knative.sources.ping",
            "source": "/apis/v1/namespaces/rps-quest/pingsources/x",
            "rpsintent": intent,
            "id": "p1",
        },
        {"force": False},
    )


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_binary_and_structured_events_decode_alike(encode):
    event = new_event("admin", TRAINING_REQUESTED, {"force": True}, "manual", "e-1")
    request = request_for(*encode(event))

    parsed = parse_event(request, [TRAINING_REQUESTED])

    assert is_cloudevent(request)
    assert (parsed.id, parsed.source, parsed.type) == ("e-1", "/rpsquest/admin", TRAINING_REQUESTED)
    assert parsed.data == {"force": True}


def test_a_ping_takes_the_type_its_intent_names():
    parsed = parse_event(request_for(*to_binary(ping("training.requested"))), [TRAINING_REQUESTED])

    assert parsed.type == TRAINING_REQUESTED


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"ce-specversion": "1.0"}, b"{}"),
        ({"Content-Type": "application/cloudevents+json"}, b"{not json"),
        to_binary(ping("telemetry.requested")),
        to_binary(new_event("x", "io.rpsquest.other", {}, "s")),
        ({**to_binary(new_event("x", TRAINING_REQUESTED, {}, "s"))[0]}, b"[1]"),
        # found by the fuzz test: each was a 500
        ({"Content-Type": "application/cloudevents+json"}, b"\x19\xff\xdc"),
        ({**to_binary(new_event("x", TRAINING_REQUESTED, {}, "s"))[0]}, b'{"\\ud800": 1}'),
        to_binary(new_event("x", TRAINING_REQUESTED, {}, "s", event_id="a\x00b")),
        to_binary(new_event("x", TRAINING_REQUESTED, {}, "s", event_id="i" * 256)),
        (
            {"Content-Type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "x": [false]}',
        ),
    ],
)
def test_poison_events_are_rejected_with_invalid_event(headers, body):
    with pytest.raises(InvalidEvent):
        parse_event(request_for(headers, body), [TRAINING_REQUESTED])


def test_reply_ids_are_deterministic_per_delivery():
    assert reply_id("train", "/s", "1") == reply_id("train", "/s", "1")
    assert reply_id("train", "/s", "1") != reply_id("promote", "/s", "1")


def test_a_reply_id_is_the_spec_uuid5_of_function_source_and_id():
    source = "/apis/v1/namespaces/rps-quest/pingsources/x"

    answer = reply_id("train", source, "p1")

    # SPEC §10.2: uuid5(NAMESPACE_URL, "{function}:{source}:{id}")
    assert answer == str(uuid.uuid5(uuid.NAMESPACE_URL, f"train:{source}:p1"))


def test_plain_json_is_not_a_cloudevent():
    assert not is_cloudevent(request_for({"Content-Type": "application/json"}, json.dumps({})))


def test_an_outage_stores_no_reply_so_the_redelivery_does_the_work(database):
    headers, body = to_binary(new_event("admin", TRAINING_REQUESTED, {}, "s", "during-outage"))
    processed = []

    def store_down(_event):
        raise StoreError("cannot write artifacts/x in s3://rps-models: connection refused")

    def store_back(event):
        processed.append(event.id)

    with pytest.raises(StoreError):
        deliver(request_for(headers, body), "train", [TRAINING_REQUESTED], database, store_down, 60)
    redelivered = deliver(
        request_for(headers, body), "train", [TRAINING_REQUESTED], database, store_back, 60
    )

    assert redelivered.status_code == 200
    assert processed == ["during-outage"]
