"""Retention: every training cycle adds twelve ONNX artifacts and twelve MLflow versions, so
promote deletes the ones nothing needs. Kept: whatever the serving manifest, a pending ledger
row or an alias (the alias table's or MLflow's) names, and the newest `RPS_RETENTION_VERSIONS`
versions of every lineage, because a refresh moves an alias to its lineage's newest version and
a recent few let an operator look back. The rest goes from the model store and from MLflow.
The plan is a pure function of an inventory, so a dry run shows what a run would do now."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from rpsquest.config import Settings
from rpsquest.manifest import Manifest, read_manifest
from rpsquest.modelstore import ARTIFACTS, ModelStore
from rpsquest.store.database import read_connection
from rpsquest.store.ledger import entries, pending_entry_ids
from rpsquest.store.lineages import all_versions, current_lineages

if TYPE_CHECKING:
    from rpsquest.registry import RegisteredVersion

log = logging.getLogger(__name__)

AliasVersions = Mapping[str, Mapping[str, int]]  # {family: {alias: version}}


@dataclass(frozen=True, slots=True)
class Recorded:
    """A version as train recorded it (model_versions): its lineage and its artifact."""

    family: str
    version: int
    config_id: str
    artifact: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """What exists (MLflow's versions, the store's artifacts) and what names it."""

    recorded: Sequence[Recorded]
    registered: Sequence[RegisteredVersion]
    artifacts: Sequence[str]
    manifest: Manifest | None
    pending: Mapping[int, AliasVersions]  # ledger id -> the aliases that row means to set
    aliases: AliasVersions  # the alias table's applied assignments
    mlflow_aliases: AliasVersions


@dataclass(frozen=True, slots=True)
class VersionPlan:
    version: RegisteredVersion
    config_id: str | None  # None: train never recorded the version
    keep: bool
    reasons: tuple[str, ...]  # why it is kept, or why it goes

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.version.family,
            "version": self.version.version,
            "config_id": self.config_id,
            "keep": self.keep,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class ArtifactPlan:
    key: str
    keep: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "keep": self.keep, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Plan:
    keep_per_lineage: int
    versions: tuple[VersionPlan, ...]
    artifacts: tuple[ArtifactPlan, ...]

    def to_json(self) -> dict[str, Any]:
        counts = {
            label: {
                "versions": sum(v.keep == keep for v in self.versions),
                "artifacts": sum(a.keep == keep for a in self.artifacts),
            }
            for label, keep in (("kept", True), ("deleted", False))
        }
        return {
            "keep_per_lineage": self.keep_per_lineage,
            **counts,
            "versions": [v.to_json() for v in self.versions],
            "artifacts": [a.to_json() for a in self.artifacts],
        }


def _named(table: AliasVersions) -> Iterator[tuple[str, str, int]]:
    for family, aliases in table.items():
        for alias, version in aliases.items():
            yield family, alias, version


def make_plan(inventory: Inventory, keep_per_lineage: int) -> Plan:
    """Which of the existing versions and artifacts to keep, each with its reasons."""
    kept = _kept_versions(inventory, keep_per_lineage)
    recorded = {(r.family, r.version): r for r in inventory.recorded}
    versions = []
    for registered in sorted(inventory.registered, key=lambda v: (v.family, v.version)):
        record = recorded.get((registered.family, registered.version))
        reasons = kept.get((registered.family, registered.version))
        if reasons:
            why = tuple(reasons)
        elif record is None:
            # train registers before it records, under its lease, which a run holds.
            why = ("never recorded by train: a cycle cut short",)
        else:
            why = (f"older than the newest {keep_per_lineage} of {record.config_id}",)
        lineage = record.config_id if record else None
        versions.append(VersionPlan(registered, lineage, bool(reasons), why))
    kept_artifacts = _kept_artifacts(inventory.manifest, kept, recorded)
    named = {r.artifact for r in inventory.recorded}
    artifacts = []
    for key in sorted(inventory.artifacts):
        if key in kept_artifacts:
            artifacts.append(ArtifactPlan(key, True, tuple(kept_artifacts[key])))
        elif key in named:
            artifacts.append(ArtifactPlan(key, False, ("named only by versions not kept",)))
        else:
            artifacts.append(ArtifactPlan(key, False, ("named by no version: a cycle cut short",)))
    return Plan(keep_per_lineage, tuple(versions), tuple(artifacts))


def _kept_versions(inventory: Inventory, keep_per_lineage: int) -> dict[tuple[str, int], list[str]]:
    """(family, version) -> why it stays: what references it, and each lineage's newest."""
    kept: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
    if inventory.manifest is not None:
        number = inventory.manifest.manifest_version
        for family, aliases in inventory.manifest.models.items():
            for alias, entry in aliases.items():
                kept[family, entry.version].append(f"manifest {number}: {alias}")
    for ledger_id, intended in sorted(inventory.pending.items()):
        for family, alias, version in _named(intended):
            kept[family, version].append(f"pending ledger row {ledger_id}: {alias}")
    for family, alias, version in _named(inventory.aliases):
        kept[family, version].append(f"alias {alias}")
    for family, alias, version in _named(inventory.mlflow_aliases):
        kept[family, version].append(f"MLflow alias {alias}")
    lineages: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for row in inventory.recorded:
        lineages[row.family, row.config_id].append(row.version)
    for (family, config_id), numbers in lineages.items():
        for version in sorted(numbers, reverse=True)[:keep_per_lineage]:
            kept[family, version].append(f"newest {keep_per_lineage} of {config_id}")
    return kept


