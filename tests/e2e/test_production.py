"""The production profile, run for real: a fresh PostgreSQL database, an empty S3 server, a
fresh MLflow tracking server, and each function started from its staged image tree with the
environment its ksvc gets. From empty, one training.requested must train and publish the 12
models from the packaged corpus; then the loop runs through games, a promotion and a reload,
and the S3 and MLflow servers fail under it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select

from rpsquest.client import Client
from rpsquest.events import PROMOTION_REQUESTED, TRAINING_REQUESTED, new_event
from rpsquest.images import FUNCTIONS
from rpsquest.kustomize import (
    KNATIVE_RUNTIME_ENV,
    OVERLAY,
    SINK_ENV,
    container,
    find,
    ksvc_name,
    render,
)
from rpsquest.production import Production, throwaway
from rpsquest.registry import REGISTERED_MODELS
from rpsquest.store.games import utc_now
from rpsquest.store.schema import games, promotion_ledger, rounds
from tests.conftest import REPO
from tests.e2e.conftest import BLIND, publish
from tests.helpers import wait_for
from tests.training_fixture import SMALLER

# Each test trains models on two cores; on a busy machine that is minutes, not seconds.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

ALIASES = ("Production", "B", "shadow1", "shadow2")
# Container basics every image has (PATH, HOME from the image's user) are not the ksvc's, nor
# PYTHONPATH: the image's site-packages, which locally is a folder beside the staged tree.
CONTAINER_BASICS = {"PATH", "HOME", "PYTHONPATH"}


def _configs(directory: Path) -> Path:
    """The repo's configs, smaller, with logistic's Production nearly blind (see e2e conftest)."""
    document = json.loads((REPO / "configs" / "model_configs.json").read_text())
    for config in document["configs"].values():
        config.update(SMALLER[config["family"]])
    document["configs"]["mn_c06"].update(BLIND)
    path = directory / "configs.json"
    path.write_text(json.dumps(document))
    return path


class Stack:
    """The running production profile and the handles the tests use."""

    def __init__(self, production: Production) -> None:
        self.production = production
        self.admin = {"Authorization": f"Bearer {production.admin_token}"}

    def url(self, name: str) -> str:
        return self.production.url(name)

    def server(self, name: str):
        (found,) = [s for s in self.production.servers if s.name == name]
        return found

    def database_url(self) -> str:
        return self.production.environments["play"]["RPS_DATABASE_URL"]

    def mlflow(self, path: str, **params: str) -> dict:
        reply = requests.get(self.production.mlflow_url + path, params=params, timeout=30)
        reply.raise_for_status()
        return reply.json()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The production profile on free ports, from empty: its own databases on the machine's
    PostgreSQL, a fresh S3 data folder and MLflow server; smaller model configs and a smaller
    bootstrap so training takes seconds; promotion after 5 games."""
    directory = tmp_path_factory.mktemp("production")
    overrides = {
        "RPS_MODEL_CONFIGS": str(_configs(directory)),
        "RPS_TRAIN_BOOTSTRAP_ROUNDS": "800",
        "RPS_PROMOTION_MIN_GAMES": "5",
        # the promotion under test must find the blind Production model, which the
        # adaptive policy's online experts would hide (docs/policy.md)
        "RPS_ADAPTIVE_POLICY": "false",
    }
    # train's Trigger retries after 10 s and 30 s: three times that gives a restarted MLflow
    # server on a busy machine time to come back before the retries run out
    with throwaway(REPO, directory, overrides, broker_options=("--time-scale", "3")) as production:
        yield Stack(production)


def _phases_since(stack: Stack, since: str) -> set[str]:
    """The phases of the rounds after the gambit in games started after `since`."""
    engine = create_engine(stack.database_url())
    started = select(games.c.id).where(games.c.created_at > since)
    with engine.connect() as connection:
        phases = connection.execute(
            select(rounds.c.phase).where(rounds.c.game_id.in_(started), rounds.c.round_no > 3)
        ).scalars()
        found = set(phases)
    engine.dispose()
    return found


def test_every_function_gets_the_environment_its_ksvc_gets(stack):
    documents = render(REPO / OVERLAY)
    config = find(documents, "ConfigMap", "rps-config")["data"]

    for name in FUNCTIONS:
        ksvc = find(
            (d for d in documents if d["apiVersion"].startswith("serving")),
            "Service",
            ksvc_name(name),
        )
        spec = container(ksvc)
        expected = {e["name"] for e in spec["env"]} | set(config) | {SINK_ENV, *KNATIVE_RUNTIME_ENV}
        pid = stack.server(name).process.pid
        environ = dict(
            entry.split("=", 1)
            for entry in Path(f"/proc/{pid}/environ").read_text().split("\0")
            if entry
        )
        image_env = set(stack.production.staged[name].recipe.env)
        knobs = set(stack.production.overrides)  # the test's own, on top

        assert set(environ) - image_env - CONTAINER_BASICS - knobs == expected - knobs, name
        for key, value in config.items():
            if key not in knobs:  # the same value, or only its cluster host names rewritten
                assert environ[key] == value or ".rps-quest." in value, (name, key)


