"""Which zoo seeds evaluate and which may train: two disjoint ranges, defined only here.

The arena meets its opponents on EVALUATION_SEEDS; anything that learns from zoo players (a
bootstrap corpus) draws from TRAINING_SEEDS, so no evaluated opponent was ever trained on.
"""

from __future__ import annotations

TRAINING_SEEDS = range(0, 1_000_000)
EVALUATION_SEEDS = range(1_000_000, 2_000_000)


def evaluation_seed(session: int) -> int:
    """The seed of a type's `session`-th arena session (from 0); every bot meets the same ones."""
    return EVALUATION_SEEDS[session]


def training_seed(session: int) -> int:
    """The seed of the `session`-th zoo session (from 0) that a bootstrap corpus trains on."""
    return TRAINING_SEEDS[session]