def _kept_artifacts(
    manifest: Manifest | None,
    kept: Mapping[tuple[str, int], list[str]],
    recorded: Mapping[tuple[str, int], Recorded],
) -> dict[str, list[str]]:
    """key -> why it stays: the manifest names it, or a kept version's record does."""
    reasons: defaultdict[str, list[str]] = defaultdict(list)
    if manifest is not None:
        # The manifest names its artifacts itself: they stay whatever the records say.
        for family, aliases in manifest.models.items():
            for alias, entry in aliases.items():
                reasons[entry.artifact].append(
                    f"manifest {manifest.manifest_version}: {family} {alias}"
                )
    for family, version in kept:
        if (family, version) in recorded:
            reasons[recorded[family, version].artifact].append(f"{family} version {version}")
    return reasons


def take_inventory(settings: Settings, database: Engine, store: ModelStore) -> Inventory:
    """Read what exists and what names it: the database, the store and MLflow."""
    from rpsquest import registry  # MLflow is heavy: only where it is called

    with read_connection(database) as connection:
        recorded = [
            Recorded(row["family"], row["version"], row["config_id"], row["artifact"])
            for row in all_versions(connection).values()
        ]
        pending = {
            entry["id"]: {
                entry["family"]: {
                    alias: target["version"]
                    for alias, target in entry["inputs"]["intended"].items()
                }
            }
            for entry in entries(connection, pending_entry_ids(connection))
        }
        aliases = {
            family: {alias: lineage.version for alias, lineage in lineages.items()}
            for family, lineages in current_lineages(connection).items()
        }
    return Inventory(
        recorded=recorded,
        registered=registry.registered_versions(settings),
        artifacts=store.keys(ARTIFACTS),
        manifest=read_manifest(store),
        pending=pending,
        aliases=aliases,
        mlflow_aliases=registry.current_aliases(settings),
    )


def carry_out(settings: Settings, store: ModelStore, plan: Plan, renew: Callable[[], None]) -> None:
    """Delete what the plan does not keep: MLflow's versions, then the store's artifacts.
    `renew` extends the caller's leases before each deletion, as a backlog may take a while."""
    from rpsquest import registry

    for version in plan.versions:
        if not version.keep:
            renew()
            registry.delete_version(settings, version.version)
    for artifact in plan.artifacts:
        if not artifact.keep:
            renew()
            store.delete(artifact.key)
    deleted = plan.to_json()["deleted"]
    log.info("retention deleted %(versions)d versions and %(artifacts)d artifacts", deleted)
