"""Every route of every function with each dependency down (SPEC §3, §10.2): the database, the
model store (S3) and MLflow, each a real endpoint that refuses connections.

A route that needs the dependency answers 503 `{"error": {"code": "unavailable", ...}}` as JSON,
never an HTML page, so the Broker retries; every other route keeps working (play serves ML
rounds from the models it loaded before); and when the dependency returns, the very same
processes answer 200 without a restart, and a redelivered event does the work."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import from_http
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rpsquest.config import Settings
from rpsquest.events import (
    MODEL_PROMOTED,
    PROMOTION_REQUESTED,
    RETENTION_REQUESTED,
    TELEMETRY_REQUESTED,
    TRAINING_COMPLETED,
    TRAINING_REQUESTED,
    new_event,
)
from rpsquest.modelstore import FolderStore, S3Store
from rpsquest.processes import Server, free_port, spawn, wait_healthy
from rpsquest.registry import current_aliases
from tests.conftest import POSTGRES_ADMIN_URL, fresh_database
from tests.helpers import move, new_game
from tests.integration.conftest import Launcher, servers, stored
from tests.seaweedfs import BUCKET, S3Server, copy_published, running_s3
from tests.training_fixture import project_env, publish_copy, smaller_configs_file

FUNCTIONS = ("start_game", "play", "train", "promote")
DEPENDENCIES = ("database", "store", "mlflow")
ALIASES = {"Production", "B", "shadow1", "shadow2"}
TRAIN_LOGISTIC = {"force": True, "families": ["logistic"]}  # four quick models, not twelve
MADE_UP_GAME = {"game_id": "00000000-0000-0000-0000-00000000dead", "game_token": "t"}


def closed_address() -> str:
    """host:port where nothing listens: connections are refused at once."""
    return f"127.0.0.1:{free_port()}"


@dataclass
class Stack:
    """The four functions as real servers, with the environment they were started with."""

    servers: dict[str, Server]
    project: Path
    env: dict[str, str]
    games: bool = True  # whether start_game can start games now

    def url(self, function: str) -> str:
        return self.servers[function].url

    def new_game(self, policy: str = "brian") -> dict[str, Any]:
        if not self.games:
            return MADE_UP_GAME
        return new_game(self.servers["start_game"], policy=policy)

    def play(self, game: dict[str, Any], rounds: int) -> None:
        for _ in range(rounds):
            response = move(self.servers["play"], game)
            assert response.status_code == 200, response.text


def launch_all(
    start: Launcher, project: Path, train_env: Mapping[str, str] | None = None, **env: str
) -> Stack:
    """start_game, play, train and promote on one project (train's settings may differ);
    telemetry plays through the first two."""
    ports = {name: free_port() for name in FUNCTIONS}
    environment = {
        **project_env(project),
        "RPS_MODEL_CONFIGS": smaller_configs_file(project),
        "RPS_PLAY_URL": f"http://127.0.0.1:{ports['play']}/",
        "RPS_START_GAME_URL": f"http://127.0.0.1:{ports['start_game']}/",
        "K_SINK": f"http://{closed_address()}/",  # no broker: admin follow-ups go nowhere
        **env,
    }
    overrides = {"train": train_env or {}}
    started = {
        name: start(name, port=ports[name], **{**environment, **overrides.get(name, {})})
        for name in FUNCTIONS
    }
    return Stack(started, project, environment)


def post_event(url: str, kind: str, data: dict[str, Any], event_id: str | None = None):
    headers, body = to_binary(new_event("test", kind, data, "outage", event_id))
    return requests.post(url, data=body, headers=headers, timeout=120)


@dataclass(frozen=True)
class Call:
    """One route of one function and a request it accepts; events are new on every call."""

    function: str
    method: str
    path: str
    json: dict[str, Any] | None = None
    event: tuple[str, dict[str, Any]] | None = None
    game: bool = False  # the body (or query) names a game started just before
    query: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        what = f" {self.event[0].removeprefix('io.rpsquest.')}" if self.event else ""
        return f"{self.function} {self.method} /{self.path}{what}"

    def send(self, stack: Stack) -> requests.Response:
        url = stack.url(self.function) + self.path
        if self.event:
            return post_event(url, *self.event)
        body, query = self.json, self.query
        if self.game:
            game = stack.new_game()
            body = {"game_id": game["game_id"], "game_token": game["game_token"], "move": "rock"}
            query = {"game_id": game["game_id"]}
        return requests.request(self.method, url, json=body, params=query, timeout=120)


# Every route of SPEC §3.1 and the functions' main.py, with its status while the database,
# the model store or MLflow is down.
ROUTES = [
    (Call("start_game", "GET", "healthz"), 200, 200, 200),
    (Call("start_game", "GET", "metrics"), 200, 200, 200),
    (Call("start_game", "POST", "", json={"policy": "brian"}), 503, 201, 201),
    (Call("start_game", "POST", "start_game", json={"policy": "ace"}), 503, 201, 201),
    (Call("start_game", "GET", ""), 200, 200, 200),
    (Call("start_game", "GET", "style.css"), 200, 200, 200),
    (Call("start_game", "GET", "app.js"), 200, 200, 200),
    (Call("play", "GET", "healthz"), 200, 200, 200),
    (Call("play", "GET", "metrics"), 200, 200, 200),
    (Call("play", "POST", "", game=True), 503, 200, 200),
    (Call("play", "POST", "play", game=True), 503, 200, 200),
    (Call("play", "POST", "", event=(MODEL_PROMOTED, {})), 200, 200, 200),
    (Call("play", "GET", "models"), 200, 200, 200),
    (Call("play", "POST", "reload"), 200, 200, 200),
    (Call("play", "GET", "predictions", game=True), 503, 200, 200),
    (Call("train", "GET", "healthz"), 200, 200, 200),
    (Call("train", "GET", "metrics"), 200, 200, 200),
    (Call("train", "POST", "", event=(TRAINING_REQUESTED, TRAIN_LOGISTIC)), 503, 503, 503),
    (Call("train", "POST", "", event=(TELEMETRY_REQUESTED, {"games": 1})), 503, 200, 200),
    (Call("train", "POST", "run", json=TRAIN_LOGISTIC), 503, 503, 503),
    (Call("train", "POST", "telemetry", json={"games": 1}), 503, 200, 200),
    (Call("promote", "GET", "healthz"), 200, 200, 200),
    (Call("promote", "GET", "metrics"), 200, 200, 200),
    (Call("promote", "POST", "", event=(TRAINING_COMPLETED, {})), 503, 503, 503),
    (Call("promote", "POST", "", event=(PROMOTION_REQUESTED, {})), 503, 503, 503),
    (Call("promote", "POST", "dead-letter", event=(TRAINING_REQUESTED, {})), 503, 200, 200),
    (Call("promote", "POST", "run", json={}), 503, 503, 503),
    (Call("promote", "POST", "promote", json={"family": "logistic"}), 503, 503, 503),
    (Call("promote", "POST", "gc", json={"dry_run": True}), 503, 503, 503),
    (Call("promote", "POST", "", event=(RETENTION_REQUESTED, {"dry_run": True})), 503, 503, 503),
    (Call("promote", "GET", "promotions"), 503, 200, 200),
    (Call("promote", "GET", "aliases"), 503, 503, 200),
    (Call("promote", "GET", "dead-letters"), 503, 200, 200),
    (Call("promote", "POST", "dead-letters/replay", json={"id": 999999}), 503, 404, 404),
]
MATRIX = [
    pytest.param(
        dependency,
        call,
        statuses[index],
        id=f"{dependency} down: {call}",
        # The store and MLflow cases serve models from a real training cycle.
        marks=[pytest.mark.slow] if dependency != "database" else [],
    )
    for index, dependency in enumerate(DEPENDENCIES)
    for call, *statuses in ROUTES
]


@pytest.fixture(scope="module")
def database_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every function pointed at a PostgreSQL URL whose port refuses connections."""
    project = tmp_path_factory.mktemp("database-down")
    url = f"postgresql+psycopg://postgres@{closed_address()}/rps"
    with servers(project) as start:
        stack = launch_all(start, project, RPS_DATABASE_URL=url)
        stack.games = False
        yield stack


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3(tmp_path_factory.mktemp("weed")) as server:
        yield server


@pytest.fixture(scope="module")
def store_down(s3: S3Server, trained_cycle, tmp_path_factory) -> Iterator[Stack]:
    """The trained models published to S3, feedforward loaded by play and the manifest read by
    start_game; then the S3 server stops, so its port refuses connections."""
    project = tmp_path_factory.mktemp("store-down")
    manifest = publish_copy(trained_cycle, project)
    copy_published(
        FolderStore(project / "var" / "models"), S3Store(BUCKET, "outage", s3.client()), manifest
    )
    # train gets a project of its own: its MLflow runs and versions stay out of the trained copy.
    trainer = tmp_path_factory.mktemp("store-down-train")
    with servers(project) as start:
        stack = launch_all(
            start,
            project,
            {"RPS_PROJECT_DIR": str(trainer), "RPS_MODEL_CONFIGS": smaller_configs_file(trainer)},
            RPS_MODEL_STORE=f"s3://{BUCKET}/outage",
            RPS_MANIFEST_CHECK_SECONDS="1",
            **s3.aws_env(),
        )
        stack.play(stack.new_game("brian"), 4)  # round 4 is an ML round: feedforward loads
        s3.stop()
        yield stack


@pytest.fixture(scope="module")
def mlflow_down(trained_cycle, tmp_path_factory) -> Iterator[Stack]:
    """The trained models published to a folder store; MLflow's URL refuses connections. One
    training.completed has been tried, so promote's ledger holds pending rows."""
    project = tmp_path_factory.mktemp("mlflow-down")
    publish_copy(trained_cycle, project)
    with servers(project) as start:
        stack = launch_all(start, project, MLFLOW_TRACKING_URI=f"http://{closed_address()}")
        tried = post_event(stack.url("promote"), TRAINING_COMPLETED, {}, "bootstrap-without-mlflow")
        assert tried.status_code == 503, tried.text
        yield stack


@contextmanager
def mlflow_server(address: str, var: Path, directory: Path) -> Iterator[Server]:
    """`mlflow server` on `address` over a project's migrated SQLite store; no job runner."""
    host, port = address.split(":")
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        f"--backend-store-uri=sqlite:///{var / 'mlflow.db'}",
        f"--artifacts-destination={directory / 'mlflow-artifacts'}",
        f"--host={host}",
        f"--port={port}",
        "--workers=1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = spawn(
        "mlflow", f"http://{address}/", command, directory, env, directory / "mlflow.log"
    )
    try:
        wait_healthy([server], timeout=120, path="health")
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(("dependency", "call", "status"), MATRIX)
def test_every_route_with_each_dependency_down(dependency, call, status, request):
    stack = request.getfixturevalue(f"{dependency}_down")

    response = call.send(stack)

    assert response.status_code == status, response.text[:1000]
    if status == 503:
        assert response.headers["Content-Type"] == "application/json"
        error = response.json()["error"]
        assert response.json() == {"error": {"code": "unavailable", "message": error["message"]}}
        assert error["message"]
        assert "Traceback" not in response.text


