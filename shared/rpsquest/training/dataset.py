"""A cycle's one training dataset: live rounds, bootstrap corpora, gate and split (§7.3).

Every labelled row, live or bootstrap, is derived from its game's history by the function play
uses, so games stored under an older feature contract still train. The vector play stored
for a live round must agree with the derived one (all of it, or the `rps50-v2` prefix an older
play stored): that is how serving/training skew is caught."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
from sqlalchemy import Connection, Engine

from rpsquest import FEATURE_CONTRACT
from rpsquest.config import Settings
from rpsquest.features import N_FEATURES, N_V2_FEATURES, round_features
from rpsquest.game.gambits import GAMBIT_ROUNDS
from rpsquest.game.rules import MOVES, PlayedRound, played_rounds
from rpsquest.store.cycles import latest_cutoff
from rpsquest.store.database import read_connection
from rpsquest.store.games import RoundRow, find_game, live_games, stored_rounds
from rpsquest.training.corpus import (
    HUMAN_COHORTS,
    CorpusGame,
    CorpusSource,
    CorpusUnavailable,
    HumanCohort,
    human_corpus,
    simulated_corpus,
    zoo_corpus,
)

log = logging.getLogger(__name__)

RowSource = Literal["live", "human", "simulated", "zoo"]
GateReason = Literal[
    "forced", "alias_without_version", "new_data", "too_little_new_data", "too_little_data"
]

FIRST_LABELLED_ROUND = GAMBIT_ROUNDS + 1
TELEMETRY_SOURCE = "telemetry"
SUCCESSFUL_CYCLE_STATUSES = ("success", "partial")
# Each corpus's share of the bootstrap fill, in percent. Beside human play, legacy games and
# zoo sessions show the models tier- and value-relative habits and players who adapt across a
# session before any live player exists.
BOOTSTRAP_SHARE_PERCENT: dict[CorpusSource, int] = {"human": 70, "simulated": 15, "zoo": 15}
TRAIN_PERCENT, VALIDATION_PERCENT = 70, 85  # cumulative shares of labelled rounds


class _Counted(Protocol):
    @property
    def labelled_rounds(self) -> int: ...


_G = TypeVar("_G", bound=_Counted)


@dataclass(frozen=True, slots=True)
class LiveGame:
    """A stored game that may feed training; `rounds_played` is frozen at selection time."""

    id: str
    created_at: str
    source: str
    rounds_played: int
    easy: bool

    @property
    def labelled_rounds(self) -> int:
        return max(0, self.rounds_played - GAMBIT_ROUNDS)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which games a cycle trains on, decided before any feature vector is read."""

    eligible: tuple[LiveGame, ...]  # every live game after downsampling, newest first
    live: tuple[LiveGame, ...]  # the capped prefix of `eligible` that is used
    human: tuple[CorpusGame, ...]
    simulated: tuple[CorpusGame, ...]
    zoo: tuple[CorpusGame, ...]
    # Set when the fill needed the human corpus and could not read it: the cycle's reason.
    corpus_problem: str = ""

    @property
    def live_rounds(self) -> int:
        return sum(g.labelled_rounds for g in self.live)

    @property
    def bootstrap_rounds(self) -> int:
        return sum(g.labelled_rounds for g in (*self.human, *self.simulated, *self.zoo))

    @property
    def total_rounds(self) -> int:
        return self.live_rounds + self.bootstrap_rounds

    @property
    def cutoff(self) -> str | None:
        """created_at of the newest live game used; the next gate counts what came after it."""
        return self.live[0].created_at if self.live else None


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether a cycle should train now, and why."""

    train: bool
    reason: GateReason
    new_rounds: int
    total_rounds: int
    since: str | None
    selection: Selection


@dataclass(frozen=True, slots=True)
class TrainingGame:
    """The labelled rows of one game; a game never spans two splits."""

    id: str
    source: RowSource
    features: tuple[tuple[float, ...], ...]
    labels: tuple[int, ...]
    cohort: HumanCohort | None = None

    @property
    def labelled_rounds(self) -> int:
        return len(self.labels)


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """What a cycle logs and announces about its data (MLflow params, training.completed)."""

    feature_contract: str
    n_rounds: int
    n_games: int
    live_rounds: int
    live_games: int
    bootstrap_rounds: int
    human_rounds: int
    simulated_rounds: int
    zoo_rounds: int
    cutoff: str | None
    data_fingerprint: str
    train_rounds: int
    val_rounds: int
    test_rounds: int
    train_games: int
    val_games: int
    test_games: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Float32 features [n, N_FEATURES] and int64 labels (rock 0, paper 1, scissors 2) per split."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    test_human: np.ndarray  # bool per test row: from the human corpus (held-out human accuracy)
    test_cohort: np.ndarray  # str per test row: its human cohort ("stable", "adaptive"), else ""
    summary: DatasetSummary

    def held_out_human(self) -> dict[str, np.ndarray]:
        """Test-row masks of held-out human play, all of it and per cohort, named as metrics
        name them (`test_human_accuracy`, `test_human_stable_accuracy`, ...)."""
        cohorts = {f"human_{c}": self.test_cohort == c for c in HUMAN_COHORTS}
        return {"human": self.test_human, **cohorts}


class FeatureSkew(ValueError):
    """A live round's stored vector is not the one its history gives: play and training drifted."""


