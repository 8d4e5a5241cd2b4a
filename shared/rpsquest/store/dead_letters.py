"""Dead letters: the events the Broker gave up on, kept to be listed and replayed; callers own
the transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from rpsquest.store.schema import dead_letters


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One stored event: its CloudEvent id, type, source and data, and when it was replayed."""

    id: int
    received_at: str
    event_id: str
    type: str
    source: str
    data: Mapping[str, Any]
    replayed_at: str | None


def _letter(row: RowMapping) -> DeadLetter:
    return DeadLetter(
        id=row["id"],
        received_at=row["received_at"],
        event_id=row["event_id"],
        type=row["type"],
        source=row["source"],
        data=json.loads(row["payload"]),
        replayed_at=row["replayed_at"],
    )


def record_dead_letter(
    connection: Connection,
    received_at: str,
    event_id: str,
    event_type: str,
    source: str,
    data: Mapping[str, Any],
) -> int:
    """Store one event as it reached the dead-letter sink; its row id."""
    return connection.execute(
        insert(dead_letters)
        .values(
            received_at=received_at,
            event_id=event_id,
            type=event_type,
            source=source,
            payload=json.dumps(data),
        )
        .returning(dead_letters.c.id)
    ).scalar_one()


def recent_dead_letters(connection: Connection, limit: int) -> list[DeadLetter]:
    """Newest first."""
    query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    return [_letter(row) for row in connection.execute(query).mappings()]


def find_dead_letter(connection: Connection, letter_id: int) -> DeadLetter | None:
    row = (
        connection.execute(select(dead_letters).where(dead_letters.c.id == letter_id))
        .mappings()
        .first()
    )
    return _letter(row) if row else None


def mark_replayed(connection: Connection, letter_id: int, replayed_at: str) -> None:
    """Note the latest replay; replaying again moves the time on."""
    connection.execute(
        update(dead_letters).where(dead_letters.c.id == letter_id).values(replayed_at=replayed_at)
    )
