"""What comes next in a stream of moves: the predictors zoo players learn a bot with."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from rpsquest.game.rules import MOVES, Move

Symbol = TypeVar("Symbol", bound=Hashable)


class Predictor(Protocol):
    def observe(self, move: Move) -> None:
        """The stream's next move, as it happened."""
        ...

    def predict(self) -> Move | None:
        """The expected next move, or None without evidence."""
        ...


def _most_common(counts: Counter[Move]) -> Move:
    """Ties go to the canonical order."""
    return max(MOVES, key=counts.__getitem__)


class Frequency:
    """The most frequent move of the last `window` moves (None: all of them); a window of 1 is
    the last move."""

    def __init__(self, window: int | None = None) -> None:
        self._recent: deque[Move] = deque(maxlen=window)
        self._counts: Counter[Move] = Counter()

    def observe(self, move: Move) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._counts[self._recent[0]] -= 1
        self._recent.append(move)
        self._counts[move] += 1

    def predict(self) -> Move | None:
        return _most_common(self._counts) if self._recent else None


class Markov:
    """Counts of the move that followed each run of `order` moves; predicts the most counted
    follower of the latest run."""

    def __init__(self, order: int) -> None:
        self._recent: deque[Move] = deque(maxlen=order)
        self._followers: dict[tuple[Move, ...], Counter[Move]] = {}

    def observe(self, move: Move) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._followers.setdefault(tuple(self._recent), Counter())[move] += 1
        self._recent.append(move)

    def predict(self) -> Move | None:
        followers = self._followers.get(tuple(self._recent))
        return _most_common(followers) if followers else None


class HistoryMatch(Generic[Symbol]):
    """Iocaine Powder's history matcher: find the latest earlier occurrence of the longest
    recent run (up to `longest` symbols) and predict the symbol that followed it."""

    def __init__(self, longest: int) -> None:
        self._recent: deque[Symbol] = deque(maxlen=longest)
        self._followers: dict[tuple[Symbol, ...], Symbol] = {}

    def observe(self, symbol: Symbol) -> None:
        recent = tuple(self._recent)
        for start in range(len(recent)):
            self._followers[recent[start:]] = symbol
        self._recent.append(symbol)

    def predict(self) -> Symbol | None:
        recent = tuple(self._recent)
        for start in range(len(recent)):
            if (follower := self._followers.get(recent[start:])) is not None:
                return follower
        return None
