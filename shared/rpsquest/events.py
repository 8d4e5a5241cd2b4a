"""CloudEvents in and out: parsing deliveries, PingSource intents, replies and K_SINK sends."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, Self, TypeVar

from cloudevents.conversion import to_binary
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http
from flask import Request, Response
from sqlalchemy import Engine

from rpsquest import metrics
from rpsquest.errors import Busy, InvalidEvent, RpsError, Unavailable
from rpsquest.store.coordination import claim_event, finish_event, forget_event
from rpsquest.web import INTERNAL_BODY_LIMIT, is_unicode, read_body

TRAINING_REQUESTED = "io.rpsquest.training.requested"
TRAINING_COMPLETED = "io.rpsquest.training.completed"
PROMOTION_REQUESTED = "io.rpsquest.promotion.requested"
MODEL_PROMOTED = "io.rpsquest.model.promoted"
TELEMETRY_REQUESTED = "io.rpsquest.telemetry.requested"
RETENTION_REQUESTED = "io.rpsquest.retention.requested"
PING = "dev.knative.sources.ping"
EVENT_TYPES = (
    TRAINING_REQUESTED,
    TRAINING_COMPLETED,
    PROMOTION_REQUESTED,
    MODEL_PROMOTED,
    TELEMETRY_REQUESTED,
    RETENTION_REQUESTED,
    PING,
)
# What the store keeps of an event's attributes (store/schema.py: processed_events, dead_letters).
_ATTRIBUTE_LIMITS = {"id": 255, "source": 255, "type": 128}
# A PingSource cannot set `type`, so it names what it means in the `rpsintent` extension.
INTENTS = {
    "training.requested": TRAINING_REQUESTED,
    "promotion.requested": PROMOTION_REQUESTED,
    "telemetry.requested": TELEMETRY_REQUESTED,
    "retention.requested": RETENTION_REQUESTED,
}


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    source: str
    type: str
    data: Mapping[str, Any]


def is_cloudevent(request: Request) -> bool:
    """Binary mode carries ce-specversion; structured mode its own content type."""
    return "ce-specversion" in request.headers or (request.mimetype or "").startswith(
        "application/cloudevents+json"
    )


def parse_event(request: Request, accepted: Collection[str] | None) -> Event:
    """Decode a delivery; anything malformed or unexpected is a poison event (400, no retry).
    `accepted` None takes any type (the dead-letter sink)."""
    body = read_body(request, INTERNAL_BODY_LIMIT)
    try:
        event = from_http(dict(request.headers), body)
    except GenericException as exc:
        raise InvalidEvent(f"Not a valid CloudEvent: {exc}") from None
    except ValueError:  # a structured body that is not UTF-8 JSON, before the SDK's own checks
        raise InvalidEvent("Not a valid CloudEvent: the body is not JSON.") from None
    except TypeError:  # the SDK hashes attribute values: a list or object where one belongs
        raise InvalidEvent("Not a valid CloudEvent: an attribute is not a string.") from None
    for attribute, limit in _ATTRIBUTE_LIMITS.items():
        value = str(event[attribute])
        if len(value) > limit or not value.isprintable():
            raise InvalidEvent(f"The event's {attribute} must be printable, at most {limit} long.")
    kind = event["type"]
    if kind == PING:
        kind = INTENTS.get(str(event.get("rpsintent", "")), PING)
    if accepted is not None and kind not in accepted:
        raise InvalidEvent(f"This function does not handle events of type {kind}.")
    data = event.data
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data or "{}")
        except ValueError:
            raise InvalidEvent("The event data is not JSON.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict) or not is_unicode(data):
        raise InvalidEvent("The event data must be a JSON object of valid Unicode text.")
    return Event(str(event["id"]), str(event["source"]), kind, data)


class _FromJson(Protocol):
    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self: ...


Body = TypeVar("Body", bound=_FromJson)


def event_body(kind: type[Body], data: Mapping[str, Any]) -> Body:
    """Event data parsed like an HTTP body; data that does not parse is poison (400, no retry)."""
    try:
        return kind.from_json(data)
    except RpsError as exc:
        raise InvalidEvent(exc.message) from None


def reply_id(function: str, source: str, event_id: str) -> str:
    """Deterministic, so a redelivered event yields a reply its consumers can dedupe."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{function}:{source}:{event_id}"))


def new_event(
    function: str, kind: str, data: Mapping[str, Any], subject: str, event_id: str | None = None
) -> CloudEvent:
    attributes = {
        "type": kind,
        "source": f"/rpsquest/{function}",
        "subject": subject,
        "datacontenttype": "application/json",
        "id": event_id or str(uuid.uuid4()),
    }
    return CloudEvent(attributes, dict(data))


def event_response(event: CloudEvent) -> Response:
    """A reply in binary mode: the Broker re-publishes it."""
    headers, body = to_binary(event)
    return Response(body, status=200, headers=headers)


def acknowledged() -> Response:
    """An event taken with no reply (SPEC: 200 with no reply): an empty body, so the Broker
    publishes nothing, and no Content-Type, since there is nothing to label."""
    response = Response(status=HTTPStatus.OK)
    del response.headers["Content-Type"]
    return response


def serialise(event: CloudEvent) -> str:
    return json.dumps({"attributes": dict(event.get_attributes()), "data": event.data})


def deserialise(stored: str) -> CloudEvent:
    saved = json.loads(stored)
    return CloudEvent(saved["attributes"], saved["data"])


def deliver(
    request: Request,
    function: str,
    accepted: Collection[str],
    database: Engine,
    process: Callable[[Event], CloudEvent | None],
    lease_seconds: float,
) -> Response:
    """Handle one delivery exactly once per (function, source, id); duplicates get the stored reply.

    A duplicate while the first is still processing answers 429 so the Broker retries later.
    """
    try:
        event = parse_event(request, accepted)
    except InvalidEvent:
        metrics.EVENTS.labels(function, "invalid", "rejected").inc()
        raise
    claim = claim_event(database, function, event.source, event.id, event.type, lease_seconds)
    if claim.state != "new":
        metrics.EVENTS.labels(function, event.type, "duplicate").inc()
        if claim.state == "busy":
            raise Busy("This event is being processed; retry later.")
        return event_response(deserialise(claim.reply)) if claim.reply else acknowledged()
    try:
        reply = process(event)
        finish_event(
            database, function, event.source, event.id, serialise(reply) if reply else None
        )
    except BaseException:
        # Nothing is stored for a failure (nor for work whose reply could not be stored), so the
        # Broker's retry does the work afresh. When the database itself is down the record cannot
        # go yet: it is dropped before this process's next claim, and the failure that happened
        # first is the one raised.
        metrics.EVENTS.labels(function, event.type, "failed").inc()
        with contextlib.suppress(Unavailable):
            forget_event(database, function, event.source, event.id)
        raise
    metrics.EVENTS.labels(function, event.type, "processed").inc()
    return event_response(reply) if reply else acknowledged()


def send(sink_url: str, event: CloudEvent) -> None:
    """POST to K_SINK (the Broker), retrying transient failures with back-off."""
    # Imported here: play, which never sends, starts 0.1 s sooner without them.
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util import Retry

    retry = Retry(
        total=4,
        backoff_factor=0.2,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
    )
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        headers, body = to_binary(event)
        session.post(sink_url, data=body, headers=headers, timeout=10).raise_for_status()
