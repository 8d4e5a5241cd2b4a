"""Retention on the production profile's backends: the model store on S3 (SeaweedFS) and a real
`mlflow server` started as its Deployment starts it, artifacts proxied into S3. Three training
cycles leave feedforward versions nothing references; promote's POST /gc plans and deletes
them, and play's loader still loads every model the manifest names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudevents.conversion import to_binary

from rpsquest.backends import mlflow_command
from rpsquest.config import Settings
from rpsquest.events import TRAINING_COMPLETED, new_event
from rpsquest.features import PROBE_VECTOR
from rpsquest.game.policies import ALIASES
from rpsquest.kustomize import container, container_env, find, render
from rpsquest.manifest import read_manifest
from rpsquest.modelstore import ARTIFACTS, ModelStore, open_store
from rpsquest.processes import Server, free_port, spawn, wait_healthy
from rpsquest.registry import connect, registered_versions
from rpsquest.serving import AliasPrediction, ServingModels
from rpsquest.store.database import migrate, open_engine
from rpsquest.training.cycle import run_cycle
from tests.conftest import REPO
from tests.integration.conftest import servers
from tests.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY, S3Server, running_s3
from tests.training_fixture import project_env, smaller_configs, smaller_configs_file

pytestmark = pytest.mark.slow


@contextmanager
def mlflow_deployment(s3: S3Server, directory: Path) -> Iterator[Server]:
    """`mlflow server` with the k3s Deployment's command and environment, on loopback: SQLite
    instead of its PostgreSQL backend, artifacts proxied into `s3://mlflow` on `s3`."""
    documents = render(REPO / "knative" / "overlays" / "k3s")
    deployment = find(documents, "Deployment", "mlflow")
    secrets = {
        "rps-secrets": {"mlflow-database-url": f"sqlite:///{directory / 'mlflow.db'}"},
        "rps-s3": {"access-key-id": ACCESS_KEY, "secret-access-key": SECRET_KEY},
    }
    env = container_env(container(deployment), documents, secrets) | {
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    s3.client().create_bucket(Bucket="mlflow")
    port = free_port()
    env["MLFLOW_SERVER_ALLOWED_HOSTS"] = f"127.0.0.1:{port}"  # the cluster's names are not ours
    # One worker starts in seconds; uvicorn's default four take half a minute on two cores.
    command = [*mlflow_command(deployment, env, port), "--workers=1"]
    server = spawn(
        "mlflow", f"http://127.0.0.1:{port}/", command, directory, env, directory / "mlflow.log"
    )
    try:
        wait_healthy([server], timeout=120, path="health")
        yield server
    finally:
        server.stop()


@dataclass
class Stack:
    """promote as a real server over S3 and MLflow, and the environment it was started with."""

    root: Path
    env: dict[str, str]
    store: ModelStore
    promote: Server
    cycles: list[dict[str, dict[str, Any]]]  # each cycle's training.completed models

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def train(self, families: list[str] | None = None) -> None:
        """One cycle in this process, as train runs it: artifacts to S3, runs to MLflow."""
        database = open_engine(self.settings.database_url)
        migrate(database)
        try:
            result = run_cycle(
                self.settings,
                database,
                self.store,
                smaller_configs(),
                force=True,
                families=families,
            )
        finally:
            database.dispose()
        assert result is not None and result.status == "success", result
        self.cycles.append(result.models)

    def refresh(self, event_id: str) -> None:
        """training.completed to promote: its aliases move to each lineage's newest version."""
        headers, body = to_binary(new_event("train", TRAINING_COMPLETED, {}, "cycle", event_id))
        reply = requests.post(self.promote.url, data=body, headers=headers, timeout=120)
        assert reply.status_code == 200, reply.text

    def gc(self, **body: Any) -> dict[str, Any]:
        reply = requests.post(self.promote.url + "gc", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def versions(self, cycle: int, family: str) -> set[tuple[str, int]]:
        return {(family, entry["version"]) for entry in self.cycles[cycle][family].values()}

    def artifacts(self, cycle: int, family: str) -> set[str]:
        return {entry["artifact"] for entry in self.cycles[cycle][family].values()}

    def run_ids(self, cycle: int, family: str) -> set[str]:
        return {entry["run_id"] for entry in self.cycles[cycle][family].values()}

    def trained_by_alias(self, cycle: int) -> dict[tuple[str, str], int]:
        return {
            (family, alias): entry["version"]
            for family, aliases in self.cycles[cycle].items()
            for alias, entry in aliases.items()
        }

    def in_mlflow(self) -> set[tuple[str, int]]:
        return {(v.family, v.version) for v in registered_versions(self.settings)}

    def served(self, cache_dir: Path) -> dict[tuple[str, str], int]:
        """What play's loader loads from the manifest, with an empty cache so that every
        artifact comes from S3: every alias of every family there must answer."""
        settings = Settings.from_env({**self.env, "RPS_PROJECT_DIR": str(cache_dir)})
        models = ServingModels(settings, open_store(settings.model_store))
        assert models.check_manifest(force=True)
        manifest = read_manifest(self.store)
        assert manifest is not None
        for family in (family for family, aliases in manifest.models.items() if aliases):
            answers = models.predict(family, PROBE_VECTOR)
            assert set(answers) == set(ALIASES)
            assert all(isinstance(a, AliasPrediction) for a in answers.values()), answers
        status = models.status()
        assert status["last_error"] is None
        return {(m["family"], m["alias"]): m["version"] for m in status["loaded"]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Three cycles of the four feedforward lineages (one family keeps the test short;
    retention treats every family alike): promote publishes cycle 0's, cycle 2's are the
    newest, and with one newest version kept, cycle 1's are referenced by nothing."""
    root = tmp_path_factory.mktemp("retention")
    with (
        running_s3(root / "weed") as s3,
        mlflow_deployment(s3, root) as mlflow,
        pytest.MonkeyPatch.context() as patch,
        servers(root) as start,
    ):
        for name, value in s3.aws_env().items():  # boto3 in this process: training's uploads
            patch.setenv(name, value)
        env = {
            **project_env(root),
            **s3.aws_env(),
            "RPS_MODEL_STORE": f"s3://{BUCKET}/serving",
            "MLFLOW_TRACKING_URI": mlflow.url.rstrip("/"),
            "RPS_MODEL_CONFIGS": smaller_configs_file(root),
            "RPS_RETENTION_VERSIONS": "1",
            "RPS_TRAIN_ARENA_SESSIONS": "0",  # no strength checks: retention needs none
            "K_SINK": f"http://127.0.0.1:{free_port()}/",  # no broker
        }
        stack = Stack(root, env, open_store(env["RPS_MODEL_STORE"]), start("promote", **env), [])
        for cycle in range(3):
            stack.train(["feedforward"])
            if cycle == 0:
                stack.refresh("bootstrap")
        yield stack


def test_a_dry_run_plans_what_nothing_references_and_changes_nothing(stack):
    stored, registered = stack.store.keys(ARTIFACTS), stack.in_mlflow()

    plan = stack.gc(dry_run=True)

    doomed = stack.versions(1, "feedforward")
    assert plan["dry_run"] is True
    assert {(v["family"], v["version"]) for v in plan["versions"] if not v["keep"]} == doomed
    assert {a["key"] for a in plan["artifacts"] if not a["keep"]} == stack.artifacts(
        1, "feedforward"
    )
    for version in plan["versions"]:
        if (version["family"], version["version"]) in stack.versions(0, "feedforward"):
            assert any(reason.startswith("manifest 1: ") for reason in version["reasons"])
    assert stack.store.keys(ARTIFACTS) == stored
    assert stack.in_mlflow() == registered


def test_gc_deletes_from_s3_and_mlflow_and_every_served_model_still_loads(stack):
    assert len(stack.artifacts(1, "feedforward")) == 4  # four distinct models to delete
    before = stack.store.keys(ARTIFACTS)

    plan = stack.gc()

    assert plan["dry_run"] is False
    assert plan["deleted"] == {"versions": 4, "artifacts": 4}
    assert set(stack.store.keys(ARTIFACTS)) == set(before) - stack.artifacts(1, "feedforward")
    assert stack.versions(1, "feedforward").isdisjoint(stack.in_mlflow())
    client = connect(stack.settings)
    for run_id in stack.run_ids(1, "feedforward"):
        assert client.get_run(run_id).info.lifecycle_stage == "deleted"  # for `mlflow gc`
    assert stack.served(stack.root / "play-1") == stack.trained_by_alias(0)
    assert stack.gc()["deleted"] == {"versions": 0, "artifacts": 0}  # nothing left to do

    # A refresh moves feedforward's aliases to cycle 2; cycle 0's are then unreferenced.
    stack.refresh("after-gc")
    again = stack.gc()

    assert again["deleted"] == {"versions": 4, "artifacts": 4}
    assert stack.versions(0, "feedforward").isdisjoint(stack.in_mlflow())
    served = stack.served(stack.root / "play-2")
    assert served == stack.trained_by_alias(0) | stack.trained_by_alias(2)
