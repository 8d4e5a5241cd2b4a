import base64
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import from_http

from rpsquest import devbroker
from rpsquest.devbroker import (
    Delivery,
    DevBroker,
    ManifestError,
    Outcome,
    compile_trigger_filter,
    create_app,
    is_retryable,
    load_topology,
    next_fire,
    parse_duration,
    parse_topology,
    validate_schedule,
)
from rpsquest.events import (
    MODEL_PROMOTED,
    PING,
    PROMOTION_REQUESTED,
    TELEMETRY_REQUESTED,
    TRAINING_COMPLETED,
    TRAINING_REQUESTED,
    new_event,
)
from tests.conftest import REPO

TRAIN, PROMOTE, PLAY = "http://train.test/", "http://promote.test/", "http://play.test/"
SUBSCRIBERS = {"rps-train": TRAIN, "rps-promote": PROMOTE, "rps-play": PLAY}


# Filters.

ATTRIBUTES = {"type": "io.rpsquest.model.promoted", "source": "/rpsquest/promote", "rpsintent": "x"}


def matches(spec: Mapping, attributes: Mapping[str, str] = ATTRIBUTES) -> bool:
    return compile_trigger_filter(spec, "Trigger t")(attributes)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"type": "io.rpsquest.model.promoted"}, True),
        ({"type": "io.rpsquest.model.promoted", "rpsintent": "x"}, True),
        ({"type": "io.rpsquest.model.promoted", "rpsintent": "y"}, False),
        ({"type": "io.rpsquest.model"}, False),
        ({"subject": "brian"}, False),  # absent attribute
        ({"rpsintent": ""}, True),  # "" = present with any value, as Knative's TriggerAnyFilter
        ({}, True),
    ],
)
def test_attribute_filters_match_exactly(attributes, expected):
    assert matches({"filter": {"attributes": attributes}}) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"exact": {"type": "io.rpsquest.model.promoted"}}, True),
        ({"exact": {"type": "io.rpsquest.model"}}, False),
        ({"prefix": {"type": "io.rpsquest."}}, True),
        ({"prefix": {"type": "dev.knative."}}, False),
        ({"suffix": {"source": "/promote"}}, True),
        ({"suffix": {"source": "/train"}}, False),
        ({"prefix": {"subject": "b"}}, False),
        ({"all": [{"prefix": {"type": "io."}}, {"exact": {"rpsintent": "x"}}]}, True),
        ({"all": [{"prefix": {"type": "io."}}, {"exact": {"rpsintent": "y"}}]}, False),
        ({"any": [{"exact": {"rpsintent": "y"}}, {"suffix": {"type": ".promoted"}}]}, True),
        ({"any": [{"exact": {"rpsintent": "y"}}, {"suffix": {"type": ".requested"}}]}, False),
        ({"not": {"exact": {"rpsintent": "y"}}}, True),
        ({"not": {"prefix": {"type": "io."}}}, False),
    ],
)
def test_filters_dialects(expression, expected):
    assert matches({"filters": [expression]}) is expected


def test_filters_override_filter_and_every_expression_must_hold():
    spec = {
        "filter": {"attributes": {"type": "something.else"}},
        "filters": [{"prefix": {"type": "io."}}, {"exact": {"rpsintent": "x"}}],
    }

    assert matches(spec)
    assert not matches({**spec, "filters": [*spec["filters"], {"exact": {"rpsintent": "y"}}]})


def test_a_trigger_without_filters_takes_every_event():
    assert matches({}) and matches({"filters": []})


def test_cesql_is_rejected_at_load():
    with pytest.raises(ManifestError, match="CESQL filters are not supported"):
        compile_trigger_filter({"filters": [{"cesql": "type = 'x'"}]}, "Trigger t")


@pytest.mark.parametrize(
    "filters",
    [
        [{"exact": {"type": "a"}, "prefix": {"type": "b"}}],  # two dialects in one expression
        [{"regex": {"type": "a.*"}}],
        [{"exact": {"type": ""}}],
        [{"exact": {}}],
        [{"all": []}],
        [{"not": {"cesql": "true"}}],
    ],
)
def test_malformed_filters_are_rejected_at_load(filters):
    with pytest.raises(ManifestError):
        compile_trigger_filter({"filters": filters}, "Trigger t")


# Delivery policy.


def test_the_broker_backoff_doubles_from_the_base_delay():
    delivery = Delivery(retry=5, backoff_policy="exponential", backoff_delay=0.2)

    assert [round(delivery.backoff(n), 6) for n in range(5)] == [0.2, 0.4, 0.8, 1.6, 3.2]


def test_linear_backoff_and_no_policy():
    assert [Delivery(3, "linear", 1.0).backoff(n) for n in range(3)] == [0.0, 1.0, 2.0]
    assert Delivery(3, None, 1.0).backoff(2) == 0.0


@pytest.mark.parametrize("status", [None, 404, 408, 409, 429, 500, 502, 503, 504])
def test_knative_retryable_outcomes(status):
    assert is_retryable(status)


