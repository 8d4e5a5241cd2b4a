"""Scripted three-move openings (rounds 1-3), chosen reproducibly from a secret key (SPEC §4)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from rpsquest.game.rules import Move, Tier, round_points

GAMBIT_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Gambit:
    name: str
    weight: int
    tiers: tuple[Tier, Tier, Tier]


GAMBITS: tuple[Gambit, ...] = (
    Gambit("crescendo", 14, ("L", "M", "H")),
    Gambit("denouement", 12, ("H", "M", "L")),
    Gambit("paper-dolls", 12, ("L", "M", "M")),
    Gambit("fistful-of-dollars", 10, ("H", "L", "L")),
    Gambit("scissor-sandwich", 8, ("L", "M", "L")),
    Gambit("bureaucrat", 6, ("L", "L", "L")),
    Gambit("avalanche", 8, ("H", "H", "H")),
    Gambit("toolbox", 6, ("M", "M", "M")),
    Gambit("razor", 12, ("M", "L", "H")),
    Gambit("switchblade", 12, ("M", "H", "L")),
)


def keyed_int(secret: str, message: str, length: int = 8) -> int:
    """int(HMAC-SHA256(secret, message)[0:length]), big-endian: the game's keyed randomness."""
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:length], "big")


def keyed_unit(secret: str, message: str) -> float:
    """A keyed draw in [0, 1)."""
    return keyed_int(secret, message) / 2**64


def gambit_draw(secret: str, game_id: str) -> int:
    return keyed_int(secret, f"{game_id}:gambit") % 100


def choose_gambit(secret: str, game_id: str) -> Gambit:
    x = gambit_draw(secret, game_id)
    for gambit in GAMBITS:
        if x < gambit.weight:
            return gambit
        x -= gambit.weight
    raise AssertionError("gambit weights must sum to 100")


def gambit_moves(gambit: Gambit, game_id: str) -> tuple[Move, Move, Move]:
    """Resolve the value-rank placeholders with each opening round's own values."""
    first, second, third = (
        round_points(game_id, round_no).tier(tier)
        for round_no, tier in enumerate(gambit.tiers, start=1)
    )
    return first, second, third