@contextmanager
def _connected(database: Engine | Connection) -> Iterator[Connection]:
    if isinstance(database, Connection):
        yield database
        return
    with read_connection(database) as connection:
        yield connection


def labelled_rows(
    history: Sequence[PlayedRound], easy: bool
) -> tuple[list[list[float]], list[int]]:
    """Features and labels of every round after the gambit, each from all rounds before it."""
    features, labels = [], []
    for index, played in enumerate(history):
        if played.round_no >= FIRST_LABELLED_ROUND:
            features.append(round_features(history[:index], played.points, played.round_no, easy))
            labels.append(MOVES.index(played.user_move))
    return features, labels


def rebuild_game_features(connection: Connection, game_id: str) -> list[list[float]]:
    """A stored game's labelled vectors as training derives and checks them (the parity test)."""
    game = find_game(connection, game_id)
    if game is None:
        raise ValueError(f"no game {game_id}")
    live = LiveGame(
        game.id, game.created_at, game.source, game.rounds_played, game.difficulty == "easy"
    )
    (training,) = _live_training_games(connection, [live])
    return [list(vector) for vector in training.features]


def _eligible_live_games(connection: Connection, stride: int) -> list[LiveGame]:
    """Non-test games newest first, telemetry games thinned to every `stride`-th one."""
    eligible, telemetry_index = [], 0
    for game_id, created_at, source, rounds_played, difficulty in live_games(connection):
        if source == TELEMETRY_SOURCE:
            keep = telemetry_index % max(1, stride) == 0
            telemetry_index += 1
            if not keep:
                continue
        eligible.append(LiveGame(game_id, created_at, source, rounds_played, difficulty == "easy"))
    return eligible


def _take_whole_games(candidates: Sequence[_G], budget: int) -> tuple[_G, ...]:
    """Whole games in order while their labelled rounds stay within `budget`; never cut one."""
    taken: list[_G] = []
    total = 0
    for game in candidates:
        if game.labelled_rounds == 0:
            continue
        if total + game.labelled_rounds > budget:
            break
        taken.append(game)
        total += game.labelled_rounds
    return tuple(taken)


def _share(fill: int, source: CorpusSource) -> int:
    """The labelled rounds of `fill` that `source` may take, rounded down."""
    return fill * BOOTSTRAP_SHARE_PERCENT[source] // 100


