"""Rolling an evaluation out (SPEC §9.3): (a) one transaction writes the ledger rows and the
pending assignments, (b) MLflow's aliases and (c) the serving manifest follow, and (d) one
transaction applies the assignments and closes the rows. A crash anywhere leaves rows pending,
and the next trigger runs (b)-(d) for them again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine

from rpsquest import metrics
from rpsquest.config import Settings
from rpsquest.manifest import read_manifest
from rpsquest.modelstore import ModelStore
from rpsquest.promotion.outcomes import FamilyOutcome
from rpsquest.store.database import read_connection, write_transaction
from rpsquest.store.games import utc_now
from rpsquest.store.ledger import add_entry, close_entries, entries, pending_entry_ids
from rpsquest.store.lineages import (
    all_versions,
    apply_assignment,
    current_lineages,
    open_assignment,
)

# {family: {alias: {"config_id", "version", "assignment_id"}}}: an alias table to publish
AliasTable = dict[str, dict[str, dict[str, Any]]]


def record(
    database: Engine,
    outcomes: Iterable[FamilyOutcome],
    trigger_type: str,
    trigger_event_id: str | None,
) -> list[int]:
    """(a) Every evaluation's ledger row, plus the pending assignments and intended table of
    those that change something, in one transaction. Returns the pending rows' ids."""
    now = utc_now()
    pending = []
    with write_transaction(database) as connection:
        for outcome in outcomes:
            intended: dict[str, dict[str, Any]] = {}  # the ledger row's JSON
            for alias, target in outcome.targets.items():
                assignment_id = target.assignment_id
                if assignment_id is None:
                    assignment_id = open_assignment(
                        connection,
                        outcome.family,
                        alias,
                        target.config_id,
                        target.version,
                        target.reason,
                        now,
                    )
                intended[alias] = {
                    "config_id": target.config_id,
                    "version": target.version,
                    "assignment_id": assignment_id,
                }
            ledger_id = add_entry(
                connection,
                created_at=now,
                family=outcome.family,
                decision=outcome.decision,
                reorder_applied=outcome.reorder_applied and outcome.changed,
                pending=outcome.changed,
                inputs=outcome.inputs | {"intended": intended},
                before=outcome.before,
                after={a: t.version for a, t in outcome.targets.items()},
                reason=outcome.reason,
                trigger_type=trigger_type,
                trigger_event_id=trigger_event_id,
            )
            if outcome.changed:
                pending.append(ledger_id)
                if outcome.decision == "promote_b":
                    metrics.PROMOTIONS.labels(outcome.family).inc()
                if outcome.reorder_applied:
                    metrics.ALIAS_REORDERS.labels(outcome.family).inc()
    return pending


def pending(database: Engine) -> list[int]:
    """The ledger rows a crash left pending, oldest first."""
    with read_connection(database) as connection:
        return pending_entry_ids(connection)


def apply(
    settings: Settings, database: Engine, store: ModelStore, ledger_ids: Sequence[int]
) -> None:
    """(b) MLflow aliases and (c) the manifest, via registry.publish; (d) one transaction
    marks the new assignments applied, ends the replaced ones and closes the ledger rows."""
    from rpsquest import registry  # MLflow is heavy: only where aliases are written

    with read_connection(database) as connection:
        intended: AliasTable = {
            entry["family"]: entry["inputs"]["intended"]
            for entry in entries(connection, ledger_ids)
        }
        table: AliasTable = {
            family: {
                alias: {
                    "config_id": lineage.config_id,
                    "version": lineage.version,
                    "assignment_id": lineage.assignment_id,
                }
                for alias, lineage in lineages.items()
            }
            for family, lineages in current_lineages(connection).items()
        } | intended
        versions = all_versions(connection)
    rows = [
        {**versions[family, entry["version"]], **entry, "family": family, "alias": alias}
        for family, aliases in table.items()
        for alias, entry in aliases.items()
    ]
    registry.publish(settings, store, rows, read_manifest(store), ledger_ids=ledger_ids)
    now = utc_now()
    with write_transaction(database) as connection:
        for family, aliases in intended.items():
            for alias, entry in aliases.items():
                apply_assignment(
                    connection, family, alias, entry["assignment_id"], entry["version"], now
                )
        close_entries(connection, ledger_ids)
