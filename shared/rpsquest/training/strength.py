"""The strength check of a newly trained model: a short arena tournament of its family's ML
policy, deciding as play does with this model as the acting one, against every zoo type.

It meets the arena's evaluation opponents, the first `sessions` seeds of each type, as
`make arena` does: the same sessions and the same tally, so its figures compare with the
arena's, except that this one model acts in every game, where the arena's acting model is the
one of the alias (Production or B) each game draws.
That leaks nothing into training: the check only measures, in this process, and stores none
of its games, so no training set ever holds an evaluation opponent's play (what learns from
zoo players draws from TRAINING_SEEDS, arena/seeds.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import onnxruntime as ort

from rpsquest.arena.selfplay import OneModel
from rpsquest.arena.tournament import run_tournament
from rpsquest.arena.venues import InProcess
from rpsquest.arena.zoo import ZOO_TYPES
from rpsquest.config import Settings
from rpsquest.game.policies import ACTING_ALIASES, FAMILIES
from rpsquest.store.lineages import ARENA_HEADLINE

UNREGISTERED = 0  # the version of a model MLflow has not registered yet


def type_metric(kind: str) -> str:
    """The metric name of a zoo type's win rate: `arena_freq_counter` for freq-counter."""
    return f"arena_{kind.replace('-', '_')}"


@dataclass(frozen=True, slots=True)
class Strength:
    """A model's match win rate over games 1-10 per zoo type, and their unweighted mean."""

    headline: float
    win_rates: Mapping[str, float]

    def as_metrics(self) -> dict[str, float]:
        rates = {type_metric(kind): rate for kind, rate in self.win_rates.items()}
        return {ARENA_HEADLINE: self.headline, **rates}

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, float]) -> Self | None:
        """A version's strength from its recorded metrics; None if the check did not run."""
        if ARENA_HEADLINE not in metrics:
            return None
        rates = {
            kind: metrics[type_metric(kind)] for kind in ZOO_TYPES if type_metric(kind) in metrics
        }
        return cls(metrics[ARENA_HEADLINE], rates)


def measure_strength(
    settings: Settings,
    family: str,
    model: ort.InferenceSession,
    sessions: int,
    kinds: Sequence[str] = ZOO_TYPES,
) -> Strength:
    """`sessions` sessions per zoo type against `family`'s policy with `model` acting,
    whichever alias a game draws; the adaptive policy as `settings` has it."""
    policy = next(f.policy for f in FAMILIES if f.name == family)
    venue = InProcess(settings, OneModel(model, ACTING_ALIASES, UNREGISTERED))
    tournament = run_tournament(venue, (policy,), kinds, sessions)
    if fallbacks := tournament.phases(policy)["fallback"]:
        raise ValueError(f"the model did not answer {fallbacks} decisions: not its strength")
    rates = {kind: tournament.cells[policy, kind].games.value for kind in kinds}
    return Strength(tournament.headline(policy), rates)
