"""The promotion ledger (SPEC §9.3): one row per family and evaluation, pending until the change
it records is applied; JSON columns are encoded and decoded here. Callers own the transaction."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from rpsquest.game.policies import Alias
from rpsquest.store.schema import promotion_ledger

_JSON_COLUMNS = ("inputs", "before", "after")


def _decoded(row: RowMapping) -> dict[str, Any]:
    entry = dict(row)
    for column in _JSON_COLUMNS:
        entry[column] = json.loads(entry[column])
    return entry


def add_entry(
    connection: Connection,
    *,
    created_at: str,
    family: str,
    decision: str,
    reorder_applied: bool,
    pending: bool,
    inputs: Mapping[str, Any],
    before: Mapping[Alias, int],
    after: Mapping[Alias, int],
    reason: str,
    trigger_type: str,
    trigger_event_id: str | None,
) -> int:
    """One evaluation's row, pending when it changes something still to apply; returns its id."""
    return connection.execute(
        insert(promotion_ledger)
        .values(
            created_at=created_at,
            family=family,
            decision=decision,
            reorder_applied=reorder_applied,
            state="pending" if pending else "applied",
            inputs=json.dumps(inputs),
            before=json.dumps(before),
            after=json.dumps(after),
            reason=reason,
            trigger_type=trigger_type,
            trigger_event_id=trigger_event_id,
        )
        .returning(promotion_ledger.c.id)
    ).scalar_one()


def pending_entry_ids(connection: Connection) -> list[int]:
    """Rows whose change was not applied yet (a crash cut it short), oldest first."""
    return list(
        connection.execute(
            select(promotion_ledger.c.id)
            .where(promotion_ledger.c.state == "pending")
            .order_by(promotion_ledger.c.id)
        ).scalars()
    )


def entries(connection: Connection, ids: Collection[int]) -> list[dict[str, Any]]:
    """The rows with these ids, oldest first."""
    query = (
        select(promotion_ledger)
        .where(promotion_ledger.c.id.in_(ids))
        .order_by(promotion_ledger.c.id)
    )
    return [_decoded(row) for row in connection.execute(query).mappings()]


def close_entries(connection: Connection, ids: Collection[int]) -> None:
    """Mark the rows applied."""
    connection.execute(
        update(promotion_ledger).where(promotion_ledger.c.id.in_(ids)).values(state="applied")
    )


def recent_entries(connection: Connection, limit: int, family: str | None) -> list[dict[str, Any]]:
    """Newest first, of one family or all."""
    query = select(promotion_ledger).order_by(promotion_ledger.c.id.desc()).limit(limit)
    if family:
        query = query.where(promotion_ledger.c.family == family)
    return [_decoded(row) for row in connection.execute(query).mappings()]


def insufficient_data_since(connection: Connection) -> dict[str, str]:
    """Per family whose evaluations have all found too few games since its last other
    decision (or ever), when the first of them was made."""
    ledger = promotion_ledger.c
    decided = (
        select(ledger.family, func.max(ledger.id).label("last_id"))
        .where(ledger.decision != "insufficient_data")
        .group_by(ledger.family)
        .subquery()
    )
    query = (
        select(ledger.family, func.min(ledger.created_at))
        .outerjoin(decided, decided.c.family == ledger.family)
        .where(
            ledger.decision == "insufficient_data",
            ledger.id > func.coalesce(decided.c.last_id, 0),
        )
        .group_by(ledger.family)
    )
    return {family: since for family, since in connection.execute(query)}
