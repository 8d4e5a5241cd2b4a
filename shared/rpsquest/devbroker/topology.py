"""The Broker, its Triggers and the PingSources that feed it, read from the manifests under
knative/, and the local addresses of the Knative Services they deliver to."""

from __future__ import annotations

import argparse
import base64
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cloudevents.http import CloudEvent

from rpsquest.devbroker.errors import ManifestError
from rpsquest.devbroker.filters import Predicate, compile_trigger_filter
from rpsquest.devbroker.timing import backoff, parse_duration, validate_schedule
from rpsquest.events import PING
from rpsquest.processes import LOOPBACK, PORTS

NAMESPACE = "rps-quest"
BROKER = "default"
_CORE_ATTRIBUTES = frozenset(
    {"id", "source", "type", "specversion", "time", "subject", "datacontenttype", "dataschema"}
)

# The manifests, as the dev broker needs them.


@dataclass(frozen=True, slots=True)
class Destination:
    """A `ref` (kind and name) and/or a `uri`, resolved against the ref's address."""

    kind: str | None
    name: str | None
    uri: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    retry: int = 0
    backoff_policy: str | None = None
    backoff_delay: float | None = None
    timeout: float | None = None
    dead_letter_sink: Destination | None = None

    def backoff(self, retry_number: int) -> float:
        """Seconds before retry `retry_number` (0 = the first retry), as Knative counts it."""
        return backoff(self.backoff_policy, self.backoff_delay, retry_number)


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    matches: Predicate = field(compare=False, repr=False)
    subscriber: Destination
    delivery: Delivery | None


@dataclass(frozen=True, slots=True)
class PingSource:
    name: str
    namespace: str
    schedule: str
    timezone: ZoneInfo
    content_type: str | None
    data: bytes | None
    extensions: Mapping[str, str]

    @property
    def source(self) -> str:
        return f"/apis/v1/namespaces/{self.namespace}/pingsources/{self.name}"

    def event(self, fired_at: datetime) -> CloudEvent:
        """What a PingSource sends: always type dev.knative.sources.ping, plus its overrides."""
        attributes = {
            "type": PING,
            "source": self.source,
            "id": str(uuid.uuid4()),
            "time": fired_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            **self.extensions,
        }
        if self.content_type:
            attributes["datacontenttype"] = self.content_type
        return CloudEvent(attributes, self.data)


@dataclass(frozen=True, slots=True)
class Topology:
    broker: str
    delivery: Delivery
    triggers: tuple[Trigger, ...]
    ping_sources: tuple[PingSource, ...]


def _require_map(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where} must be a map.")
    return value


def _parse_destination(spec: Any, where: str) -> Destination:
    spec = _require_map(spec, where)
    ref = spec.get("ref")
    uri = spec.get("uri")
    if ref is None and not uri:
        raise ManifestError(f"{where} needs a ref or a uri.")
    if ref is None:
        return Destination(None, None, uri)
    ref = _require_map(ref, f"{where}.ref")
    return Destination(ref.get("kind"), ref.get("name"), uri)


def _parse_delivery(spec: Any, where: str) -> Delivery | None:
    if spec is None:
        return None
    spec = _require_map(spec, where)
    retry = spec.get("retry", 0)
    if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
        raise ManifestError(f"{where}.retry must be a non-negative integer.")
    policy = spec.get("backoffPolicy")
    if policy not in (None, "exponential", "linear"):
        raise ManifestError(f"{where}.backoffPolicy must be exponential or linear.")
    delay, timeout = spec.get("backoffDelay"), spec.get("timeout")
    sink = spec.get("deadLetterSink")
    return Delivery(
        retry=retry,
        backoff_policy=policy,
        backoff_delay=None if delay is None else parse_duration(str(delay)),
        timeout=None if timeout is None else parse_duration(str(timeout)),
        dead_letter_sink=None
        if sink is None
        else _parse_destination(sink, f"{where}.deadLetterSink"),
    )


def _parse_trigger(document: Mapping[str, Any]) -> Trigger:
    name = document["metadata"]["name"]
    where = f"Trigger {name}"
    spec = _require_map(document.get("spec"), f"{where}.spec")
    return Trigger(
        name=name,
        matches=compile_trigger_filter(spec, where),
        subscriber=_parse_destination(spec.get("subscriber"), f"{where}.subscriber"),
        delivery=_parse_delivery(spec.get("delivery"), f"{where}.delivery"),
    )


def _ping_data(spec: Mapping[str, Any], where: str) -> bytes | None:
    if "data" in spec and "dataBase64" in spec:
        raise ManifestError(f"{where}: data and dataBase64 are mutually exclusive.")
    if "dataBase64" in spec:
        return base64.b64decode(spec["dataBase64"], validate=True)
    return None if spec.get("data") is None else str(spec["data"]).encode()


