"""Store faults under concurrent play over HTTP: PostgreSQL stopped mid-load and started again,
and play's gunicorn worker SIGKILLed mid-load; start_game and play run from what their images
hold.

Clients behave well: each retries a 503 or a broken connection with the same round number and
move, so an answer lost on the way is replayed from the store, never played twice. Afterwards
every stored game must add up and agree with what its client was told. Each test prints its
figures (run with -s)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Row, create_engine, select

from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.rules import MOVES, match_winner, tenths
from rpsquest.local import Server
from rpsquest.store.schema import games, rounds
from tests.conftest import fresh_database
from tests.faults import StopMode, ThrowawayPostgres, worker_pids
from tests.helpers import wait_for
from tests.integration.conftest import Launcher

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLIENTS = 8
OUTAGE_SECONDS = 3.0
WARM_UP_ROUNDS = 80  # answered to all clients together before the fault: play is under load
_TIMEOUT = 10  # seconds per request: a hang is a failure, not something to retry
_FIRST_PAUSE, _LONGEST_PAUSE = 0.02, 0.2  # seconds of back-off before a retry
_FINAL = {"start": 201, "play": 200}
# A connection lost before the answer, or in the middle of its body (the headers sent, then
# the worker killed: requests reports that IncompleteRead as a ChunkedEncodingError).
_BROKEN = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
_ROUND_FIELDS = ("user_move", "bot_move", "result", "user_delta", "bot_delta")
_SCORE_FIELDS = ("user_score", "bot_score")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP attempt as its client saw it; status None: the connection broke first."""

    route: str
    sent_at: float
    answered_at: float
    status: int | None


class UnexpectedAnswer(AssertionError):
    """An answer a well-behaved client must never get, whatever the fault."""


