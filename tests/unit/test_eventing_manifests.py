"""knative/base/eventing.yaml against the real Knative CRD schemas, plus §10's semantic lint."""

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from rpsquest import events
from rpsquest.devbroker.errors import ManifestError
from rpsquest.devbroker.timing import parse_duration, validate_schedule
from tests.conftest import REPO
from tests.manifests import crd_schemas, strict

EVENTING = REPO / "knative" / "base" / "eventing.yaml"
CRDS = REPO.parent / "shared" / "schemas" / "knative" / "eventing"
SERVICES = {"rps-start-game", "rps-play", "rps-train", "rps-promote"}
# SPEC §10.1 "from": replies of the functions; the request types come from admins and PingSources.
SPEC_EMITTED = {events.TRAINING_COMPLETED, events.MODEL_PROMOTED}
ADMIN_SENT = set(events.INTENTS.values())


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(EVENTING.read_text()) if d]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


SCHEMAS = crd_schemas(CRDS)


@pytest.mark.parametrize(
    "document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_each_resource_validates_against_its_crd(document):
    schema = SCHEMAS[document["apiVersion"], document["kind"]]
    body = {k: v for k, v in document.items() if k not in ("apiVersion", "kind", "metadata")}

    jsonschema.Draft7Validator(schema).validate(body)
    jsonschema.Draft7Validator(strict(schema)).validate(body)
    assert document["metadata"]["namespace"] == "rps-quest"
    assert set(document["metadata"]) <= {"name", "namespace", "labels", "annotations"}


def test_the_strict_schema_catches_a_misspelt_field():
    trigger = of_kind("Trigger")[0]
    trigger["spec"]["delivery"]["backofDelay"] = trigger["spec"]["delivery"].pop("backoffDelay")
    schema = SCHEMAS["eventing.knative.dev/v1", "Trigger"]

    jsonschema.Draft7Validator(schema).validate({"spec": trigger["spec"]})  # the CRD keeps it...
    with pytest.raises(jsonschema.ValidationError, match="backofDelay"):
        jsonschema.Draft7Validator(strict(schema)).validate({"spec": trigger["spec"]})


def test_the_file_holds_one_broker_and_eventing_resources_only():
    kinds = [d["kind"] for d in documents()]

    assert kinds.count("Broker") == 1
    assert {"Broker", "Trigger", "PingSource"} <= set(kinds)
    assert set(kinds) <= {"Broker", "Trigger", "PingSource", "SinkBinding"}
    names = [(d["kind"], d["metadata"]["name"]) for d in documents()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("source", of_kind("PingSource"), ids=lambda d: d["metadata"]["name"])
def test_every_cron_string_is_valid(source):
    validate_schedule(source["spec"]["schedule"])


def test_the_cron_validator_rejects_the_originals_schedule():
    with pytest.raises(ManifestError, match="step 150 exceeds"):
        validate_schedule("*/150 * * * *")


def test_ping_sources_name_an_intent_and_sink_to_the_broker():
    for source in of_kind("PingSource"):
        spec = source["spec"]
        assert spec["ceOverrides"]["extensions"]["rpsintent"] in events.INTENTS
        assert spec["contentType"] == "application/json"
        assert isinstance(yaml.safe_load(spec["data"]), dict)
        assert spec["sink"]["ref"] == {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "name": "default",
        }


def test_triggers_use_exact_filters_and_reach_a_service_root():
    for trigger in of_kind("Trigger"):
        spec = trigger["spec"]
        assert spec["broker"] == "default"
        assert "filters" not in spec and set(spec["filter"]) == {"attributes"}
        assert spec["subscriber"]["ref"]["apiVersion"] == "serving.knative.dev/v1"
        assert spec["subscriber"]["ref"]["kind"] == "Service"
        assert spec["subscriber"]["ref"]["name"] in SERVICES
        assert spec["subscriber"]["uri"] == "/"
        assert spec["delivery"]["backoffPolicy"] == "exponential"
        for key in ("backoffDelay", "timeout"):
            parse_duration(spec["delivery"][key])


def test_the_broker_dead_letters_to_promote():
    (broker,) = of_kind("Broker")
    delivery = broker["spec"]["delivery"]

    assert (delivery["retry"], delivery["backoffPolicy"], delivery["backoffDelay"]) == (
        5,
        "exponential",
        "PT0.2S",
    )
    assert delivery["deadLetterSink"] == {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "rps-promote"},
        "uri": "/dead-letter",
    }


# Who emits what.


def python_sources() -> Iterator[Path]:
    yield from (REPO / "shared" / "rpsquest").rglob("*.py")
    yield from (REPO / "functions").rglob("*.py")


def emitted_by_code() -> set[str]:
    """Every event type the code builds with events.new_event(function, TYPE, …)."""
    found = set()
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else node.func
            if callee != "new_event" and getattr(callee, "id", None) != "new_event":
                continue
            kind = node.args[1]
            name = kind.attr if isinstance(kind, ast.Attribute) else getattr(kind, "id", None)
            if isinstance(kind, ast.Constant):
                found.add(kind.value)
            elif name and isinstance(getattr(events, name, None), str):
                found.add(getattr(events, name))
    return found


def trigger_filters() -> list[dict[str, str]]:
    return [t["spec"]["filter"]["attributes"] for t in of_kind("Trigger")]


def test_the_code_scan_finds_the_spec_replies():
    assert emitted_by_code() >= SPEC_EMITTED


def test_every_emitted_type_has_a_trigger():
    routed = {f["type"] for f in trigger_filters()}

    for kind in emitted_by_code() | SPEC_EMITTED | ADMIN_SENT:
        assert kind in routed, f"nothing subscribes to {kind}"


def test_every_trigger_type_is_emitted_by_someone():
    emitted = emitted_by_code() | SPEC_EMITTED | ADMIN_SENT
    intents = {s["spec"]["ceOverrides"]["extensions"]["rpsintent"] for s in of_kind("PingSource")}

    for attributes in trigger_filters():
        if attributes["type"] == events.PING:
            assert attributes["rpsintent"] in intents, f"no PingSource emits {attributes}"
        else:
            assert attributes["type"] in emitted, f"nobody emits {attributes['type']}"


@pytest.mark.parametrize(("intent", "kind"), list(events.INTENTS.items()))
def test_each_request_type_has_a_canonical_and_a_ping_trigger_to_one_service(intent, kind):
    subscriber = {
        tuple(sorted(t["spec"]["filter"]["attributes"].items())): t["spec"]["subscriber"]["ref"][
            "name"
        ]
        for t in of_kind("Trigger")
    }

    canonical = subscriber[(("type", kind),)]
    ping = subscriber[(("rpsintent", intent), ("type", events.PING))]
    assert canonical == ping
