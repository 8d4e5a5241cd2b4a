"""Delivery as the Knative Broker does it: every published event to each matching Trigger's
subscriber, retried with backoff, then its reply published back in or the event dead-lettered
(a file under var/dead-letter/, and the dead-letter sink); PingSources on their schedules."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent

from rpsquest.devbroker.filters import attributes_of
from rpsquest.devbroker.timing import next_fire
from rpsquest.devbroker.topology import Delivery, Topology, Trigger, resolve
from rpsquest.devbroker.wire import (
    Outcome,
    Send,
    binary_request,
    is_json,
    post_over_http,
    read_reply,
)
from rpsquest.devbroker.workers import Workers

# Deliveries at once; a burst beyond this waits its turn rather than starting a thread each. A
# delivery holds its worker through its backoffs and for as long as its subscriber takes (train:
# minutes), so there are enough that a local run's handful of events never waits.
MAX_WORKERS = 32
# What Knative's dispatcher retries (kncloudevents.SelectiveRetry): these, every 5xx and no answer.
RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})
# Knative attaches these to an event it dead-letters; knativeerrordata is capped at 1024 characters.
ERROR_DEST, ERROR_CODE, ERROR_DATA = "knativeerrordest", "knativeerrorcode", "knativeerrordata"

log = logging.getLogger(__name__)


def is_retryable(status: int | None) -> bool:
    """Knative retries transport errors, 404, 408, 409, 429 and 5xx; other failures dead-letter."""
    return status is None or status >= 500 or status in RETRYABLE_STATUSES


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _data_record(event: CloudEvent) -> dict[str, Any]:
    """The data in a dead-letter file: JSON as JSON, else text, else base64."""
    data = event.data
    if not isinstance(data, bytes | str):  # None, or an event built in-process with JSON data
        return {"data": data}
    raw = data if isinstance(data, bytes) else data.encode()
    if is_json(event.get("datacontenttype")):
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
    """Fans each published event out to the matching Triggers. Each delivery (its attempts and
    backoffs, then its reply or dead letter) runs start to end on one of at most `max_workers`
    threads; deliveries beyond that wait their turn in the order they were published."""

    def __init__(
        self,
        topology: Topology,
        subscribers: Mapping[str, str],
        dead_letter_dir: Path,
        *,
        time_scale: float = 1.0,
        send: Send = post_over_http,
        sleep: Callable[[float], None] = time.sleep,
        max_workers: int = MAX_WORKERS,
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
        self._lock = threading.Lock()  # dead-letter file names
        self._workers = Workers(max_workers, "delivery")

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
            self._workers.submit(partial(self.deliver, event, trigger))
        return [trigger.name for trigger in matched]

    @property
    def max_workers(self) -> int:
        return self._workers.size

    def in_flight(self) -> int:
        """Deliveries published and not finished, running or waiting for a worker."""
        return self._workers.pending()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no delivery (replies included) is running or queued; False on timeout."""
        return self._workers.wait_idle(timeout)

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
        self,
        stop: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        speed: float = 1.0,
    ) -> None:
        """Emit every PingSource on its cron schedule until `stop` is set. At `speed` the
        schedules run on a clock that many times faster from now on: a soak lives through a
        day of schedules in an hour at 24."""
        if not self.ping_sources:
            return
        started = clock()

        def schedule_time() -> datetime:
            return started + (clock() - started) * speed

        due = {
            name: next_fire(source.schedule, started.astimezone(source.timezone))
            for name, source in self.ping_sources.items()
        }
        while not stop.is_set():
            name = min(due, key=due.__getitem__)
            if stop.wait(max(0.0, (due[name] - schedule_time()).total_seconds() / speed)):
                return
            self.ping(name, due[name])
            due[name] = next_fire(self.ping_sources[name].schedule, due[name])
