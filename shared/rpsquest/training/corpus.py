"""Bootstrap corpora for a young database: human play, simulated legacy games and zoo
sessions (§7.3)."""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import os
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from rpsquest.arena.seeds import training_seed
from rpsquest.arena.selfplay import play_match, play_session
from rpsquest.arena.zoo import ZOO_TYPES, zoo_player
from rpsquest.game.gambits import GAMBIT_ROUNDS
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.rules import Move, PlayedRound, round_points, score_round

CorpusSource = Literal["human", "simulated", "zoo"]
# Which bots the human faced: scripted ones that keep a rule, or ones that adapt to the player.
HumanCohort = Literal["stable", "adaptive"]

HUMAN_CORPUS_FILE = "brockbank_vul_2024_rounds.csv"
HUMAN_CORPUS_COLUMNS = ("game", "experiment", "round", "human_move", "bot_move")
HUMAN_COHORTS: tuple[HumanCohort, ...] = ("stable", "adaptive")
# The corpus's experiments; a session of any other (a hand-made override file) has no cohort.
_COHORTS: dict[str, HumanCohort] = {"E1_stable_bots": "stable", "E2_adaptive_bots": "adaptive"}
HUMAN_SHUFFLE_SEED = 2024
BOOTSTRAP_SECRET = "rps-quest-bootstrap"
SIMULATED_GAMES_PER_PAIR = 5

_HUMAN_MOVES: dict[str, Move] = {"R": "rock", "P": "paper", "S": "scissors"}


@dataclass(frozen=True, slots=True)
class CorpusGame:
    """One pseudo-game of a bootstrap corpus, replayed under our rules from 0/0."""

    id: str
    source: CorpusSource
    rounds: tuple[PlayedRound, ...]
    finished: bool
    cohort: HumanCohort | None = None  # human sessions only, to report accuracy per cohort

    @property
    def labelled_rounds(self) -> int:
        """Rounds after the gambit: the ones that become training rows."""
        return max(0, len(self.rounds) - GAMBIT_ROUNDS)


class _PseudoGame:
    """A pseudo-game being cut from one human session; scores per §2.2 under its own id."""

    def __init__(self, game_id: str, cohort: HumanCohort | None) -> None:
        self.id = game_id
        self.cohort = cohort
        self.rounds: list[PlayedRound] = []
        self.finished = False

    def play(self, user: Move, bot: Move) -> None:
        round_no = len(self.rounds) + 1
        points = round_points(self.id, round_no)
        last = self.rounds[-1] if self.rounds else None
        scored = score_round(
            user, bot, points, last.user_score if last else 0.0, last.bot_score if last else 0.0
        )
        self.rounds.append(
            PlayedRound(round_no, user, bot, points, scored.user_score, scored.bot_score)
        )
        self.finished = scored.finished

    def close(self) -> CorpusGame:
        return CorpusGame(self.id, "human", tuple(self.rounds), self.finished, self.cohort)


class CorpusUnavailable(Exception):
    """The human corpus could not be read: which file, and what is wrong with it."""

    def __init__(self, source: Traversable, problem: str) -> None:
        super().__init__(f"{source}: {problem}")


def human_corpus_file(data_dir: Path | None) -> Traversable:
    """The packaged gzip copy, or `data_dir`'s plain CSV (else its `.csv.gz`) as an override."""
    if data_dir is None:
        return resources.files(__package__) / "data" / f"{HUMAN_CORPUS_FILE}.gz"
    plain, compressed = data_dir / HUMAN_CORPUS_FILE, data_dir / f"{HUMAN_CORPUS_FILE}.gz"
    # os.path.isfile, unlike Path.is_file, answers False on any stat error, which the read then
    # reports; a folder with neither file names the plain one, the usual form, in its error.
    return compressed if os.path.isfile(compressed) and not os.path.isfile(plain) else plain


def read_corpus_text(source: Traversable) -> str:
    """The CSV text of a corpus file, decompressed when its name ends in .gz."""
    data = source.read_bytes()
    return (gzip.decompress(data) if source.name.endswith(".gz") else data).decode()


@dataclass(slots=True)
class _Session:
    """One session's rows as read: (round, human_move, bot_move), and its experiment's cohort."""

    cohort: HumanCohort | None
    rows: list[tuple[int, str, str]]