@pytest.mark.slow
@pytest.mark.parametrize("dependency", ["store", "mlflow"])
def test_play_serves_ml_rounds_from_its_last_good_models(dependency, request):
    stack = request.getfixturevalue(f"{dependency}_down")

    game = stack.new_game("brian")
    stack.play(game, 4)
    reloaded = requests.post(stack.url("play") + "reload", timeout=30)

    started, played, made = stored(stack.project, game["game_id"])
    assert started["assignment_id"] is not None  # from the manifest start_game read last
    assert played[3]["phase"] == "ml"
    assert {p["alias"] for p in made if p["round_no"] == 4} == ALIASES
    assert reloaded.status_code == 200
    loaded = {(m["family"], m["alias"]) for m in reloaded.json()["loaded"]}
    assert loaded >= {("feedforward", alias) for alias in ALIASES}
    if dependency == "store":
        assert "Could not connect to the endpoint URL" in reloaded.json()["last_error"]


@pytest.mark.slow
def test_the_same_processes_recover_when_the_store_returns(store_down, s3):
    train, promote = store_down.url("train"), store_down.url("promote")
    refused = post_event(train, TRAINING_REQUESTED, TRAIN_LOGISTIC, "train-in-store-outage")
    unpromoted = post_event(promote, TRAINING_COMPLETED, {}, "completed-in-store-outage")

    s3.start()
    trained = post_event(train, TRAINING_REQUESTED, TRAIN_LOGISTIC, "train-in-store-outage")
    promoted = post_event(promote, TRAINING_COMPLETED, {}, "completed-in-store-outage")
    aliases = requests.get(promote + "aliases", timeout=30)
    game = store_down.new_game("logan")  # logistic: never loaded before the outage
    store_down.play(game, 4)

    assert (refused.status_code, unpromoted.status_code) == (503, 503)
    assert trained.status_code == 200, trained.text
    reply = from_http(dict(trained.headers), trained.content)
    assert reply["type"] == TRAINING_COMPLETED
    assert reply.data["status"] == "success"  # the redelivery did the work
    assert set(reply.data["models"]["logistic"]) == ALIASES
    assert promoted.status_code == 200, promoted.text
    assert aliases.status_code == 200
    assert len(aliases.json()["aliases"]) == 12
    _, played, _ = stored(store_down.project, game["game_id"])
    assert played[3]["phase"] == "ml"  # play loaded logistic from the store once it was back


