"""Training cycles (training_cycles): a row per cycle that trains, from `running` to its outcome;
callers own the transaction."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from rpsquest.store.schema import training_cycles


def start_cycle(
    connection: Connection, cycle_id: str, trigger_event_id: str | None, started_at: str
) -> None:
    connection.execute(
        insert(training_cycles).values(
            id=cycle_id,
            trigger_event_id=trigger_event_id,
            started_at=started_at,
            status="running",
        )
    )


def finish_cycle(
    connection: Connection,
    cycle_id: str,
    *,
    finished_at: str,
    status: str,
    cutoff: str | None,
    live_rounds: int,
    summary: Mapping[str, Any],
) -> None:
    """Record how a cycle ended; the summary is kept as JSON."""
    connection.execute(
        update(training_cycles)
        .where(training_cycles.c.id == cycle_id)
        .values(
            finished_at=finished_at,
            status=status,
            cutoff=cutoff,
            live_rounds=live_rounds,
            summary=json.dumps(summary),
        )
    )


def fail_running_cycle(connection: Connection, cycle_id: str, finished_at: str) -> None:
    """Mark the cycle failed, unless it is no longer running."""
    connection.execute(
        update(training_cycles)
        .where(training_cycles.c.id == cycle_id, training_cycles.c.status == "running")
        .values(finished_at=finished_at, status="failure")
    )


def latest_cutoff(connection: Connection, statuses: Collection[str]) -> str | None:
    """The newest data cutoff of the cycles that ended in one of `statuses`, if any."""
    return connection.execute(
        select(func.max(training_cycles.c.cutoff)).where(training_cycles.c.status.in_(statuses))
    ).scalar_one_or_none()


def latest_finish(connection: Connection, status: str) -> str | None:
    """When the newest cycle that ended in `status` finished, if any."""
    return connection.execute(
        select(func.max(training_cycles.c.finished_at)).where(training_cycles.c.status == status)
    ).scalar()
