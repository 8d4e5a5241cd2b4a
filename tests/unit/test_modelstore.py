import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rpsquest.errors import Unavailable
from rpsquest.modelstore import (
    ARTIFACTS,
    ArtifactMissing,
    FolderStore,
    ModelStore,
    S3Store,
    StoreError,
    open_store,
)
from rpsquest.processes import free_port

ONNX_A = b"\x08\x07onnx graph A"
ONNX_B = b"\x08\x07onnx graph B, a different model"
MANIFEST = {"schema": 1, "manifest_version": 1, "feature_contract": "rps50-v3", "models": {}}


class StoreContract:
    """What every model store must do; subclasses provide the `store` fixture."""

    def test_put_artifact_names_it_by_family_config_and_content_hash(self, store: ModelStore):
        key, sha256 = store.put_artifact("feedforward", "ffnn_c04", ONNX_A)

        assert sha256 == hashlib.sha256(ONNX_A).hexdigest()
        assert key == f"artifacts/feedforward/ffnn_c04/{sha256}.onnx"
        assert store.read(key) == ONNX_A
        assert store.exists(key)

    def test_putting_the_same_artifact_again_keeps_the_one_stored(self, store: ModelStore):
        first = store.put_artifact("xgboost", "xgb_c07", ONNX_A)

        second = store.put_artifact("xgboost", "xgb_c07", ONNX_A)

        assert second == first
        assert store.read(first[0]) == ONNX_A

    def test_a_new_model_gets_a_new_key_and_the_old_stays_readable(self, store: ModelStore):
        old_key, _ = store.put_artifact("logistic", "mn_c06", ONNX_A)

        new_key, _ = store.put_artifact("logistic", "mn_c06", ONNX_B)

        assert new_key != old_key
        assert store.read(old_key) == ONNX_A
        assert store.read(new_key) == ONNX_B

    def test_reading_a_missing_artifact_names_the_key(self, store: ModelStore):
        key = "artifacts/feedforward/ffnn_c04/" + "0" * 64 + ".onnx"

        with pytest.raises(ArtifactMissing, match=f"{key} is missing from the model store") as info:
            store.read(key)

        assert info.value.key == key
        assert not store.exists(key)

    def test_without_a_manifest_there_is_neither_manifest_nor_tag(self, store: ModelStore):
        assert store.read_manifest() is None
        assert store.manifest_tag() is None

    def test_a_written_manifest_reads_back_with_a_tag(self, store: ModelStore):
        store.write_manifest(MANIFEST)

        assert store.read_manifest() == MANIFEST
        assert store.manifest_tag() is not None

    def test_replacing_the_manifest_changes_its_tag(self, store: ModelStore):
        store.write_manifest(MANIFEST)
        before = store.manifest_tag()

        store.write_manifest({**MANIFEST, "manifest_version": 2})

        assert store.manifest_tag() != before
        assert store.read_manifest() == {**MANIFEST, "manifest_version": 2}

    def test_the_tag_stays_put_while_the_manifest_does(self, store: ModelStore):
        store.write_manifest(MANIFEST)

        assert store.manifest_tag() == store.manifest_tag()

    def test_the_artifacts_folder_lists_every_artifact_and_not_the_manifest(
        self, store: ModelStore
    ):
        first, _ = store.put_artifact("xgboost", "xgb_c07", ONNX_A)
        second, _ = store.put_artifact("feedforward", "ffnn_c04", ONNX_B)
        store.write_manifest(MANIFEST)

        assert store.keys(ARTIFACTS) == sorted([first, second])

    def test_an_empty_store_lists_no_artifacts(self, store: ModelStore):
        assert store.keys(ARTIFACTS) == []

    def test_a_deleted_artifact_is_gone_and_its_neighbours_stay(self, store: ModelStore):
        doomed, _ = store.put_artifact("logistic", "mn_c06", ONNX_A)
        kept, _ = store.put_artifact("logistic", "mn_c06", ONNX_B)

        store.delete(doomed)

        assert not store.exists(doomed)
        assert store.keys(ARTIFACTS) == [kept]
        assert store.read(kept) == ONNX_B

    def test_deleting_a_missing_key_is_no_error(self, store: ModelStore):
        store.delete("artifacts/feedforward/ffnn_c04/" + "0" * 64 + ".onnx")

        assert store.keys(ARTIFACTS) == []

    @pytest.mark.parametrize("key", ["../manifest.json", "/etc/passwd", "a//b", "a/./b", ""])
    def test_keys_that_could_leave_the_store_are_refused(self, store: ModelStore, key: str):
        with pytest.raises(ValueError, match="invalid model store key"):
            store.read(key)

    @pytest.mark.parametrize(("family", "config_id"), [("../x", "c1"), ("feedforward", "a/b")])
    def test_names_that_are_not_plain_are_refused(self, store: ModelStore, family, config_id):
        with pytest.raises(ValueError, match="cannot be part of an artifact key"):
            store.put_artifact(family, config_id, ONNX_A)


class TestFolderStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ModelStore:
        return open_store(tmp_path / "models")


def test_a_folder_store_leaves_no_temporary_files(tmp_path: Path):
    store = open_store(tmp_path)
    key, _ = store.put_artifact("feedforward", "ffnn_c04", ONNX_A)

    store.write_manifest(MANIFEST)
    store.write_manifest({**MANIFEST, "manifest_version": 2})

    files = sorted(
        str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()
    )
    assert files == sorted([key, "manifest.json"])


def test_a_folder_store_lists_no_write_in_progress(tmp_path: Path):
    store = open_store(tmp_path)
    key, _ = store.put_artifact("feedforward", "ffnn_c04", ONNX_A)
    (tmp_path / key).with_name(".partial.onnx.x1y2").write_bytes(b"half")  # as mkstemp names it

    assert store.keys(ARTIFACTS) == [key]


def test_a_failed_manifest_write_keeps_the_old_manifest(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    store.write_manifest(MANIFEST)

    def crash(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StoreError, match=r"cannot write manifest.json to .*No space left"):
        store.write_manifest({**MANIFEST, "manifest_version": 2})

    assert store.read_manifest() == MANIFEST
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]


def test_the_folder_tag_changes_even_for_a_same_size_rewrite(tmp_path: Path):
    store = open_store(tmp_path)
    store.write_manifest({**MANIFEST, "manifest_version": 1})
    before = store.manifest_tag()

    store.write_manifest({**MANIFEST, "manifest_version": 2})  # same length, same mtime tick

    assert store.manifest_tag() != before


def test_a_corrupt_artifact_is_rewritten(tmp_path: Path):
    store = open_store(tmp_path)
    key, _ = store.put_artifact("feedforward", "ffnn_c04", ONNX_A)
    (tmp_path / key).write_bytes(b"truncated")

    store.put_artifact("feedforward", "ffnn_c04", ONNX_A)

    assert store.read(key) == ONNX_A


def test_a_manifest_that_is_not_json_is_a_store_error(tmp_path: Path):
    (tmp_path / "manifest.json").write_text('{"schema": 1, "models": {')

    with pytest.raises(StoreError, match=r"manifest.json is not valid JSON"):
        open_store(tmp_path).read_manifest()


def test_a_manifest_that_is_not_an_object_is_a_store_error(tmp_path: Path):
    (tmp_path / "manifest.json").write_text("[1, 2]")

    with pytest.raises(StoreError, match=r"manifest.json is not a JSON object"):
        open_store(tmp_path).read_manifest()


def test_open_store_reads_a_folder_or_an_s3_url(tmp_path: Path):
    folder = open_store(str(tmp_path))
    s3 = open_store("s3://models/rps/prod/")
    bare = open_store("s3://models")

    assert isinstance(folder, FolderStore)
    assert folder.root == tmp_path
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.url) == ("models", "rps/prod", "s3://models/rps/prod")
    assert (bare.bucket, bare.prefix) == ("models", "")


@pytest.mark.parametrize(
    ("location", "message"),
    [("s3://", "names no bucket"), ("https://example.com/models", "use a folder or s3://")],
)
def test_open_store_refuses_other_urls(location: str, message: str):
    with pytest.raises(ValueError, match=message):
        open_store(location)


def test_a_folder_store_does_not_import_boto3(tmp_path: Path):
    code = (
        "import sys\n"
        "from rpsquest.modelstore import open_store\n"
        f"store = open_store({str(tmp_path)!r})\n"
        "store.write_manifest({'schema': 1})\n"
        "assert store.read_manifest() == {'schema': 1}\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"


def test_an_unreachable_s3_endpoint_is_a_store_error_that_routes_answer_503(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "rps-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "rps-test-secret")
    store = open_store("s3://rps-models/outage")

    with pytest.raises(StoreError, match=r"cannot stat manifest.json .*Could not connect") as tag:
        store.manifest_tag()
    with pytest.raises(StoreError, match=r"cannot read manifest.json .*Could not connect"):
        store.read_manifest()
    with pytest.raises(StoreError, match=r"cannot read artifacts/logistic/mn_c06/"):
        store.put_artifact("logistic", "mn_c06", ONNX_A)

    assert isinstance(tag.value, Unavailable)
    assert (tag.value.status, tag.value.code) == (503, "unavailable")
