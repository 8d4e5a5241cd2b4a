"""The serving manifest's typed contract (SPEC §8.2): what it accepts, what it refuses, and the
exact JSON it gives back."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rpsquest.manifest import Manifest, ManifestError, ModelEntry, read_manifest
from rpsquest.modelstore import FolderStore, StoreError

SHA = "ab" * 32
# §8.2's example, filled in: one family with two aliases, one empty family, one missing; each
# entry names the contract its model was trained on.
SPEC_EXAMPLE: dict[str, Any] = {
    "schema": 1,
    "manifest_version": 17,
    "feature_contract": "rps50-v3",
    "created_at": "2024-05-01T12:00:00.000Z",
    "ledger_ids": [41, 42],
    "models": {
        "feedforward": {
            "Production": {
                "version": 12,
                "config_id": "ffnn_c04",
                "assignment_id": 31,
                "artifact": f"artifacts/feedforward/ffnn_c04/{SHA}.onnx",
                "sha256": SHA,
                "probe": [0.41, 0.33, 0.26],
                "feature_contract": "rps50-v3",
            },
            "shadow2": {
                "version": 3,
                "config_id": "ffnn_c01",
                "assignment_id": 7,
                "artifact": f"artifacts/feedforward/ffnn_c01/{SHA}.onnx",
                "sha256": SHA,
                "probe": [0.2, 0.5, 0.3],
                "feature_contract": "rps50-v2",
            },
        },
        "xgboost": {},
    },
}


def changed(path: str, value: Any) -> dict[str, Any]:
    """SPEC_EXAMPLE with the field at dotted `path` set to `value` (or removed, for ...)."""
    document = copy.deepcopy(SPEC_EXAMPLE)
    *parents, key = path.split(".")
    target = document
    for parent in parents:
        target = target[parent]
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return document


def test_the_spec_example_loads_into_attributes():
    manifest = Manifest.from_json(SPEC_EXAMPLE)

    assert (manifest.manifest_version, manifest.feature_contract) == (17, "rps50-v3")
    assert manifest.created_at == "2024-05-01T12:00:00.000Z"
    assert manifest.ledger_ids == (41, 42)
    assert list(manifest.models) == ["feedforward", "xgboost"]
    assert manifest.entry("feedforward", "Production") == ModelEntry(
        version=12,
        config_id="ffnn_c04",
        assignment_id=31,
        artifact=f"artifacts/feedforward/ffnn_c04/{SHA}.onnx",
        sha256=SHA,
        probe=(0.41, 0.33, 0.26),
        feature_contract="rps50-v3",
    )
    assert manifest.entry("feedforward", "B") is None
    assert manifest.entry("logistic", "Production") is None


def test_the_store_writes_back_the_very_bytes_it_read(tmp_path: Path):
    original = json.dumps(SPEC_EXAMPLE, indent=1, allow_nan=False).encode() + b"\n"
    (tmp_path / "manifest.json").write_bytes(original)
    store = FolderStore(tmp_path)

    manifest = read_manifest(store)
    assert manifest is not None
    store.write_manifest(manifest.to_json())

    assert manifest.to_json() == SPEC_EXAMPLE
    assert (tmp_path / "manifest.json").read_bytes() == original


def test_families_and_aliases_come_back_in_canonical_order():
    document = changed("models", dict(reversed(SPEC_EXAMPLE["models"].items())))
    document["models"]["feedforward"] = dict(reversed(document["models"]["feedforward"].items()))

    models = Manifest.from_json(document).to_json()["models"]

    assert list(models) == ["feedforward", "xgboost"]
    assert list(models["feedforward"]) == ["Production", "shadow2"]


def test_a_minimal_hand_made_manifest_still_loads():
    manifest = Manifest.from_json(
        {"schema": 1, "manifest_version": 1, "feature_contract": "rps50-v3", "models": {}}
    )

    assert (manifest.created_at, manifest.ledger_ids, manifest.models) == (None, (), {})


def test_entries_written_before_they_named_a_contract_take_the_manifests():
    document = changed("feature_contract", "rps50-v2")
    for entry in document["models"]["feedforward"].values():
        del entry["feature_contract"]

    manifest = Manifest.from_json(document)

    assert manifest.feature_contract == "rps50-v2"  # another build's manifest loads
    assert {e.feature_contract for e in manifest.models["feedforward"].values()} == {"rps50-v2"}
    assert manifest.to_json()["models"]["feedforward"]["shadow2"]["feature_contract"] == "rps50-v2"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("schema", 2, "schema must be 1, got 2"),
        ("schema", True, "schema must be 1, got True"),
        ("schema", ..., "schema must be 1, got None"),
        ("manifest_version", "17", "manifest_version must be an integer, got '17'"),
        ("manifest_version", 17.0, "manifest_version must be an integer, got 17.0"),
        ("manifest_version", ..., "manifest_version must be an integer, got None"),
        ("feature_contract", 3, "feature_contract must be a string, got 3"),
        ("feature_contract", ..., "feature_contract must be a string, got None"),
        ("created_at", 1714564800, "created_at must be a string, got 1714564800"),
        ("ledger_ids", [41, "42"], "ledger_ids must be a list of integers"),
        ("models", [], "models must be an object, got []"),
        ("models", ..., "models must be an object, got None"),
        ("models.legacy", {}, "models: unknown family 'legacy'"),
        ("models.xgboost", [], "models.xgboost must be an object"),
        ("models.xgboost.champion", {}, "models.xgboost: unknown alias 'champion'"),
        ("models.feedforward.B", "v12", "models.feedforward.B must be an object"),
        (
            "models.feedforward.Production.version",
            "12",
            "models.feedforward.Production.version must be an integer, got '12'",
        ),
        ("models.feedforward.shadow2.version", ..., "shadow2.version must be an integer"),
        ("models.feedforward.Production.config_id", 4, "config_id must be a string, got 4"),
        ("models.feedforward.Production.assignment_id", None, "assignment_id must be an integer"),
        ("models.feedforward.Production.assignment_id", False, "assignment_id must be an integer"),
        ("models.feedforward.Production.artifact", None, "artifact must be a string"),
        ("models.feedforward.Production.sha256", ..., "sha256 must be a string"),
        ("models.feedforward.Production.probe", "0.41", "probe must be a list of numbers"),
        ("models.feedforward.Production.probe", [0.4, None, 0.6], "probe must be a list of num"),
        ("models.feedforward.Production.probe", [0.5, 0.5], "probe must have 3 values"),
        (
            "models.feedforward.Production.feature_contract",
            None,
            "models.feedforward.Production.feature_contract must be a string, got None",
        ),
    ],
)
def test_each_bad_field_is_refused_by_name(path: str, value: Any, message: str):
    with pytest.raises(ManifestError) as raised:
        Manifest.from_json(changed(path, value))

    assert message in str(raised.value)


def test_a_document_that_is_no_object_is_refused():
    with pytest.raises(ManifestError, match="the manifest must be an object"):
        Manifest.from_json([1, 2])


def test_a_stored_manifest_breaking_the_schema_is_a_store_error(tmp_path: Path):
    (tmp_path / "manifest.json").write_text(json.dumps(changed("schema", 2)))

    with pytest.raises(StoreError, match=r"manifest.json is not a valid manifest: schema must"):
        read_manifest(FolderStore(tmp_path))


def test_no_stored_manifest_is_none(tmp_path: Path):
    assert read_manifest(FolderStore(tmp_path)) is None