def select_training_data(connection: Connection, settings: Settings) -> Selection:
    """Live games newest first up to the cap, then bootstrap corpora while the store is young."""
    eligible = _eligible_live_games(connection, settings.train_legacy_stride)
    live = _take_whole_games(eligible, settings.train_max_rounds)
    fill = max(0, settings.train_bootstrap_rounds - sum(g.labelled_rounds for g in live))
    human_fill = _share(fill, "human")
    simulated_fill = _share(fill, "simulated")
    zoo_fill = _share(fill, "zoo")
    # The corpora load only when needed: a mature store never reads the human CSV.
    human: tuple[CorpusGame, ...] = ()
    problem = ""
    if human_fill:
        try:
            human = _take_whole_games(human_corpus(settings.human_data_dir), human_fill)
        except CorpusUnavailable as exc:
            # The other shares still fill; the cycle is partial, or a failure if too small.
            problem = f"human corpus unavailable: {exc}"
            log.error("%s", problem)
    simulated = _take_whole_games(simulated_corpus(), simulated_fill) if simulated_fill else ()
    # Sized for the largest fill, so every cycle of the process takes a prefix of one corpus.
    zoo_corpus_rounds = _share(settings.train_bootstrap_rounds, "zoo")
    zoo = _take_whole_games(zoo_corpus(zoo_corpus_rounds), zoo_fill) if zoo_fill else ()
    return Selection(tuple(eligible), live, human, simulated, zoo, problem)


def last_training_cutoff(connection: Connection) -> str | None:
    """The newest cutoff of a successful (or partial) training cycle, if any."""
    return latest_cutoff(connection, SUCCESSFUL_CYCLE_STATUSES)


def decide_training(
    selection: Selection,
    settings: Settings,
    since: str | None,
    *,
    force: bool = False,
    alias_without_version: bool = False,
) -> GateDecision:
    """Train on enough new live rounds, on demand or to fill an empty alias; never on too little."""
    new_rounds = sum(
        g.labelled_rounds for g in selection.eligible if since is None or g.created_at > since
    )
    total = selection.total_rounds
    reason: GateReason
    if total < settings.train_min_rounds:
        reason = "too_little_data"
    elif force:
        reason = "forced"
    elif alias_without_version:
        reason = "alias_without_version"
    elif new_rounds >= settings.train_min_new_rounds:
        reason = "new_data"
    else:
        reason = "too_little_new_data"
    train = reason not in ("too_little_data", "too_little_new_data")
    return GateDecision(train, reason, new_rounds, total, since, selection)


def check_gate(
    database: Engine | Connection,
    settings: Settings,
    *,
    force: bool = False,
    alias_without_version: bool = False,
) -> GateDecision:
    """Read the store and decide; pass `decision.selection` on to `build_dataset`."""
    with _connected(database) as connection:
        selection = select_training_data(connection, settings)
        since = last_training_cutoff(connection)
    return decide_training(
        selection, settings, since, force=force, alias_without_version=alias_without_version
    )


def _training_game(
    game_id: str,
    source: RowSource,
    history: Sequence[PlayedRound],
    easy: bool,
    cohort: HumanCohort | None = None,
) -> TrainingGame:
    features, labels = labelled_rows(history, easy)
    return TrainingGame(game_id, source, tuple(map(tuple, features)), tuple(labels), cohort)


def _live_training_games(
    connection: Connection, selected: Sequence[LiveGame]
) -> list[TrainingGame]:
    """The selected games' rows, oldest game first; rounds played after selection stay out."""
    rounds: dict[str, list[tuple[RoundRow, str]]] = {g.id: [] for g in selected}
    for game_id, row, features in stored_rounds(connection, list(rounds)):
        rounds[game_id].append((row, features))
    return [_live_training_game(game, rounds[game.id]) for game in reversed(selected)]


def _live_training_game(game: LiveGame, rounds: Sequence[tuple[RoundRow, str]]) -> TrainingGame:
    """A stored game's rows derived from its history, each checked against play's vector."""
    kept = [(row, features) for row, features in rounds if row[0] <= game.rounds_played]
    history = played_rounds(row for row, _ in kept)
    training = _training_game(game.id, "live", history, game.easy)
    served = [
        (played.round_no, features)
        for played, (_, features) in zip(history, kept, strict=True)
        if played.round_no >= FIRST_LABELLED_ROUND
    ]
    for (round_no, features), derived in zip(served, training.features, strict=True):
        _check_served(game.id, round_no, json.loads(features), derived)
    return training


