"""The alias table operators and the dashboard read (§9.4): every alias's lineage with its
evidence so far."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from rpsquest import FEATURE_CONTRACT
from rpsquest.game.policies import ALIASES, FAMILIES
from rpsquest.store.evidence import game_evidence, prediction_tally
from rpsquest.store.lineages import (
    ARENA_HEADLINE,
    current_lineages,
    stored_version,
    version_metrics,
)


def alias_table(connection: Connection, manifest_version: int | None) -> dict[str, Any]:
    """Every alias's lineage with its evidence so far (12 rows once bootstrapped)."""
    current = current_lineages(connection)
    rows = []
    for family in FAMILIES:
        lineages = current.get(family.name, {})
        for alias, lineage in ((a, lineages[a]) for a in ALIASES if a in lineages):
            evidence = game_evidence(connection, family.name, lineage)
            made, hits = prediction_tally(connection, family.name, lineage)
            stored = stored_version(connection, family.name, lineage.version)
            rows.append(
                {
                    "family": family.name,
                    "registered_model": family.registered_model,
                    "alias": alias,
                    "version": lineage.version,
                    "config_id": lineage.config_id,
                    "assignment_id": lineage.assignment_id,
                    "assigned_at": lineage.started_at,
                    "sha256": stored["sha256"] if stored else None,
                    "games": evidence.games,
                    "bot_wins": evidence.wins,
                    "bot_win_rate": evidence.win_rate,
                    "predictions": made,
                    "accuracy": hits / made if made else None,
                    # train's strength check of the version; None where it did not run
                    "arena_headline": (
                        version_metrics(stored).get(ARENA_HEADLINE) if stored else None
                    ),
                }
            )
    return {
        "manifest_version": manifest_version,
        "feature_contract": FEATURE_CONTRACT,
        "aliases": rows,
    }