@pytest.mark.parametrize("status", [400, 401, 403, 405, 410, 413, 422, 301])
def test_other_failures_are_not_retried(status):
    assert not is_retryable(status)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.2S", 0.2), ("PT10S", 10), ("PT9M", 540), ("PT2M", 120), ("P1DT1H30M", 91800)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10s", "PT", "P", "PT1.S", "P1Y", "-PT1S"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ManifestError):
        parse_duration(text)


# Cron.


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("*/30 * * * *", "2026-03-01T10:29:59", ["10:30", "11:00", "11:30"]),
        ("15,45 * * * *", "2026-03-01T10:15:00", ["10:45", "11:15", "11:45"]),
        ("5 */2 * * *", "2026-03-01T10:05:00", ["12:05", "14:05", "16:05"]),
        ("0 9 * * mon-fri", "2026-02-27T10:00:00", ["09:00", "09:00", "09:00"]),
    ],
)
def test_next_fire_times(schedule, after, expected):
    when = datetime.fromisoformat(after).replace(tzinfo=UTC)
    fires = []
    for _ in expected:
        when = next_fire(schedule, when)
        fires.append(when)

    assert [f.strftime("%H:%M") for f in fires] == expected
    assert all(f.tzinfo is not None for f in fires)


def test_weekday_schedule_skips_the_weekend():
    friday = datetime(2026, 2, 27, 10, tzinfo=UTC)

    assert next_fire("0 9 * * mon-fri", friday).strftime("%a %d") == "Mon 02"


@pytest.mark.parametrize(
    "schedule", ["*/30 * * * *", "15,45 * * * *", "5 */2 * * *", "0 0 1 jan *", "0-30/10 1 * * 1-5"]
)
def test_valid_schedules(schedule):
    validate_schedule(schedule)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("*/150 * * * *", "step 150 exceeds the range 0-59"),  # the original's bug: hourly
        ("*/60 * * * *", "exceeds the range"),
        ("0 */24 * * *", "exceeds the range 0-23"),
        ("0-10/20 * * * *", "exceeds the range 0-10"),
        ("*/0 * * * *", "positive integer"),
        ("60 * * * *", "not a value in 0-59"),
        ("* * * *", "five fields"),
        ("0 * * * * *", "five fields"),
        ("@hourly", "five fields"),
        ("30-10 * * * *", "runs backwards"),
        ("0 0 L * *", "not a value"),
    ],
)
def test_invalid_schedules_are_rejected(schedule, message):
    with pytest.raises(ManifestError, match=message):
        validate_schedule(schedule)


# The real manifests.

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
    "rps-play-on-promoted": ({"type": MODEL_PROMOTED}, "rps-play", 3, 0.5, 10),
}


@pytest.fixture(scope="module")
def topology():
    return load_topology(REPO)


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
    assert devbroker.default_subscribers() == {
        "rps-start-game": "http://127.0.0.1:8081/",
        "rps-play": "http://127.0.0.1:8082/",
        "rps-train": "http://127.0.0.1:8083/",
        "rps-promote": "http://127.0.0.1:8084/",
    }


# Delivering, with a scripted transport and no sleeping.


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
def make_broker(tmp_path, topology):
    def build(subscribers: Subscribers) -> tuple[DevBroker, list[float]]:
        sleeps: list[float] = []
        broker = DevBroker(
            topology,
            SUBSCRIBERS,
            tmp_path / "dead-letter",
            time_scale=0.5,
            send=subscribers,
            sleep=sleeps.append,
        )
        return broker, sleeps

    return build


def requested(kind=TRAINING_REQUESTED, event_id="e-1"):
    return new_event("admin", kind, {"force": True}, "manual", event_id)


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


def test_schedules_emit_pings_when_due(make_broker):
    subscribers = Subscribers()
    broker, _ = make_broker(subscribers)
    stop = threading.Event()
    almost = datetime(2026, 3, 1, 10, 29, 59, 950000, tzinfo=UTC)
    runner = threading.Thread(target=broker.run_schedules, args=(stop, lambda: almost))

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

    (delivered,) = subscribers.events(TRAIN)
    assert delivered["rpsintent"] == "training.requested"
    assert delivered["time"] == "2026-03-01T10:30:00Z"
    assert not runner.is_alive()


# HTTP surface.


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


def test_cli_subscriber_option():
    assert devbroker.parse_subscriber("rps-train=http://127.0.0.1:9/") == (
        "rps-train",
        "http://127.0.0.1:9/",
    )
    with pytest.raises(Exception, match="NAME=http"):
        devbroker.parse_subscriber("rps-train:9")


def test_dead_letter_files_never_overwrite(tmp_path, make_broker):
    broker, _ = make_broker(Subscribers())
    trigger = broker.topology.triggers[0]
    event = requested()

    paths = {
        broker.write_dead_letter(event, trigger, TRAIN, Outcome(400, "x"), 1) for _ in range(5)
    }

    assert len(paths) == 5 and all(isinstance(p, Path) and p.exists() for p in paths)
