"""Shared fixtures: an isolated environment and settings per test; each tier's markers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from rpsquest.config import Settings

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# A tier's markers follow from its folder, so a new test file cannot forget them.
TIER_MARKERS = {
    "integration": ("integration",),
    "e2e": ("e2e", "slow"),
    "browser": ("browser", "integration"),  # the page is driven against real servers
}
GAME_1 = "00000000-0000-0000-0000-000000000001"
GAME_2 = "00000000-0000-0000-0000-000000000002"
GAME_3 = "00000000-0000-0000-0000-000000000003"


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of tests/<tier>/ with that tier's markers."""
    for item in items:
        if item.path.is_relative_to(TESTS):  # the command line may name files elsewhere
            for marker in TIER_MARKERS.get(item.path.relative_to(TESTS).parts[0], ()):
                item.add_marker(marker)


@pytest.fixture(autouse=True)
def _isolated_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees another test's (or the developer's) RPS_* variables."""
    for name in list(os.environ):
        if name.startswith(("RPS_", "MLFLOW_", "K_SINK")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a project under tmp_path, with overrides by variable name."""

    def build(**env: str) -> Settings:
        return Settings.from_env({"RPS_PROJECT_DIR": str(tmp_path), **env})

    return build


POSTGRES_ADMIN_URL = os.environ.get(
    "RPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a throwaway database on the PostgreSQL server."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'rps.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"rps_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    """A migrated, empty gameplay store on each backend."""
    from rpsquest.store.database import migrate, open_engine

    engine = open_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def trained_cycle(tmp_path_factory: pytest.TempPathFactory):
    """Twelve small models trained once per test session (see tests/training_fixture.py)."""
    from tests.training_fixture import train_cycle

    return train_cycle(tmp_path_factory.mktemp("trained"))
