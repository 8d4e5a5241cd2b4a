"""CloudEvents on HTTP as the Broker speaks them: an event parsed from either mode with its data
kept as bytes, an event sent in binary mode, one POST's outcome, and a reply read from it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http
from werkzeug.datastructures import Headers


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


# url, headers, body, timeout in seconds (None: wait for ever) -> what came back.
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


def is_json(content_type: str | None) -> bool:
    """Whether data of this datacontenttype is JSON (CloudEvents: no type means JSON)."""
    return content_type is None or "json" in content_type


def parse_event(headers: Mapping[str, str] | Headers, body: bytes) -> CloudEvent:
    """A binary or structured CloudEvent whose data is kept as the bytes it carried."""
    event = from_http(dict(headers), body, data_unmarshaller=lambda data: data)
    data = event.data
    if isinstance(data, str):  # structured mode: the SDK hands back the JSON text of `data`
        value = json.loads(data)
        content_type = event.get("datacontenttype")
        text = value if isinstance(value, str) and not is_json(content_type) else data
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
