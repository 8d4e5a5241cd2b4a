"""The promotion rule per family (SPEC §9.2): Production against B on game evidence, then the
challengers ordered by prediction accuracy. Pure: numbers in, decisions out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from rpsquest.promotion.posterior import prob_b_better
from rpsquest.store.evidence import GameEvidence

Decision = Literal["promote_b", "retain", "insufficient_data"]
SWAP = {"Production": "B", "B": "Production"}


def judge(
    production: GameEvidence, b: GameEvidence, min_games: int, threshold: float
) -> tuple[Decision, float | None]:
    """promote_b when both have enough games and P(θ_B > θ_P) reaches the threshold."""
    if production.games < min_games or b.games < min_games:
        return "insufficient_data", None
    posterior = prob_b_better(b.wins, b.games, production.wins, production.games)
    return ("promote_b" if posterior >= threshold else "retain"), posterior


def ranked_challengers(decision: Decision) -> tuple[str, ...]:
    """B competes with the shadows only after a retain: its game evidence is then complete."""
    return ("B", "shadow1", "shadow2") if decision == "retain" else ("shadow1", "shadow2")


def reorder(
    challengers: Sequence[str], accuracy: Mapping[str, float], common_rounds: int, minimum: int
) -> dict[str, str]:
    """target alias -> the alias whose lineage moves there; best accuracy takes the first slot,
    ties keep the current order, and too few shared rounds move nothing."""
    if common_rounds < minimum:
        return {}
    order = sorted(challengers, key=lambda alias: -accuracy[alias])  # stable on ties
    return {
        target: source
        for target, source in zip(challengers, order, strict=True)
        if target != source
    }