@pytest.mark.slow
def test_a_cycle_while_mlflow_is_down_is_retried_not_recorded(mlflow_down):
    train = mlflow_down.url("train")

    first = post_event(train, TRAINING_REQUESTED, TRAIN_LOGISTIC, "train-without-mlflow")
    redelivered = post_event(train, TRAINING_REQUESTED, TRAIN_LOGISTIC, "train-without-mlflow")

    # A stored failure would come back as a 200 reply, a held lease as a 200 without one.
    assert (first.status_code, redelivered.status_code) == (503, 503)
    assert redelivered.json()["error"]["code"] == "unavailable"


def pending_rows(stack: Stack) -> list[dict[str, Any]]:
    ledger = requests.get(stack.url("promote") + "promotions", timeout=30).json()["promotions"]
    return [row for row in ledger if row["state"] == "pending"]


@pytest.mark.slow
def test_promotion_stays_pending_until_mlflow_returns(mlflow_down, tmp_path):
    promote, uri = mlflow_down.url("promote"), mlflow_down.env["MLFLOW_TRACKING_URI"]
    manifest = FolderStore(mlflow_down.project / "var" / "models").read_manifest()
    assert manifest is not None
    intended = {
        family: {alias: entry["version"] for alias, entry in aliases.items()}
        for family, aliases in manifest["models"].items()
    }

    refused = post_event(promote, PROMOTION_REQUESTED, {}, "promotion-without-mlflow")
    pending = pending_rows(mlflow_down)
    with mlflow_server(uri.removeprefix("http://"), mlflow_down.project / "var", tmp_path):
        promoted = post_event(promote, PROMOTION_REQUESTED, {}, "promotion-without-mlflow")
        in_mlflow = current_aliases(
            Settings.from_env({**mlflow_down.env, "MLFLOW_TRACKING_URI": uri})
        )

    assert refused.status_code == 503
    assert {row["family"] for row in pending} == {"feedforward", "xgboost", "logistic"}
    assert promoted.status_code == 200, promoted.text
    assert pending_rows(mlflow_down) == []  # rolled forward by the redelivery (§9.3)
    assert in_mlflow == intended  # MLflow's aliases moved once it was back


