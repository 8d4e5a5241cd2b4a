"""Read-only views for operators and the dashboard: the ledger and the alias table (§9.4)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, case, func, select

from rpsquest import FEATURE_CONTRACT
from rpsquest.game.policies import ALIASES, FAMILIES
from rpsquest.promotion.evidence import game_evidence
from rpsquest.promotion.promoter import current_lineages
from rpsquest.store.schema import model_versions, predictions, promotion_ledger

_JSON_COLUMNS = ("inputs", "before", "after")


def ledger(connection: Connection, limit: int, family: str | None) -> list[dict[str, Any]]:
    """Newest first; JSON columns decoded."""
    query = select(promotion_ledger).order_by(promotion_ledger.c.id.desc()).limit(limit)
    if family:
        query = query.where(promotion_ledger.c.family == family)
    rows = []
    for row in connection.execute(query).mappings():
        entry = dict(row)
        for column in _JSON_COLUMNS:
            entry[column] = json.loads(entry[column])
        rows.append(entry)
    return rows


def alias_table(connection: Connection, manifest_version: int | None) -> dict[str, Any]:
    """Every alias's lineage with its evidence so far (12 rows once bootstrapped)."""
    current = current_lineages(connection)
    rows = []
    for family in FAMILIES:
        lineages = current.get(family.name, {})
        for alias, lineage in ((a, lineages[a]) for a in ALIASES if a in lineages):
            evidence = game_evidence(connection, family.name, lineage)
            made, hits = connection.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((predictions.c.correct.is_(True), 1), else_=0)), 0),
                ).where(
                    predictions.c.family == family.name,
                    predictions.c.alias == alias,
                    predictions.c.assignment_id == lineage.assignment_id,
                )
            ).one()
            sha256 = connection.execute(
                select(model_versions.c.sha256).where(
                    model_versions.c.family == family.name,
                    model_versions.c.version == lineage.version,
                )
            ).scalar()
            rows.append(
                {
                    "family": family.name,
                    "registered_model": family.registered_model,
                    "alias": alias,
                    "version": lineage.version,
                    "config_id": lineage.config_id,
                    "assignment_id": lineage.assignment_id,
                    "assigned_at": lineage.started_at,
                    "sha256": sha256,
                    "games": evidence.games,
                    "bot_wins": evidence.wins,
                    "bot_win_rate": evidence.win_rate,
                    "predictions": int(made),
                    "accuracy": int(hits) / made if made else None,
                }
            )
    return {
        "manifest_version": manifest_version,
        "feature_contract": FEATURE_CONTRACT,
        "aliases": rows,
    }
