"""A local stand-in for the Knative Broker: the same Triggers, retries, dead letters and
PingSources, read from knative/ (SPEC §10.4). Development only; the cluster runs the real Broker.

python -m rpsquest.devbroker [--pings] [--time-scale X] [--port 8080] [--subscriber NAME=URL ...]
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import logging
import operator
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
import yaml
from cloudevents.conversion import to_binary
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http
from croniter import croniter
from flask import Flask, Response, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from rpsquest import web
from rpsquest.config import Settings
from rpsquest.errors import Forbidden, InvalidEvent, NotFound, RpsError
from rpsquest.events import PING
from rpsquest.local import LOOPBACK, PORTS

NAMESPACE = "rps-quest"
BROKER = "default"
# What Knative's dispatcher retries (kncloudevents.SelectiveRetry): these, every 5xx and no answer.
RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})
# Knative attaches these to an event it dead-letters; knativeerrordata is capped at 1024 characters.
ERROR_DEST, ERROR_CODE, ERROR_DATA = "knativeerrordest", "knativeerrorcode", "knativeerrordata"
_CORE_ATTRIBUTES = frozenset(
    {"id", "source", "type", "specversion", "time", "subject", "datacontenttype", "dataschema"}
)

log = logging.getLogger("rpsquest.devbroker")

Attributes = Mapping[str, str]
Predicate = Callable[[Attributes], bool]


class ManifestError(ValueError):
    """A manifest the dev broker cannot honour; raised at load so a typo never routes silently."""


# Durations and schedules.

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"P(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?"
)


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as PT0.2S or PT9M (days and smaller units)."""
    match = _DURATION.fullmatch(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ManifestError(f"{text!r} is not an ISO-8601 duration such as PT10S.")
    units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    return sum(float(match[name] or 0) * size for name, size in units.items())


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# name, lowest, highest, names for the values from `lowest` on (Knative parses with robfig/cron).
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def _cron_value(text: str, low: int, high: int, names: Sequence[str], where: str) -> int:
    if text.lower() in names:
        return low + names.index(text.lower())
    if not text.isdigit() or not low <= int(text) <= high:
        raise ManifestError(f"{where}: {text!r} is not a value in {low}-{high}.")
    return int(text)


def _check_cron_item(item: str, low: int, high: int, names: Sequence[str], where: str) -> None:
    base, slash, step_text = item.partition("/")
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start = _cron_value(first, low, high, names, where)
        end = _cron_value(last, low, high, names, where)
        if start > end:
            raise ManifestError(f"{where}: the range {base!r} runs backwards.")
    else:
        start = _cron_value(base, low, high, names, where)
        end = high if slash else start  # robfig/cron reads "N/step" as N-high/step
    if not slash:
        return
    if not step_text.isdigit() or int(step_text) == 0:
        raise ManifestError(f"{where}: the step {step_text!r} must be a positive integer.")
    if int(step_text) > end - start:
        raise ManifestError(
            f"{where}: the step {step_text} exceeds the range {start}-{end}, so it would fire only"
            f" at {start} (the original's */150 silently meant hourly)."
        )


def validate_schedule(schedule: str) -> None:
    """A five-field cron string whose every step fits its field's range (SPEC §10.1)."""
    fields = schedule.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ManifestError(f"Schedule {schedule!r} needs five fields (minute … day of week).")
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            _check_cron_item(item, low, high, names, f"schedule {schedule!r}, {name}")
    if not croniter.is_valid(schedule):
        raise ManifestError(f"Schedule {schedule!r} is not a valid cron expression.")


def next_fire(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` that `schedule` fires, in `after`'s time zone."""
    return croniter(schedule, after).get_next(datetime)


# Filters (Trigger `filter.attributes`, and the `filters` dialects of the Subscriptions API).


def attributes_of(event: CloudEvent) -> dict[str, str]:
    """Every context attribute, extensions included, as the strings filters compare."""
    return {name: str(value) for name, value in event.get_attributes().items()}


def compile_attribute_filter(expected: Mapping[str, Any], where: str) -> Predicate:
    """`filter.attributes`: every key present and equal; an empty value matches any value."""
    for name, value in expected.items():
        if not isinstance(value, str):
            raise ManifestError(f"{where}: filter.attributes.{name} must be a string.")
    wanted = dict(expected)

    def matches(attributes: Attributes) -> bool:
        return all(
            name in attributes and (value == "" or attributes[name] == value)
            for name, value in wanted.items()
        )

    return matches


def _compile_comparison(
    dialect: str, expected: Any, compare: Callable[[str, str], bool], where: str
) -> Predicate:
    if not isinstance(expected, Mapping) or not expected:
        raise ManifestError(f"{where}: `{dialect}` needs a map of attribute to value.")
    for name, value in expected.items():
        if not name or not isinstance(value, str) or not value:
            raise ManifestError(f"{where}: `{dialect}` names and values must be non-empty strings.")
    wanted = dict(expected)

    def matches(attributes: Attributes) -> bool:
        return all(
            name in attributes and compare(attributes[name], value)
            for name, value in wanted.items()
        )

    return matches


def _compile_expressions(expressions: Any, dialect: str, where: str) -> list[Predicate]:
    if not isinstance(expressions, list) or not expressions:
        raise ManifestError(f"{where}: `{dialect}` needs at least one filter expression.")
    return [compile_expression(expression, where) for expression in expressions]


def compile_expression(expression: Any, where: str) -> Predicate:
    """One `filters` expression: exactly one of exact, prefix, suffix, all, any, not."""
    if not isinstance(expression, Mapping) or len(expression) != 1:
        raise ManifestError(f"{where}: each filter expression has exactly one dialect.")
    ((dialect, value),) = expression.items()
    match dialect:
        case "exact":
            return _compile_comparison(dialect, value, operator.eq, where)
        case "prefix":
            return _compile_comparison(dialect, value, str.startswith, where)
        case "suffix":
            return _compile_comparison(dialect, value, str.endswith, where)
        case "all":
            parts = _compile_expressions(value, dialect, where)
            return lambda attributes: all(part(attributes) for part in parts)
        case "any":
            parts = _compile_expressions(value, dialect, where)
            return lambda attributes: any(part(attributes) for part in parts)
        case "not":
            inner = compile_expression(value, where)
            return lambda attributes: not inner(attributes)
        case "cesql":
            raise ManifestError(
                f"{where}: CESQL filters are not supported by the dev broker;"
                " use exact, prefix, suffix, all, any or not."
            )
        case _:
            raise ManifestError(f"{where}: unknown filter dialect {dialect!r}.")


def compile_trigger_filter(spec: Mapping[str, Any], where: str) -> Predicate:
    """`filters` (every expression true) overrides `filter`; neither passes every event."""
    if spec.get("filters"):
        parts = _compile_expressions(spec["filters"], "filters", where)
        return lambda attributes: all(part(attributes) for part in parts)
    attributes = (spec.get("filter") or {}).get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise ManifestError(f"{where}: filter.attributes must be a map.")
    return compile_attribute_filter(attributes, where)


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
        if self.backoff_delay is None or self.backoff_policy is None:
            return 0.0
        if self.backoff_policy == "exponential":
            return self.backoff_delay * 2**retry_number
        return self.backoff_delay * retry_number  # linear: Knative's first retry does not wait


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


# Subscribers: Knative Service names to local addresses.


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


# Delivery.


@dataclass(frozen=True, slots=True)
class Outcome:
    """One delivery attempt: an HTTP status, or None when nothing answered."""

    status: int | None
    reason: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Send = Callable[[str, Mapping[str, str], bytes, float | None], Outcome]


def post_over_http(
    url: str, headers: Mapping[str, str], body: bytes, timeout: float | None
) -> Outcome:
    try:
        response = requests.post(url, data=body, headers=dict(headers), timeout=timeout)
    except requests.RequestException as error:
        return Outcome(None, f"{type(error).__name__}: {error}"[:300])
    return Outcome(
        response.status_code, response.reason or "", dict(response.headers), response.content
    )


def is_retryable(status: int | None) -> bool:
    """Knative retries transport errors, 404, 408, 409, 429 and 5xx; other failures dead-letter."""
    return status is None or status >= 500 or status in RETRYABLE_STATUSES


def _is_json(content_type: str | None) -> bool:
    return content_type is None or "json" in content_type


def parse_event(headers: Mapping[str, str] | Headers, body: bytes) -> CloudEvent:
    """A binary or structured CloudEvent whose data is kept as the bytes it carried."""
    event = from_http(dict(headers), body, data_unmarshaller=lambda data: data)
    data = event.data
    if isinstance(data, str):  # structured mode: the SDK hands back the JSON text of `data`
        value = json.loads(data)
        content_type = event.get("datacontenttype")
        text = value if isinstance(value, str) and not _is_json(content_type) else data
        event.data = text.encode()
    return event


def binary_request(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of `event` in binary mode, as the Broker delivers."""
    headers, body = to_binary(event)
    return {**headers, "Prefer": "reply"}, body or b""


def read_reply(outcome: Outcome) -> CloudEvent | None:
    """A 2xx answer that carries a CloudEvent (binary or structured) is a reply to re-publish."""
    headers = {name.lower(): value for name, value in outcome.headers.items()}
    structured = headers.get("content-type", "").startswith("application/cloudevents+json")
    if "ce-specversion" not in headers and not structured:
        return None
    return parse_event(headers, outcome.body)


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _data_record(event: CloudEvent) -> dict[str, Any]:
    """The data in a dead-letter file: JSON as JSON, else text, else base64."""
    data = event.data
    if not isinstance(data, bytes | str):  # None, or an event built in-process with JSON data
        return {"data": data}
    raw = data if isinstance(data, bytes) else data.encode()
    if _is_json(event.get("datacontenttype")):
        try:
            return {"data": json.loads(raw)}
        except ValueError:
            pass
    try:
        return {"data": raw.decode()}
    except UnicodeDecodeError:
        return {"data_base64": base64.b64encode(raw).decode()}


def with_error_extensions(event: CloudEvent, destination: str, outcome: Outcome) -> CloudEvent:
    """The event as Knative sends it to a dead-letter sink: where it failed, the code, the body."""
    detail = outcome.body or outcome.reason.encode()
    attributes = {
        **event.get_attributes(),
        ERROR_DEST: destination,
        ERROR_CODE: str(outcome.status or 500),  # Knative reports "no answer" as 500
        ERROR_DATA: base64.b64encode(detail).decode()[:1024],
    }
    return CloudEvent(attributes, event.data)


class DevBroker:
    """Fans each published event out to the matching Triggers, one thread per delivery."""

    def __init__(
        self,
        topology: Topology,
        subscribers: Mapping[str, str],
        dead_letter_dir: Path,
        *,
        time_scale: float = 1.0,
        send: Send = post_over_http,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be ≥ 0.")
        self.topology = topology
        self.dead_letter_dir = dead_letter_dir
        self.time_scale = time_scale
        self.ping_sources = {source.name: source for source in topology.ping_sources}
        self._send = send
        self._sleep = sleep
        self._urls = {
            trigger.name: resolve(trigger.subscriber, subscribers, f"Trigger {trigger.name}")
            for trigger in topology.triggers
        }
        self._dead_letter_urls = {
            trigger.name: self._resolve_dead_letter(trigger, subscribers)
            for trigger in topology.triggers
        }
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()

    def _resolve_dead_letter(self, trigger: Trigger, subscribers: Mapping[str, str]) -> str | None:
        sink = (trigger.delivery and trigger.delivery.dead_letter_sink) or (
            self.topology.delivery.dead_letter_sink
        )
        return (
            None
            if sink is None
            else resolve(sink, subscribers, f"Trigger {trigger.name} dead letters")
        )

    def delivery_for(self, trigger: Trigger) -> Delivery:
        """The Trigger's delivery, else the Broker's."""
        return trigger.delivery or self.topology.delivery

    def subscriber_url(self, trigger: Trigger) -> str:
        return self._urls[trigger.name]

    def publish(self, event: CloudEvent) -> list[str]:
        """Start delivering `event` to every matching Trigger; returns their names."""
        attributes = attributes_of(event)
        matched = [trigger for trigger in self.topology.triggers if trigger.matches(attributes)]
        log.info(
            "publish type=%s id=%s triggers=%s",
            attributes["type"],
            attributes["id"],
            ",".join(trigger.name for trigger in matched) or "-",
        )
        for trigger in matched:
            self._start(self.deliver, event, trigger)
        return [trigger.name for trigger in matched]

    def _start(self, target: Callable[..., object], *args: object) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, daemon=True)
        with self._lock:  # started under the lock, so wait_idle never joins an unstarted thread
            self._threads.add(thread)
            thread.start()

    def in_flight(self) -> int:
        with self._lock:
            return len(self._threads)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no delivery (replies included) is running; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                running = next(iter(self._threads), None)
            if running is None:
                return True
            running.join(max(0.0, deadline - time.monotonic()))
        return self.in_flight() == 0

    def _attempt_all(
        self, event: CloudEvent, url: str, delivery: Delivery, label: str
    ) -> tuple[Outcome, int]:
        """POST with retries per `delivery`; the last outcome and how many attempts were made."""
        headers, body = binary_request(event)
        attempts = delivery.retry + 1
        for attempt in range(attempts):
            if attempt:
                self._sleep(delivery.backoff(attempt - 1) * self.time_scale)
            outcome = self._send(url, headers, body, delivery.timeout)
            log.info(
                "%s type=%s id=%s subscriber=%s attempt=%d/%d status=%s%s",
                label,
                event["type"],
                event["id"],
                url,
                attempt + 1,
                attempts,
                outcome.status if outcome.status is not None else "-",
                "" if outcome.ok else f" reason={outcome.reason!r}",
            )
            if outcome.ok or not is_retryable(outcome.status):
                return outcome, attempt + 1
        return outcome, attempts

    def deliver(self, event: CloudEvent, trigger: Trigger) -> Outcome:
        """One event to one Trigger's subscriber: retries, then the reply or the dead letter."""
        url = self.subscriber_url(trigger)
        delivery = self.delivery_for(trigger)
        outcome, attempts = self._attempt_all(
            event, url, delivery, f"deliver trigger={trigger.name}"
        )
        if outcome.ok:
            self._republish_reply(event, trigger, outcome)
        else:
            self._dead_letter(event, trigger, url, outcome, attempts)
        return outcome

    def _republish_reply(self, event: CloudEvent, trigger: Trigger, outcome: Outcome) -> None:
        try:
            reply = read_reply(outcome)
        except (GenericException, ValueError) as error:
            log.warning("reply to id=%s from %s dropped: %s", event["id"], trigger.name, error)
            return
        if reply is not None:
            log.info(
                "reply type=%s id=%s from trigger=%s", reply["type"], reply["id"], trigger.name
            )
            self.publish(reply)

    def _dead_letter(
        self, event: CloudEvent, trigger: Trigger, url: str, outcome: Outcome, attempts: int
    ) -> None:
        path = self.write_dead_letter(event, trigger, url, outcome, attempts)
        log.warning(
            "dead-letter type=%s id=%s trigger=%s file=%s",
            event["type"],
            event["id"],
            trigger.name,
            path,
        )
        sink = self._dead_letter_urls[trigger.name]
        if sink is not None:
            failed = with_error_extensions(event, url, outcome)
            self._attempt_all(failed, sink, self.delivery_for(trigger), "dead-letter-sink")

    def write_dead_letter(
        self, event: CloudEvent, trigger: Trigger, url: str, outcome: Outcome, attempts: int
    ) -> Path:
        """var/dead-letter/<utc>_<id>.json: the event and why it was given up."""
        record = {
            "attributes": attributes_of(event),
            **_data_record(event),
            "trigger": trigger.name,
            "subscriber": url,
            "attempts": attempts,
            "status": outcome.status,
            "reason": outcome.reason,
            "response": outcome.body[:1024].decode(errors="replace"),
        }
        safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", str(event["id"]))[:100]
        self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        stamp = _utc_stamp()
        with self._lock:  # two Triggers may dead-letter the same event in the same microsecond
            path = self.dead_letter_dir / f"{stamp}_{safe_id}.json"
            suffix = 1
            while path.exists():
                suffix += 1
                path = self.dead_letter_dir / f"{stamp}_{safe_id}-{suffix}.json"
            path.write_text(
                json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        return path

    def ping(self, name: str, fired_at: datetime | None = None) -> CloudEvent:
        """Emit PingSource `name` now (or as of `fired_at`) into the broker."""
        if name not in self.ping_sources:
            raise KeyError(name)
        event = self.ping_sources[name].event(fired_at or datetime.now(UTC))
        self.publish(event)
        return event

    def run_schedules(
        self, stop: threading.Event, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """Emit every PingSource on its cron schedule until `stop` is set."""
        if not self.ping_sources:
            return
        now = clock()
        due = {
            name: next_fire(source.schedule, now.astimezone(source.timezone))
            for name, source in self.ping_sources.items()
        }
        while not stop.is_set():
            name = min(due, key=due.__getitem__)
            if stop.wait(max(0.0, (due[name] - clock()).total_seconds())):
                return
            self.ping(name, due[name])
            due[name] = next_fire(self.ping_sources[name].schedule, due[name])


# HTTP.


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def create_app(broker: DevBroker, pings: bool = False) -> Flask:
    """POST / (events in, 202), POST /admin/ping/<name> (loopback), GET /healthz."""
    app = Flask("rpsquest.devbroker")
    app.register_error_handler(RpsError, web.error_reply)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.code or 0, "bad_request")
        return web.json_response(
            {"error": {"code": code, "message": error.description}}, error.code or 400
        )

    @app.post("/")
    def ingest() -> Response:
        body = web.read_body(request, web.INTERNAL_BODY_LIMIT)
        try:
            event = parse_event(request.headers, body)
        except (GenericException, ValueError) as error:
            raise InvalidEvent(f"Not a valid CloudEvent: {error}") from None
        broker.publish(event)
        return Response(status=202)

    @app.post("/admin/ping/<name>")
    def ping(name: str) -> Response:
        if not _is_loopback(request.remote_addr):
            raise Forbidden("The dev broker answers admin calls from loopback clients only.")
        if name not in broker.ping_sources:
            raise NotFound(f"No PingSource named {name}.")
        event = broker.ping(name)
        return web.json_response(
            {"id": event["id"], "type": event["type"], "source": event["source"]}, 202
        )

    @app.get("/healthz")
    def healthz() -> Response:
        payload = web.health(
            "devbroker",
            broker=broker.topology.broker,
            triggers=len(broker.topology.triggers),
            ping_sources=sorted(broker.ping_sources),
            pings=pings,
            in_flight=broker.in_flight(),
        )
        return web.json_response(payload)

    return app


def _stop_serving(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rpsquest.devbroker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=PORTS["devbroker"])
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--pings", action="store_true", help="emit PingSources on their schedules")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply every backoff (tests use 0.001)"
    )
    parser.add_argument(
        "--subscriber",
        type=parse_subscriber,
        action="append",
        default=[],
        metavar="NAME=URL",
        help="address of a Knative Service (default: rps-play=http://127.0.0.1:8082/, …)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our own lines log every delivery
    settings = Settings.from_env()
    try:
        topology = load_topology(settings.project_dir)
        subscribers = {**default_subscribers(), **dict(args.subscriber)}
        broker = DevBroker(
            topology, subscribers, settings.var_dir / "dead-letter", time_scale=args.time_scale
        )
    except ManifestError as error:
        raise SystemExit(f"devbroker: {error}") from None
    server = make_server(args.host, args.port, create_app(broker, args.pings), threaded=True)
    stop = threading.Event()
    if args.pings:
        threading.Thread(target=broker.run_schedules, args=(stop,), daemon=True).start()
    log.info(
        "dev broker %s on http://%s:%d/: %d triggers, ping sources %s (%s)",
        topology.broker,
        args.host,
        server.port,
        len(topology.triggers),
        ", ".join(broker.ping_sources) or "-",
        "scheduled" if args.pings else "on POST /admin/ping/<name> only",
    )
    # Explicit, since a shell starts background jobs with SIGINT ignored (rpsquest.local sends it).
    signal.signal(signal.SIGINT, _stop_serving)
    signal.signal(signal.SIGTERM, _stop_serving)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