def _parse_ping_source(document: Mapping[str, Any], broker: str) -> PingSource:
    metadata = document["metadata"]
    where = f"PingSource {metadata['name']}"
    spec = _require_map(document.get("spec"), f"{where}.spec")
    schedule = spec.get("schedule", "* * * * *")
    validate_schedule(schedule)
    sink = _parse_destination(spec.get("sink"), f"{where}.sink")
    if (sink.kind, sink.name) != ("Broker", broker):
        raise ManifestError(
            f"{where}: the dev broker only runs PingSources that sink to Broker {broker}."
        )
    extensions = ((spec.get("ceOverrides") or {}).get("extensions")) or {}
    for key, value in extensions.items():
        if key in _CORE_ATTRIBUTES or not re.fullmatch(r"[a-z0-9]{1,20}", key):
            raise ManifestError(f"{where}: {key!r} cannot be a CloudEvents extension name.")
        if not isinstance(value, str):
            raise ManifestError(f"{where}: extension {key} must be a string.")
    try:
        timezone = ZoneInfo(spec.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ManifestError(f"{where}: unknown timezone {spec.get('timezone')!r}.") from None
    return PingSource(
        name=metadata["name"],
        namespace=metadata.get("namespace", NAMESPACE),
        schedule=schedule,
        timezone=timezone,
        content_type=spec.get("contentType"),
        data=_ping_data(spec, where),
        extensions=dict(extensions),
    )


def parse_topology(documents: Iterable[Mapping[str, Any]], broker: str = BROKER) -> Topology:
    """The Broker named `broker`, its Triggers and the PingSources that feed it."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for document in documents:
        api, kind = str(document.get("apiVersion", "")), str(document.get("kind", ""))
        if (api, kind) not in {
            ("eventing.knative.dev/v1", "Broker"),
            ("eventing.knative.dev/v1", "Trigger"),
            ("sources.knative.dev/v1", "PingSource"),
        }:
            continue
        name = (document.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise ManifestError(f"A {kind} has no metadata.name.")
        key = (kind, name)
        if key in found:
            raise ManifestError(f"{kind} {key[1]} is defined twice.")
        found[key] = document
    if ("Broker", broker) not in found:
        raise ManifestError(f"No Broker named {broker} in the manifests.")
    spec = found["Broker", broker].get("spec") or {}
    delivery = _parse_delivery(spec.get("delivery"), f"Broker {broker}.delivery") or Delivery()
    triggers = tuple(
        _parse_trigger(document)
        for (kind, _), document in found.items()
        if kind == "Trigger" and (document.get("spec") or {}).get("broker", BROKER) == broker
    )
    ping_sources = tuple(
        _parse_ping_source(document, broker)
        for (kind, _), document in found.items()
        if kind == "PingSource"
    )
    return Topology(broker, delivery, triggers, ping_sources)


def read_manifests(project_dir: Path) -> list[Mapping[str, Any]]:
    """Every YAML document under knative/, except overlays (cluster patches, not resources)."""
    documents = []
    for path in sorted((project_dir / "knative").glob("**/*.yaml")):
        if "overlays" in path.relative_to(project_dir / "knative").parts:
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, Mapping) and "kind" in document:
                documents.append(document)
    return documents


def load_topology(project_dir: Path, broker: str = BROKER) -> Topology:
    return parse_topology(read_manifests(project_dir), broker)


# Subscribers: the Knative Services' local addresses.


def default_subscribers() -> dict[str, str]:
    """rps-start-game → http://127.0.0.1:8081/, … (SPEC §1 ports)."""
    return {
        f"rps-{name.replace('_', '-')}": f"http://{LOOPBACK}:{port}/"
        for name, port in PORTS.items()
        if name != "devbroker"
    }


def parse_subscriber(text: str) -> tuple[str, str]:
    """NAME=URL, as given to --subscriber."""
    name, equals, url = text.partition("=")
    if not equals or not name or urlsplit(url).scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=http://HOST:PORT/")
    return name, url


def resolve(destination: Destination, subscribers: Mapping[str, str], where: str) -> str:
    """The URL a destination stands for locally: the ksvc's address joined with `uri`."""
    if destination.kind is None:
        if not urlsplit(destination.uri or "").scheme:
            raise ManifestError(f"{where}: a uri without a ref must be absolute.")
        return str(destination.uri)
    if destination.kind != "Service":
        raise ManifestError(f"{where}: the dev broker only delivers to Knative Services.")
    if destination.name is None or destination.name not in subscribers:
        raise ManifestError(
            f"{where}: no local address for Service {destination.name};"
            f" pass --subscriber {destination.name}=http://127.0.0.1:PORT/."
        )
    return urljoin(subscribers[destination.name], destination.uri or "")