def _check_served(
    game_id: str, round_no: int, stored: list[float], derived: tuple[float, ...]
) -> None:
    """The vector play stored must be the derived one, or its `rps50-v2` prefix for a round
    played before v3."""
    if len(stored) not in (N_V2_FEATURES, N_FEATURES) or derived[: len(stored)] != tuple(stored):
        raise FeatureSkew(
            f"Game {game_id} round {round_no} stores a vector its history does not give."
        )


def _corpus_training_game(game: CorpusGame) -> TrainingGame:
    return _training_game(game.id, game.source, game.rounds, easy=False, cohort=game.cohort)


def split_games(
    ordered: Sequence[TrainingGame],
) -> tuple[list[TrainingGame], list[TrainingGame], list[TrainingGame]]:
    """Oldest games to train until >= 70% of rounds, then validation until >= 85%, then test."""
    total = sum(g.labelled_rounds for g in ordered)
    train: list[TrainingGame] = []
    validation: list[TrainingGame] = []
    test: list[TrainingGame] = []
    seen = 0
    for game in ordered:
        if seen * 100 < TRAIN_PERCENT * total:
            train.append(game)
        elif seen * 100 < VALIDATION_PERCENT * total:
            validation.append(game)
        else:
            test.append(game)
        seen += game.labelled_rounds
    return train, validation, test


def data_fingerprint(training: Sequence[TrainingGame]) -> str:
    """SHA-256 of the sorted game ids with their labelled round counts."""
    lines = sorted(f"{g.id}:{g.labelled_rounds}\n" for g in training)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _stack(split: Sequence[TrainingGame]) -> tuple[np.ndarray, np.ndarray]:
    features = [row for game in split for row in game.features]
    labels = [label for game in split for label in game.labels]
    x = np.asarray(features, dtype=np.float32).reshape(len(features), N_FEATURES)
    return x, np.asarray(labels, dtype=np.int64)


def build_dataset(
    database: Engine | Connection, settings: Settings, selection: Selection | None = None
) -> Dataset:
    """Everything the 12 models train on, built once per cycle.

    Time order for the split: simulated games and zoo sessions, then human pseudo-games in their
    shuffled order (all older than any live game), then live games oldest first. So a young
    store tests on held-out human play, and a mature one on its newest games.
    """
    with _connected(database) as connection:
        selection = selection or select_training_data(connection, settings)
        live = _live_training_games(connection, selection.live)
    ordered = [
        *(_corpus_training_game(g) for g in selection.simulated),
        *(_corpus_training_game(g) for g in selection.zoo),
        *(_corpus_training_game(g) for g in selection.human),
        *live,
    ]
    train, validation, test = split_games(ordered)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = map(_stack, (train, validation, test))
    test_human = np.asarray(
        [game.source == "human" for game in test for _ in game.labels], dtype=bool
    )
    test_cohort = np.asarray([game.cohort or "" for game in test for _ in game.labels], dtype=str)

    def rounds_of(source: str) -> int:
        return sum(g.labelled_rounds for g in ordered if g.source == source)

    live_rounds, human_rounds, simulated_rounds, zoo_rounds = map(
        rounds_of, ("live", "human", "simulated", "zoo")
    )
    summary = DatasetSummary(
        feature_contract=FEATURE_CONTRACT,
        n_rounds=len(y_train) + len(y_val) + len(y_test),
        n_games=len(ordered),
        live_rounds=live_rounds,
        live_games=len(live),
        bootstrap_rounds=human_rounds + simulated_rounds + zoo_rounds,
        human_rounds=human_rounds,
        simulated_rounds=simulated_rounds,
        zoo_rounds=zoo_rounds,
        cutoff=selection.cutoff,
        data_fingerprint=data_fingerprint(ordered),
        train_rounds=len(y_train),
        val_rounds=len(y_val),
        test_rounds=len(y_test),
        train_games=len(train),
        val_games=len(validation),
        test_games=len(test),
    )
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, test_human, test_cohort, summary)
