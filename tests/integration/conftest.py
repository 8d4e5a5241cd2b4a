"""Real functions-framework servers on loopback ports, sharing one database."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select

from rpsquest.images import StagedFunction, stage
from rpsquest.local import Server, start_function, wait_healthy
from rpsquest.processes import free_port, stop_all
from rpsquest.production import default_image_cache, start_staged
from rpsquest.store.schema import games, predictions, rounds
from tests import conformance
from tests.conftest import BACKENDS, REPO, fresh_database
from tests.helpers import move, new_game
from tests.training_fixture import project_env

ADMIN_TOKEN = "integration-admin-token"
Launcher = Callable[..., Server]


Images = Callable[[str], StagedFunction]


@contextmanager
def servers(directory: Path, images: Images | None = None) -> Iterator[Launcher]:
    """Start functions as real servers with `directory` as project dir; stop them all on exit.
    With `images`, each runs from its staged image tree instead of the checkout."""
    started: list[Server] = []

    def start(name: str, port: int | None = None, **env: str) -> Server:
        port = port or free_port()
        if images is None:
            environ = {**os.environ, "RPS_PROJECT_DIR": str(directory), **env}
            server = start_function(name, port, REPO, environ, directory / "log")
        else:
            threads = {"WORKERS": "1", "THREADS": "8"}  # what the ksvc sets
            server = start_staged(images(name), port, {**threads, **env}, directory)
        started.append(server)
        wait_healthy([server])
        return server

    try:
        yield start
    finally:
        stop_all(started)


@pytest.fixture(autouse=True)
def _conforming_responses() -> Iterator[None]:
    """Every response a test gets from a function matches the function's OpenAPI document."""
    with conformance.checked() as checker:
        yield
    assert checker.violations == [], "\n".join(checker.violations)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launcher]:
    with servers(tmp_path) as start:
        yield start


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    """Each function's image contents and venv, staged once per session on first use."""
    root = tmp_path_factory.mktemp("images")

    @functools.cache
    def staged(name: str) -> StagedFunction:
        return stage(name, REPO, root / name, default_image_cache(), root / "staging.log")

    return staged


@pytest.fixture
def launch_image(tmp_path: Path, images: Images) -> Iterator[Launcher]:
    """Like `launch`, but each function runs from what its image holds."""
    with servers(tmp_path, images) as start:
        yield start


@dataclass(frozen=True)
class Platform:
    start_game: Server
    play: Server
    database_url: str


@pytest.fixture(scope="module", params=BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Platform]:
    """start_game and play on one database, with an admin token and a CORS origin set."""
    directory = tmp_path_factory.mktemp("platform")
    with fresh_database(request.param, directory) as url, servers(directory) as start:
        play_port = free_port()
        env = {
            "RPS_DATABASE_URL": url,
            "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
            "RPS_PLAY_URL": f"http://127.0.0.1:{play_port}/",
            "RPS_CORS_ORIGINS": "https://rps.example",
        }
        yield Platform(start("start_game", **env), start("play", port=play_port, **env), url)


# Helpers for tests that play trained models over HTTP.


def launch_platform(launch, project, **env):
    settings_env = {**project_env(project), **env}
    start_game = launch("start_game", **settings_env)
    play = launch("play", **settings_env)
    return start_game, play


def play_rounds(start_game, play, n, policy="brian"):
    game = new_game(start_game, policy=policy)
    replies = [move(play, game) for _ in range(n)]
    assert all(r.status_code == 200 for r in replies), replies[-1].text
    return game["game_id"], [r.json() for r in replies]


def stored(project, game_id):
    engine = create_engine(f"sqlite:///{project / 'var' / 'rps.db'}")
    with engine.connect() as connection:
        game = connection.execute(select(games).where(games.c.id == game_id)).mappings().one()
        played = (
            connection.execute(
                select(rounds).where(rounds.c.game_id == game_id).order_by(rounds.c.round_no)
            )
            .mappings()
            .all()
        )
        made = (
            connection.execute(select(predictions).where(predictions.c.game_id == game_id))
            .mappings()
            .all()
        )
    engine.dispose()
    return game, played, made


def models_of(play):
    return requests.get(play.url + "models", timeout=10).json()
