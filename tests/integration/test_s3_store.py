"""The model store contract against real S3: SeaweedFS's `weed mini` on loopback ports."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from rpsquest.modelstore import ModelStore, S3Store, StoreError, open_store
from tests.integration.conftest import launch_platform, models_of, play_rounds, stored
from tests.seaweedfs import BUCKET, S3Server, copy_published, running_s3
from tests.training_fixture import publish_copy
from tests.unit.test_modelstore import MANIFEST, ONNX_A, StoreContract


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One `weed mini` for the module."""
    with running_s3(tmp_path_factory.mktemp("weed")) as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The standard AWS variables a pod gets, pointing at the test server."""
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
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
    copy_published(open_store(tmp_path / "var" / "models"), s3, manifest)

    start_game, play = launch_platform(
        launch,
        tmp_path,
        RPS_MODEL_STORE=location,
        RPS_MANIFEST_CHECK_SECONDS="1",
        **s3_env.aws_env(),
    )
    game_id, _ = play_rounds(start_game, play, 5, policy="logan")
    s3.write_manifest({**manifest, "manifest_version": manifest["manifest_version"] + 1})
    time.sleep(1.2)
    play_rounds(start_game, play, 4, policy="logan")

    _, played, made = stored(tmp_path, game_id)
    assert [r["phase"] for r in played[3:]] == ["ml", "ml"]
    assert len(made) == 8
    assert models_of(play)["manifest_version"] == manifest["manifest_version"] + 1