def _sessions(text: str) -> dict[int, _Session]:
    """Every session of the CSV, its rows sorted by round."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if missing := [name for name in HUMAN_CORPUS_COLUMNS if name not in header]:
        raise ValueError(f"the CSV header lacks {', '.join(missing)}")
    game, experiment, round_no, human, bot = map(header.index, HUMAN_CORPUS_COLUMNS)
    sessions: dict[int, _Session] = {}
    try:
        for row in reader:
            session = sessions.setdefault(
                int(row[game]), _Session(_COHORTS.get(row[experiment]), [])
            )
            session.rows.append((int(row[round_no]), row[human], row[bot]))
    except (ValueError, IndexError) as exc:
        raise ValueError(f"line {reader.line_num}: {exc}") from None
    for session in sessions.values():
        session.rows.sort()
    return sessions


def _cut_session(number: int, session: _Session) -> list[CorpusGame]:
    """Pseudo-games to 10 from one session; a missing move closes the current one unfinished."""
    games: list[CorpusGame] = []
    current: _PseudoGame | None = None
    for _round, human, bot in session.rows:
        if human not in _HUMAN_MOVES or bot not in _HUMAN_MOVES:
            if current is not None:
                games.append(current.close())
                current = None
            continue
        if current is None:
            current = _PseudoGame(f"bv2024:{number}:{len(games) + 1}", session.cohort)
        current.play(_HUMAN_MOVES[human], _HUMAN_MOVES[bot])
        if current.finished:
            games.append(current.close())
            current = None
    if current is not None:
        games.append(current.close())
    return games


def _problem(exc: Exception) -> str:
    """What went wrong, without the path that CorpusUnavailable already names."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def read_human_corpus(data_dir: Path | None = None) -> tuple[CorpusGame, ...]:
    """Cut the Brockbank & Vul (2024) sessions into pseudo-games, in the seeded shuffled order.

    `data_dir` None reads the copy packaged with rpsquest; an unreadable file raises
    CorpusUnavailable.
    """
    source = human_corpus_file(data_dir)
    # OSError covers a missing file and a bad gzip header, EOFError a truncated gzip, zlib.error
    # a corrupt one, ValueError bad text or CSV (UnicodeDecodeError is one).
    try:
        sessions = _sessions(read_corpus_text(source))
    except (OSError, EOFError, zlib.error, ValueError, csv.Error) as exc:
        raise CorpusUnavailable(source, _problem(exc)) from None
    games = [g for number in sorted(sessions) for g in _cut_session(number, sessions[number])]
    random.Random(HUMAN_SHUFFLE_SEED).shuffle(games)
    return tuple(games)


@functools.cache
def human_corpus(data_dir: Path | None = None) -> tuple[CorpusGame, ...]:
    """The human corpus, read once per process (about two seconds of point values and scores).

    A failed read is not cached: the next cycle tries again.
    """
    return read_human_corpus(data_dir)


def _simulated_game(player: str, policy: str, game_id: str) -> CorpusGame:
    """One game of legacy bot `player` (as the user) against legacy policy `policy`."""
    rounds = tuple(play_match(game_id, player, policy, BOOTSTRAP_SECRET).rounds)
    return CorpusGame(game_id, "simulated", rounds, True)


def play_simulated_corpus() -> tuple[CorpusGame, ...]:
    """Every legacy bot as player against every legacy policy, five games per pair.

    Ordered game-number first, so any prefix covers the pairs evenly.
    """
    return tuple(
        _simulated_game(player, policy, f"sim:{player}:{policy}:{k}")
        for k in range(1, SIMULATED_GAMES_PER_PAIR + 1)
        for player in LEGACY_BOTS
        for policy in LEGACY_BOTS
    )


@functools.cache
def simulated_corpus() -> tuple[CorpusGame, ...]:
    """The simulated corpus, played once per process."""
    return play_simulated_corpus()


def _zoo_session(k: int, type_index: int) -> tuple[CorpusGame, ...]:
    """The `k`-th session (from 0) of zoo type `type_index`, on a training seed of its own,
    against the legacy bots in turn."""
    kind, seed = ZOO_TYPES[type_index], training_seed(k * len(ZOO_TYPES) + type_index)
    bot = LEGACY_BOTS[(k + type_index) % len(LEGACY_BOTS)]
    games = play_session(f"zoo:{kind}:{seed}", zoo_player(kind, seed), bot, BOOTSTRAP_SECRET)
    return tuple(CorpusGame(game.game_id, "zoo", tuple(game.rounds), True) for game in games)


def play_zoo_corpus(rounds: int) -> tuple[CorpusGame, ...]:
    """Session k of every zoo type before session k + 1, until they hold at least `rounds`
    labelled rounds.

    Within each k ordered game-number first, so any prefix covers the 16 types evenly.
    """
    games: list[CorpusGame] = []
    k = 0
    while sum(game.labelled_rounds for game in games) < rounds:
        sessions = [_zoo_session(k, type_index) for type_index in range(len(ZOO_TYPES))]
        games.extend(game for same_number in zip(*sessions, strict=True) for game in same_number)
        k += 1
    return tuple(games)


@functools.cache
def zoo_corpus(rounds: int) -> tuple[CorpusGame, ...]:
    """The zoo corpus for fills of up to `rounds` labelled rounds, played once per process."""
    return play_zoo_corpus(rounds)


def serialise_corpus(games: Sequence[CorpusGame]) -> bytes:
    """Canonical bytes of a corpus: one JSON line per game, for stable hashes."""
    lines = (
        json.dumps(
            {
                "id": game.id,
                "source": game.source,
                "finished": game.finished,
                "rounds": [
                    [
                        r.round_no,
                        r.user_move,
                        r.bot_move,
                        r.points.rock,
                        r.points.paper,
                        r.points.scissors,
                        r.user_score,
                        r.bot_score,
                    ]
                    for r in game.rounds
                ],
            },
            separators=(",", ":"),
        )
        for game in games
    )
    return "".join(f"{line}\n" for line in lines).encode()


def corpus_sha256(games: Sequence[CorpusGame]) -> str:
    return hashlib.sha256(serialise_corpus(games)).hexdigest()
