"""P(θ_B > θ_P) for independent Beta posteriors, computed exactly (SPEC §9.2)."""

from __future__ import annotations

import math


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def prob_b_better(b_wins: int, b_games: int, p_wins: int, p_games: int) -> float:
    """P(θ_B > θ_P) with Beta(1, 1) priors: a closed-form sum over B's integer first parameter.

    For X ~ Beta(a, b), Y ~ Beta(c, d) with integer a:
    P(X > Y) = Σ_{i<a} B(c + i, b + d) / ((b + i) · B(1 + i, b) · B(c, d)).
    """
    a, b = 1 + b_wins, 1 + b_games - b_wins
    c, d = 1 + p_wins, 1 + p_games - p_wins
    total = 0.0
    for i in range(a):
        total += math.exp(
            _log_beta(c + i, b + d) - math.log(b + i) - _log_beta(1 + i, b) - _log_beta(c, d)
        )
    return min(1.0, max(0.0, total))