def test_from_empty_one_training_request_publishes_twelve_models_and_the_loop_runs(stack):
    play = stack.url("play")
    client = Client(stack.url("start_game"))
    started = time.perf_counter()
    for _ in range(30):  # before any model: the fallback bot plays, the rounds become data
        client.play_game("cal", "logan")

    publish(stack.server("devbroker"), new_event("admin", TRAINING_REQUESTED, {}, "e2e", "boot-1"))
    wait_for(lambda: serving_with(stack, play)[0] == 1, 600, "the first manifest")
    trained = time.perf_counter() - started

    for model in REGISTERED_MODELS.values():
        registered = stack.mlflow("api/2.0/mlflow/registered-models/get", name=model)
        aliases = {a["alias"] for a in registered["registered_model"]["aliases"]}
        assert aliases == set(ALIASES), model
    objects = stack.production.s3().list_objects_v2(Bucket="rps-models")["Contents"]
    artifacts = [o["Key"] for o in objects if o["Key"].endswith(".onnx")]
    assert len(artifacts) == 12
    assert any(o["Key"] == "serving/manifest.json" for o in objects)
    assert stack.production.s3().list_objects_v2(Bucket="mlflow").get("KeyCount", 0) > 0

    since = utc_now()
    for _ in range(25):
        client.play_game("cal", "logan")
    assert _phases_since(stack, since) == {"ml"}

    aliases = {
        row["alias"]: row for row in _alias_table(stack)["aliases"] if row["family"] == "logistic"
    }
    old_production, old_b = aliases["Production"]["version"], aliases["B"]["version"]
    publish(stack.server("devbroker"), new_event("admin", PROMOTION_REQUESTED, {}, "e2e", "p-1"))
    _, loaded = wait_for(
        lambda: (s := serving_with(stack, play))[0] == 2 and s, 120, "the promotion served"
    )
    assert (loaded[("logistic", "Production")], loaded[("logistic", "B")]) == (
        old_b,
        old_production,
    )
    production = stack.mlflow(
        "api/2.0/mlflow/registered-models/alias", name="rps_logistic", alias="Production"
    )
    assert int(production["model_version"]["version"]) == old_b
    print(
        f"\nproduction profile: empty → 12 models → 25 ML games → promotion served in "
        f"{time.perf_counter() - started:.1f} s (training and publishing {trained:.1f} s)"
    )


def serving_with(stack: Stack, play: str):
    status = requests.get(play + "models", headers=stack.admin, timeout=30).json()
    return status["manifest_version"], {
        (m["family"], m["alias"]): m["version"] for m in status["loaded"]
    }


def _start_games(stack: Stack, policies: list[str]) -> list[dict]:
    games_started = []
    for policy in policies:
        reply = requests.post(stack.url("start_game"), json={"policy": policy}, timeout=30)
        assert reply.status_code == 201, reply.text
        games_started.append(reply.json())
    return games_started


def _play(stack: Stack, game: dict, rounds: int | None, statuses: list[int]) -> bool:
    """Play `rounds` rounds of `game` (None: to the finish); True when it finished."""
    body = {"game_id": game["game_id"], "game_token": game["game_token"], "move": "rock"}
    played = 0
    while rounds is None or played < rounds:
        reply = requests.post(stack.url("play"), json=body, timeout=30)
        statuses.append(reply.status_code)
        played += 1
        if reply.status_code != 200 or reply.json()["finished"]:
            return reply.status_code == 200
    return False


def _unavailable(reply: requests.Response) -> bool:
    return (
        reply.status_code == 503
        and reply.headers["Content-Type"].startswith("application/json")
        and reply.json()["error"]["code"] == "unavailable"
    )