class Player(threading.Thread):
    """One client playing whole games round by round until told to stop, then finishing the
    game in hand. It retries 503s and broken connections after a short, growing pause.

    A retry repeats its round and move, so play answers it from the store even when that round
    ended the game: a 409 (game_finished, round_conflict) would mean a round was lost or
    counted twice, as wrong here as a 500."""

    def __init__(self, number: int, start_url: str, play_url: str, stop: threading.Event) -> None:
        super().__init__(name=f"player-{number}", daemon=True)
        self.start_url, self.play_url, self.stop = start_url, play_url, stop
        self.policy = LEGACY_BOTS[number % len(LEGACY_BOTS)]  # no models needed
        self.moves = random.Random(number)
        self.http = requests.Session()
        self.exchanges: list[Exchange] = []
        self.answers: dict[str, dict[int, dict[str, Any]]] = {}  # game → round → play's 200
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._play_game()
        except BaseException as exc:  # re-raised by the test's thread
            self.failure = exc
        finally:
            self.http.close()

    def _play_game(self) -> None:
        game = self._post("start", self.start_url, {"policy": self.policy, "is_test": True})
        answers = self.answers[game["game_id"]] = {}
        while not answers or not answers[len(answers)]["finished"]:
            round_no = len(answers) + 1
            body = {
                "game_id": game["game_id"],
                "game_token": game["game_token"],
                "move": self.moves.choice(MOVES),
                "round": round_no,  # makes a retry idempotent: same move → the stored answer
            }
            answers[round_no] = self._post("play", self.play_url, body)

    def _post(self, route: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST until the final answer; a 503 or a broken connection is retried as it was."""
        pause = _FIRST_PAUSE
        while True:
            sent_at = time.monotonic()
            try:
                response = self.http.post(url, json=body, timeout=_TIMEOUT)
            except _BROKEN:
                response = None
            status = response.status_code if response is not None else None
            self.exchanges.append(Exchange(route, sent_at, time.monotonic(), status))
            if response is not None and response.headers.get("Content-Type") != "application/json":
                raise UnexpectedAnswer(f"{route}: {status} {response.text[:300]}")
            if status == _FINAL[route]:
                return response.json()
            if status == 503 and response.json()["error"]["code"] != "unavailable":
                raise UnexpectedAnswer(f"{route}: 503 {response.text[:300]}")
            if status not in (None, 503):
                raise UnexpectedAnswer(f"{route}: {status} {response.text[:300]}")
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    def recovered(self, since: float) -> bool:
        """Answered with 200 since `since`, or stopped by a failure (which the test re-raises)."""
        return self.answered(since) > 0 or not self.is_alive()

    def answered(self, since: float = 0.0) -> int:
        """How many plays this client sent at `since` or later and had answered with 200."""
        return len(answer_times(list(self.exchanges), since))


@contextmanager
def load(start_game: Server, play: Server) -> Iterator[list[Player]]:
    """CLIENTS players on their own threads; on leaving, they finish their games and stop."""
    stop = threading.Event()
    players = [Player(n, start_game.url, play.url, stop) for n in range(CLIENTS)]
    for player in players:
        player.start()
    try:
        yield players
    finally:
        stop.set()
        for player in players:
            player.join(timeout=60)


def start_platform(launch: Launcher, database_url: str) -> tuple[Server, Server]:
    """start_game and play as real servers on free ports, both on `database_url`."""
    play = launch("play", RPS_DATABASE_URL=database_url)
    start_game = launch("start_game", RPS_DATABASE_URL=database_url, RPS_PLAY_URL=play.url)
    return start_game, play


def under_load(players: Sequence[Player]) -> bool:
    """Enough rounds answered to all clients together to call it load, or a client failed."""
    answered = sum(player.answered() for player in players)
    return answered >= WARM_UP_ROUNDS or not all(player.is_alive() for player in players)


def assert_game_adds_up(game: Row, stored: Sequence[Row]) -> None:
    """Rounds 1..n, each score the running sum of the stored deltas in tenths (SPEC §2.2), the
    game row's scores the last round's, and one winner, decided in the last round only."""
    assert [r.round_no for r in stored] == list(range(1, len(stored) + 1)), game.id
    assert game.rounds_played == len(stored), game.id
    user = bot = 0.0
    winner = None
    for r in stored:
        assert winner is None, f"{game.id}: round {r.round_no} after the game was won"
        user, bot = tenths(user + r.user_delta), tenths(bot + r.bot_delta)
        assert (r.user_score, r.bot_score) == (user, bot), f"{game.id} round {r.round_no}"
        winner = match_winner(user, bot)
    assert (game.user_score, game.bot_score, game.winner) == (user, bot, winner), game.id
    assert (game.finished_at is None) == (winner is None), game.id


def assert_store_agrees(database_url: str, players: Sequence[Player]) -> tuple[int, int]:
    """Every stored game adds up and holds exactly the rounds its client was answered (no lost
    round, no round played twice); returns how many games and rounds were checked."""
    told = {game_id: answers for p in players for game_id, answers in p.answers.items()}
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored_games = connection.execute(select(games)).all()
            by_game: defaultdict[str, list[Row]] = defaultdict(list)
            for r in connection.execute(select(rounds).order_by(rounds.c.round_no)):
                by_game[r.game_id].append(r)
    finally:
        engine.dispose()
    assert told.keys() <= {g.id for g in stored_games}, "a started game is missing"
    for game in stored_games:
        stored = by_game[game.id]
        assert_game_adds_up(game, stored)
        # A game no client heard of (start_game's answer lost on the way) must be untouched.
        answers = told.get(game.id, {})
        assert sorted(answers) == [r.round_no for r in stored], game.id
        for r in stored:
            reply = answers[r.round_no]
            fields = (*_ROUND_FIELDS, *_SCORE_FIELDS)
            assert [reply[f] for f in fields] == [getattr(r, f) for f in fields], game.id
        if answers:  # the client played it to the end
            assert game.winner is not None, game.id
            assert answers[len(answers)]["winner"] == game.winner, game.id
    return len(stored_games), sum(len(stored) for stored in by_game.values())


def answer_times(exchanges: Sequence[Exchange], since: float) -> list[float]:
    """When each play sent at `since` or later was answered with 200 (a request sent before
    may have been answered by the old state of things just before the fault)."""
    return [
        e.answered_at
        for e in exchanges
        if e.route == "play" and e.status == 200 and e.sent_at >= since
    ]


def report(fault: str, players: Sequence[Player], recovered_from: float) -> None:
    """Print what the clients saw, then fail on any that saw what it must never see."""
    exchanges = [e for p in players for e in p.exchanges]
    statuses = [e.status for e in exchanges]
    recovery = min(answer_times(exchanges, recovered_from), default=float("nan"))
    print(
        f"\n{fault}: {len(exchanges)} requests sent by {len(players)} clients,"
        f" {sum(s is not None and s >= 500 and s != 503 for s in statuses)} 5xx other than 503,"
        f" {statuses.count(503)} 503s, {statuses.count(None)} broken connections,"
        f" recovery {recovery - recovered_from:.2f} s"
    )
    for player in players:
        assert not player.is_alive(), f"{player.name} did not finish its game"
        if player.failure is not None:
            raise player.failure


def check_store(fault: str, database_url: str, players: Sequence[Player]) -> None:
    """Check every stored game against the rules and the clients, and print how many."""
    checked_games, checked_rounds = assert_store_agrees(database_url, players)
    print(f"{fault}: {checked_games} games and {checked_rounds} rounds checked, all consistent")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgres_outage_answers_503s_and_loses_no_round(launch_image: Launcher, mode: StopMode):
    with ThrowawayPostgres() as postgres:
        start_game, play = start_platform(launch_image, postgres.url)
        with load(start_game, play) as players:
            wait_for(lambda: under_load(players), 30, "play under load")
            postgres.stop(mode)
            time.sleep(OUTAGE_SECONDS)
            postgres.start()
            restarted = time.monotonic()
            wait_for(
                lambda: all(p.recovered(restarted) for p in players), 30, "every client playing"
            )
        fault = f"PostgreSQL stopped -m {mode} for {OUTAGE_SECONDS} s"
        report(fault, players, restarted)
        check_store(fault, postgres.url, players)
    assert any(e.route == "play" and e.status == 503 for p in players for e in p.exchanges), (
        "play never saw the outage"
    )


def test_a_killed_play_worker_leaves_every_game_consistent(launch_image: Launcher, tmp_path: Path):
    with fresh_database("postgresql", tmp_path) as url:
        start_game, play = start_platform(launch_image, url)
        with load(start_game, play) as players:
            wait_for(lambda: under_load(players), 30, "play under load")
            [worker] = worker_pids(play.process.pid)
            os.kill(worker, signal.SIGKILL)
            killed = time.monotonic()
            wait_for(lambda: all(p.recovered(killed) for p in players), 30, "every client playing")
            assert worker not in worker_pids(play.process.pid)
        report("play worker SIGKILLed", players, killed)
        check_store("play worker SIGKILLed", url, players)
