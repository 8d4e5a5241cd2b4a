"""Coordination through the database: leases, processed-event records and small shared state."""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from rpsquest.errors import Unavailable
from rpsquest.store.database import write_transaction
from rpsquest.store.games import utc_now
from rpsquest.store.schema import kv, locks, processed_events

# The leases by name: train's for a cycle; promote's for an evaluation and for retention,
# which takes train's as well.
TRAIN_LEASE, PROMOTE_LEASE = "train", "promote"

# Releases that met a database outage, per database. This process knows the work they end is
# over, so it settles them before its next claim instead of leaving a lease to run out for
# minutes: train and promote run as one instance, so the Broker's retry comes back here.
# Each action takes the database, so that the list does not keep a disposed engine alive.
Release = Callable[[Engine], None]
_owed: weakref.WeakKeyDictionary[Engine, list[Release]] = weakref.WeakKeyDictionary()
_owed_lock = threading.Lock()


def _release(database: Engine, action: Release) -> None:
    """Run a release now, or owe it until the database answers again."""
    try:
        action(database)
    except Unavailable:
        with _owed_lock:
            _owed.setdefault(database, []).append(action)
        raise


def _settle_owed(database: Engine) -> None:
    with _owed_lock:
        owed = _owed.pop(database, [])
    for done, action in enumerate(owed):
        try:
            action(database)
        except Unavailable:
            with _owed_lock:
                _owed.setdefault(database, []).extend(owed[done:])
            raise


def acquire_lease(database: Engine, name: str, holder: str, seconds: float) -> bool:
    """Take the named lease unless someone else holds an unexpired one."""
    _settle_owed(database)
    with write_transaction(database) as connection:
        row = (
            connection.execute(select(locks).where(locks.c.name == name).with_for_update())
            .mappings()
            .first()
        )
        if row and row["holder"] != holder and row["expires_at"] > utc_now():
            return False
        values = {"holder": holder, "expires_at": utc_now(later_by=seconds)}
        if row:
            connection.execute(update(locks).where(locks.c.name == name).values(values))
        else:
            connection.execute(insert(locks).values(name=name, **values))
    return True


def release_lease(database: Engine, name: str, holder: str) -> None:
    _release(database, functools.partial(_delete_lease, name=name, holder=holder))


def _delete_lease(database: Engine, name: str, holder: str) -> None:
    with write_transaction(database) as connection:
        connection.execute(delete(locks).where(locks.c.name == name, locks.c.holder == holder))


@dataclass(frozen=True, slots=True)
class Claim:
    """What to do with a delivery: process it, say busy, or answer the stored reply."""

    state: Literal["new", "busy", "done"]
    reply: str | None = None


def claim_event(
    database: Engine, function: str, source: str, event_id: str, event_type: str, lease: float
) -> Claim:
    """Record the first delivery of (function, source, id) as processing, under a lease."""
    _settle_owed(database)
    key = (
        processed_events.c.function == function,
        processed_events.c.source == source,
        processed_events.c.id == event_id,
    )
    with write_transaction(database) as connection:
        row = (
            connection.execute(select(processed_events).where(*key).with_for_update())
            .mappings()
            .first()
        )
        if row is None:
            try:
                with connection.begin_nested():  # a racing first delivery may insert first
                    connection.execute(
                        insert(processed_events).values(
                            function=function,
                            source=source,
                            id=event_id,
                            type=event_type,
                            state="processing",
                            lease_until=utc_now(later_by=lease),
                            received_at=utc_now(),
                        )
                    )
            except IntegrityError:
                return Claim("busy")
            return Claim("new")
        if row["state"] == "done":
            return Claim("done", row["reply"])
        if row["lease_until"] > utc_now():
            return Claim("busy")
        connection.execute(
            update(processed_events).where(*key).values(lease_until=utc_now(later_by=lease))
        )
        return Claim("new")


def finish_event(
    database: Engine, function: str, source: str, event_id: str, reply: str | None
) -> None:
    """Store the reply, so that later duplicates get the very same answer."""
    with write_transaction(database) as connection:
        connection.execute(
            update(processed_events)
            .where(
                processed_events.c.function == function,
                processed_events.c.source == source,
                processed_events.c.id == event_id,
            )
            .values(state="done", reply=reply, finished_at=utc_now(), lease_until=None)
        )


def forget_event(database: Engine, function: str, source: str, event_id: str) -> None:
    """Drop a failed delivery's record so the sender's retry is processed afresh."""
    _release(database, functools.partial(_delete_record, key=(function, source, event_id)))


def _delete_record(database: Engine, key: tuple[str, str, str]) -> None:
    function, source, event_id = key
    with write_transaction(database) as connection:
        connection.execute(
            delete(processed_events).where(
                processed_events.c.function == function,
                processed_events.c.source == source,
                processed_events.c.id == event_id,
                processed_events.c.state == "processing",
            )
        )


def _locked_value(connection: Connection, key: str) -> str | None:
    query = select(kv.c.value).where(kv.c.key == key).with_for_update()
    return connection.execute(query).scalar_one_or_none()


def update_value(database: Engine, key: str, change: Callable[[str | None], str]) -> str | None:
    """Set kv[key] to change(current) in one write transaction; returns the value it replaced.

    The row is locked before it is read, so concurrent callers each see the previous one's write.
    """
    with write_transaction(database) as connection:
        current = _locked_value(connection, key)
        if current is None:
            try:
                with connection.begin_nested():  # a racing first caller may insert first
                    connection.execute(insert(kv).values(key=key, value=change(None)))
                return None
            except IntegrityError:
                current = _locked_value(connection, key)
        connection.execute(update(kv).where(kv.c.key == key).values(value=change(current)))
        return current
