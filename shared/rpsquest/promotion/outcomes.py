"""What one evaluation decides per family (SPEC §9.2-9.3): where each alias should point next,
judged on the evidence in the store, taken from the starting table, or swapped by an admin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from rpsquest import metrics
from rpsquest.config import Settings
from rpsquest.errors import NotFound
from rpsquest.game.policies import ALIASES, Alias
from rpsquest.models import ModelConfigs
from rpsquest.promotion.rule import SWAP, judge, ranked_challengers, reorder
from rpsquest.store.evidence import game_evidence, shared_accuracy
from rpsquest.store.lineages import Lineage, current_lineages, newest_versions


@dataclass(frozen=True)
class Target:
    """Where an alias should point after this evaluation; no assignment id yet = a new one."""

    config_id: str
    version: int
    assignment_id: int | None
    reason: str


@dataclass
class FamilyOutcome:
    family: str
    decision: str
    reorder_applied: bool
    inputs: dict[str, Any]
    before: dict[Alias, int]
    targets: dict[Alias, Target]
    reason: str
    changed: bool


def judge_families(
    connection: Connection,
    settings: Settings,
    configs: ModelConfigs,
    families: Iterable[str],
    refresh: bool,
) -> list[FamilyOutcome]:
    """Each family's outcome: the starting table until every lineage has a model and an alias,
    then the §9.2 rule; with `refresh`, lineages move on to their newest versions."""
    newest = newest_versions(connection)
    current = current_lineages(connection)
    outcomes = []
    for family in families:
        lineages = current.get(family)
        if lineages is None or set(lineages) != set(ALIASES):
            outcome = _bootstrap(configs, family, newest)
        else:
            outcome = _evaluate_family(connection, settings, family, lineages, newest, refresh)
        if outcome:
            outcomes.append(outcome)
            metrics.PROMOTION_EVALUATIONS.labels(family, outcome.decision).inc()
    return outcomes


def swap_outcome(connection: Connection, family: str) -> FamilyOutcome:
    """An admin's manual promotion, or the rollback of one: Production and B trade lineages."""
    lineages = current_lineages(connection).get(family)
    if not lineages:
        raise NotFound(f"{family} has no aliases yet: nothing to swap.")
    targets = {}
    for alias in ALIASES:
        source = lineages[SWAP.get(alias, alias)]
        moved = alias in SWAP
        targets[alias] = Target(
            source.config_id,
            source.version,
            None if moved else source.assignment_id,
            "promotion" if moved else "refresh",
        )
    before = {alias: lineages[alias].version for alias in ALIASES}
    metrics.PROMOTION_EVALUATIONS.labels(family, "promote_b").inc()
    return FamilyOutcome(
        family,
        "promote_b",
        False,
        {"manual": True},
        before,
        targets,
        "manual swap of Production and B by an admin",
        True,
    )


def _bootstrap(
    configs: ModelConfigs, family: str, newest: Mapping[tuple[str, str], Any]
) -> FamilyOutcome | None:
    """First evaluation ever: the §7.2 starting table, once every lineage has a model."""
    targets = {}
    for alias in ALIASES:
        config_id = configs.bootstrap_config(family, alias).config_id  # type: ignore[arg-type]
        row = newest.get((family, config_id))
        if row is None:
            return None
        targets[alias] = Target(config_id, row["version"], None, "bootstrap")
    return FamilyOutcome(
        family,
        "insufficient_data",
        False,
        {"bootstrap": True},
        {},
        targets,
        "bootstrap: the starting assignment of §7.2",
        True,
    )


def _evaluate_family(
    connection: Connection,
    settings: Settings,
    family: str,
    lineages: Mapping[str, Lineage],
    newest: Mapping[tuple[str, str], Any],
    refresh: bool,
) -> FamilyOutcome:
    s = settings
    evidence = {a: game_evidence(connection, family, lineages[a]) for a in ("Production", "B")}
    decision, posterior = judge(
        evidence["Production"], evidence["B"], s.promotion_min_games, s.promotion_threshold
    )
    challengers = ranked_challengers(decision)
    common, accuracy = shared_accuracy(connection, family, [lineages[a] for a in challengers])
    moves = reorder(challengers, accuracy, common, s.promotion_min_predictions)
    if decision == "promote_b":
        moves |= SWAP
    targets = {}
    for alias in ALIASES:
        source = lineages[moves.get(alias, alias)]
        latest = newest.get((family, source.config_id))
        version = latest["version"] if refresh and latest else source.version
        if alias in moves:
            reason = "promotion" if alias in SWAP and decision == "promote_b" else "reorder"
            targets[alias] = Target(source.config_id, version, None, reason)
        else:
            targets[alias] = Target(source.config_id, version, source.assignment_id, "refresh")
    inputs = {
        alias: {
            "assignment_id": lineages[alias].assignment_id,
            "version": lineages[alias].version,
            "config_id": lineages[alias].config_id,
            "games": evidence[alias].games,
            "wins": evidence[alias].wins,
            "win_rate": evidence[alias].win_rate,
        }
        for alias in ("Production", "B")
    } | {
        "posterior_b_better": posterior,
        "threshold": s.promotion_threshold,
        "min_games": s.promotion_min_games,
        "challengers": [
            {
                "alias": alias,
                "version": lineages[alias].version,
                "common_rounds": common,
                "accuracy": accuracy[alias],
            }
            for alias in challengers
        ],
    }
    before = {alias: lineages[alias].version for alias in ALIASES}
    changed = any(
        t.assignment_id is None or t.version != before[alias] for alias, t in targets.items()
    )
    reason = (
        f"decision {decision}"
        + (f", P(B better)={posterior:.4f}" if posterior is not None else "")
        + (f", moves {moves}" if moves else "")
    )
    reordered = any(t not in SWAP or decision != "promote_b" for t in moves)
    return FamilyOutcome(family, decision, reordered, inputs, before, targets, reason, changed)