def _rename_database(old: str, new: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{old}" RENAME TO "{new}"'))
    admin.dispose()


class LateDatabase:
    """A database on the PostgreSQL server that the functions cannot reach until `create()`:
    fresh_database's own, renamed away until then."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = str(make_url(url).database)
        self.hidden = f"{self.name}_later"
        self.created = False
        _rename_database(self.name, self.hidden)

    def create(self) -> None:
        _rename_database(self.hidden, self.name)
        self.created = True


@pytest.fixture
def late_database(tmp_path: Path) -> Iterator[LateDatabase]:
    with fresh_database("postgresql", tmp_path) as url:
        database = LateDatabase(url)
        try:
            yield database
        finally:
            if not database.created:
                database.create()  # so that fresh_database finds it to drop


@pytest.mark.postgres
def test_every_function_recovers_when_its_database_appears(late_database, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    with servers(project) as start:
        stack = launch_all(start, project, RPS_DATABASE_URL=late_database.url)
        calls = [
            Call("start_game", "POST", "", json={"policy": "ace"}),
            Call("play", "POST", "play", json={**MADE_UP_GAME, "move": "rock"}),
            Call("train", "POST", "telemetry", json={"games": 1}),
            Call("promote", "GET", "promotions"),
        ]
        before = [call.send(stack).status_code for call in calls]

        late_database.create()
        after = [call.send(stack).status_code for call in calls]
        game = stack.new_game("ace")
        stack.play(game, 1)

    assert before == [503, 503, 503, 503]
    assert after == [201, 404, 200, 200]  # 404: play reaches the database: no such game
