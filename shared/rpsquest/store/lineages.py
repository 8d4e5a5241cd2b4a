"""Which config lineage holds each alias (alias_assignments) and the versions every lineage has
trained (model_versions); callers own the transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from rpsquest.store.schema import alias_assignments, model_versions

# Among a version's metrics: the headline of train's strength check (training/strength.py).
ARENA_HEADLINE = "arena_headline"


@dataclass(frozen=True, slots=True)
class Lineage:
    """One alias's current assignment: the config lineage holding it, and since when."""

    alias: str
    assignment_id: int
    config_id: str
    version: int
    started_at: str


def current_lineages(connection: Connection) -> dict[str, dict[str, Lineage]]:
    """The applied assignment of every family and alias."""
    rows = connection.execute(
        select(alias_assignments).where(alias_assignments.c.state == "applied")
    ).mappings()
    current: dict[str, dict[str, Lineage]] = {}
    for row in rows:
        current.setdefault(row["family"], {})[row["alias"]] = Lineage(
            row["alias"], row["id"], row["config_id"], row["version"], row["started_at"]
        )
    return current


def open_assignment(
    connection: Connection,
    family: str,
    alias: str,
    config_id: str,
    version: int,
    reason: str,
    started_at: str,
) -> int:
    """A pending assignment of a lineage's version to an alias; returns its id."""
    return connection.execute(
        insert(alias_assignments)
        .values(
            family=family,
            alias=alias,
            config_id=config_id,
            version=version,
            reason=reason,
            state="pending",
            started_at=started_at,
        )
        .returning(alias_assignments.c.id)
    ).scalar_one()


def apply_assignment(
    connection: Connection,
    family: str,
    alias: str,
    assignment_id: int,
    version: int,
    ended_at: str,
) -> None:
    """Make an assignment the alias's applied one, at `version`, ending the one it replaces."""
    connection.execute(
        update(alias_assignments)
        .where(
            alias_assignments.c.family == family,
            alias_assignments.c.alias == alias,
            alias_assignments.c.state == "applied",
            alias_assignments.c.id != assignment_id,
        )
        .values(state="ended", ended_at=ended_at)
    )
    connection.execute(
        update(alias_assignments)
        .where(alias_assignments.c.id == assignment_id)
        .values(state="applied", version=version)
    )


def newest_versions(connection: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest model_versions row of each (family, config_id) lineage."""
    rows = connection.execute(select(model_versions).order_by(model_versions.c.version)).mappings()
    return {(row["family"], row["config_id"]): dict(row) for row in rows}


def all_versions(connection: Connection) -> dict[tuple[str, int], dict[str, Any]]:
    """Every model_versions row, by (family, version)."""
    rows = connection.execute(select(model_versions)).mappings()
    return {(row["family"], row["version"]): dict(row) for row in rows}


def stored_version(connection: Connection, family: str, version: int) -> dict[str, Any] | None:
    """One version's model_versions row, if the version is known."""
    row = (
        connection.execute(
            select(model_versions).where(
                model_versions.c.family == family, model_versions.c.version == version
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def version_metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """The metrics train recorded with a model_versions row."""
    return dict(json.loads(row["metrics"]))


def record_version(
    connection: Connection,
    *,
    family: str,
    version: int,
    config_id: str,
    run_id: str,
    cycle_id: str,
    artifact: str,
    sha256: str,
    probe: Sequence[float],
    metrics: Mapping[str, float],
    created_at: str,
    feature_contract: str,
) -> None:
    """A newly registered version of a lineage; probe and metrics are kept as JSON."""
    connection.execute(
        insert(model_versions).values(
            family=family,
            version=version,
            config_id=config_id,
            run_id=run_id,
            cycle_id=cycle_id,
            artifact=artifact,
            sha256=sha256,
            probe=json.dumps(probe),
            metrics=json.dumps(metrics),
            created_at=created_at,
            feature_contract=feature_contract,
        )
    )