def test_with_s3_down_play_serves_every_ml_round_from_its_last_good_models(stack):
    since = utc_now()
    games_in_play = _start_games(stack, ["brian", "forrest", "logan"] * 2)
    statuses: list[int] = []
    for game in games_in_play:  # past the gambit: every family's models are loaded
        _play(stack, game, 4, statuses)

    stack.production.stop("s3")
    time.sleep(float(stack.production.environments["play"]["RPS_MANIFEST_CHECK_SECONDS"]) + 1)
    for game in games_in_play:  # a manifest check has met the outage by now
        _play(stack, game, None, statuses)
    run = _train_now(stack)
    stack.production.restart("s3")
    restarted = time.perf_counter()
    recovered = wait_for(  # a Response is truthy when it is a 2xx
        lambda: (reply := _train_now(stack)).ok and reply, 300, "a cycle after S3 returned", 2
    )
    recovery = time.perf_counter() - restarted

    assert [s for s in statuses if s >= 500] == []
    assert set(statuses) == {200}
    assert _phases_since(stack, since) == {"ml"}
    assert _unavailable(run), run.text
    assert recovered.json()["status"] == "success"
    print(
        f"\nS3 down: {len(statuses)} play requests, 0 x 5xx, every ML round served; "
        f"train /run → 503; a cycle succeeded {recovery:.1f} s after S3 restarted"
    )


def _train_now(stack: Stack) -> requests.Response:
    """An admin's training cycle on train, all families, new data or not."""
    return requests.post(
        stack.url("train") + "run", json={"force": True}, headers=stack.admin, timeout=300
    )


def _past_busy(send: Callable[[], requests.Response], timeout: float = 120) -> requests.Response:
    """The first answer that is not 429: an evaluation of an earlier event may hold the lease."""
    deadline = time.monotonic() + timeout
    while (reply := send()).status_code == 429 and time.monotonic() < deadline:
        time.sleep(1)
    return reply


def _alias_table(stack: Stack) -> dict:
    reply = requests.get(stack.url("promote") + "aliases", headers=stack.admin, timeout=30)
    reply.raise_for_status()
    return reply.json()


def _published(stack: Stack) -> tuple[int, dict[tuple[str, str], int]]:
    """promote's manifest version and alias versions, for the families play has loaded."""
    table = _alias_table(stack)
    loaded = {f for f, _ in serving_with(stack, stack.url("play"))[1]}
    versions = {(r["family"], r["alias"]): r["version"] for r in table["aliases"]}
    return table["manifest_version"], {k: v for k, v in versions.items() if k[0] in loaded}


def _ledger_states(stack: Stack) -> set[str]:
    engine = create_engine(stack.database_url())
    with engine.connect() as connection:
        states = set(connection.execute(select(promotion_ledger.c.state)).scalars())
    engine.dispose()
    return states


def _registry_aliases(stack: Stack) -> dict[tuple[str, str], int]:
    found = {}
    for family, model in REGISTERED_MODELS.items():
        registered = stack.mlflow("api/2.0/mlflow/registered-models/get", name=model)
        for alias in registered["registered_model"]["aliases"]:
            found[(family, alias["alias"])] = int(alias["version"])
    return found


def test_with_mlflow_down_train_and_promote_answer_503_and_the_broker_retries(stack):
    play, promote = stack.url("play"), stack.url("promote")
    before = wait_for(  # settled: play serves what promote last published
        lambda: (
            (v := _alias_table(stack)["manifest_version"]) == serving_with(stack, play)[0] and v
        ),
        60,
        "play to serve the published manifest",
    )

    stack.production.stop("mlflow")
    run = _train_now(stack)
    swap = _past_busy(
        lambda: requests.post(
            promote + "promote", json={"family": "xgboost"}, headers=stack.admin, timeout=120
        )
    )
    request = new_event("admin", TRAINING_REQUESTED, {"force": True}, "e2e", "mlflow-down-1")
    publish(stack.server("devbroker"), request)
    time.sleep(3)  # its first delivery meets the outage; the Trigger retries after 30 s
    stack.production.restart("mlflow")
    restarted = time.perf_counter()
    version, loaded = wait_for(  # play reloads each family it serves, one after the other;
        # promote closes its ledger rows only after it has published the manifest
        lambda: (
            "pending" not in _ledger_states(stack)
            and (s := serving_with(stack, play))[0] > before
            and s == _published(stack)
            and s
        ),
        300,
        "play to serve the retried cycle's models, with no ledger row left pending",
    )
    recovery = time.perf_counter() - restarted
    table = _alias_table(stack)
    published = {(r["family"], r["alias"]): r["version"] for r in table["aliases"]}

    assert _unavailable(run), run.text
    assert _unavailable(swap), swap.text
    assert table["manifest_version"] == version
    assert _registry_aliases(stack) == published
    assert loaded.items() <= published.items()
    print(
        f"\nMLflow down: train /run and promote /promote → 503; training.requested retried "
        f"by the broker and served as manifest {version} {recovery:.1f} s after MLflow restarted"
    )
