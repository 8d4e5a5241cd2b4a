"""The play function's model bank against a real published store of twelve trained models."""

from __future__ import annotations

import json
import os
import threading

import pytest
from sqlalchemy import select

from rpsquest import metrics
from rpsquest.api import PlayRequest, StartGameRequest
from rpsquest.features import N_V2_FEATURES, PROBE_VECTOR
from rpsquest.game.bots import AliasPrediction, ModelUnavailable
from rpsquest.gameplay import Gameplay
from rpsquest.modelstore import FolderStore, open_store
from rpsquest.processes import free_port
from rpsquest.serving import RETRY_SECONDS, ServingModels
from rpsquest.store.schema import rounds
from tests.training_fixture import project_settings, publish_copy

pytestmark = pytest.mark.slow

EMPTY_MANIFEST = {"schema": 1, "manifest_version": 1, "feature_contract": "rps50-v3", "models": {}}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def published(trained_cycle, tmp_path):
    manifest = publish_copy(trained_cycle, tmp_path)
    settings = project_settings(tmp_path)
    return settings, open_store(settings.model_store), manifest


def bank(settings, store):
    clock = Clock()
    return ServingModels(settings, store, clock), clock


def republish(store, manifest, **changes):
    """Write the next manifest version, as promote would."""
    updated = {**manifest, "manifest_version": manifest["manifest_version"] + 1, **changes}
    store.write_manifest(updated)
    return updated


def test_a_family_loads_lazily_and_all_four_aliases_answer(published):
    settings, store, manifest = published
    models, _ = bank(settings, store)

    assert models.status()["loaded"] == []
    answers = models.predict("xgboost", PROBE_VECTOR)

    assert sorted(answers) == ["B", "Production", "shadow1", "shadow2"]
    assert all(isinstance(a, AliasPrediction) for a in answers.values())
    expected = manifest["models"]["xgboost"]["B"]
    assert answers["B"].version == expected["version"]
    assert answers["B"].probabilities == pytest.approx(expected["probe"], abs=1e-6)
    assert {m["family"] for m in models.status()["loaded"]} == {"xgboost"}
    assert (
        models.assignment_id("logistic", "shadow1")
        == (manifest["models"]["logistic"]["shadow1"]["assignment_id"])
    )


def test_a_load_is_timed_per_family_and_each_alias_reports_its_artifact_size(published):
    settings, store, manifest = published
    models, _ = bank(settings, store)
    loads = {"family": "logistic"}
    before = metrics.REGISTRY.get_sample_value("rps_model_load_duration_seconds_count", loads)

    models.predict("logistic", PROBE_VECTOR)

    after = metrics.REGISTRY.get_sample_value("rps_model_load_duration_seconds_count", loads)
    assert after == before + 1
    for alias, entry in manifest["models"]["logistic"].items():
        size = (store.root / entry["artifact"]).stat().st_size
        sample = {"family": "logistic", "alias": alias}
        assert metrics.REGISTRY.get_sample_value("rps_model_artifact_bytes", sample) == size


def unreachable() -> str:
    raise OSError("the model store is down")


def test_a_manifest_check_that_reads_the_store_is_timestamped_and_a_failed_one_is_not(
    published, monkeypatch
):
    settings, store, _ = published
    models, clock = bank(settings, store)
    metrics.MANIFEST_CHECKED.set(0)

    models.check_manifest()
    checked = metrics.REGISTRY.get_sample_value("rps_manifest_checked_timestamp_seconds")
    monkeypatch.setattr(store, "manifest_tag", unreachable)
    clock.now += settings.manifest_check_seconds
    models.check_manifest()

    assert checked > 0
    assert metrics.REGISTRY.get_sample_value("rps_manifest_checked_timestamp_seconds") == checked


def test_no_manifest_means_not_loaded(make_settings):
    models = ServingModels(make_settings())

    with pytest.raises(ModelUnavailable) as raised:
        models.predict("logistic", PROBE_VECTOR)

    assert raised.value.reason == "not_loaded"


def test_the_manifest_is_polled_at_most_every_few_seconds(published):
    settings, store, manifest = published
    models, clock = bank(settings, store)
    models.predict("logistic", PROBE_VECTOR)
    newer = republish(store, manifest)

    clock.now = settings.manifest_check_seconds - 0.1
    models.predict("logistic", PROBE_VECTOR)
    before = models.manifest_version
    clock.now = settings.manifest_check_seconds + 0.1
    models.predict("logistic", PROBE_VECTOR)

    assert before == manifest["manifest_version"]
    assert models.manifest_version == newer["manifest_version"]


def test_an_older_manifest_is_never_taken(published):
    settings, store, manifest = published
    models, _ = bank(settings, store)
    models.check_manifest(force=True)

    store.write_manifest({**manifest, "manifest_version": manifest["manifest_version"] - 1})

    assert not models.check_manifest(force=True)
    assert models.manifest_version == manifest["manifest_version"]


@pytest.mark.parametrize("damage", ["bytes", "probe", "contract"])
def test_a_bad_artifact_keeps_the_last_good_bundle(published, damage):
    settings, store, manifest = published
    models, clock = bank(settings, store)
    good = models.predict("feedforward", PROBE_VECTOR)
    entry = dict(manifest["models"]["feedforward"]["B"])
    if damage == "bytes":
        fake = "0" * 64
        entry["sha256"], entry["artifact"] = fake, f"artifacts/feedforward/x/{fake}.onnx"
        (store.root / entry["artifact"]).parent.mkdir(parents=True)
        (store.root / entry["artifact"]).write_bytes(b"not an onnx graph")
    elif damage == "probe":
        entry["probe"] = [0.9, 0.05, 0.05]
    else:
        entry["feature_contract"] = "rps50-v2"
    family = {**manifest["models"]["feedforward"], "B": entry}
    republish(store, manifest, models={**manifest["models"], "feedforward": family})

    models.check_manifest(force=True)
    clock.now += 1
    answers = models.predict("feedforward", PROBE_VECTOR)

    assert answers["B"].version == good["B"].version
    assert models.status()["last_error"]
    assert {m["version"] for m in models.status()["loaded"]} == {a.version for a in good.values()}


def test_a_corrupt_manifest_is_reported_and_ignored(published):
    settings, store, _ = published
    models, _ = bank(settings, store)
    models.predict("logistic", PROBE_VECTOR)

    (store.root / "manifest.json").write_text("{not json")

    assert not models.check_manifest(force=True)
    assert models.last_error
    assert models.predict("logistic", PROBE_VECTOR)["Production"].probabilities


def test_promoted_hints_are_taken_at_most_once_a_second(published):
    settings, store, manifest = published
    models, clock = bank(settings, store)
    models.on_promoted()
    newer = republish(store, manifest)

    models.on_promoted()
    unchanged = models.manifest_version
    clock.now += 1.0
    models.on_promoted()

    assert unchanged == manifest["manifest_version"]
    assert models.manifest_version == newer["manifest_version"]


def test_artifacts_are_cached_by_hash(published):
    settings, store, manifest = published
    models, _ = bank(settings, store)

    models.predict("logistic", PROBE_VECTOR)

    cached = sorted(p.name for p in (settings.var_dir / "cache").iterdir())
    expected = sorted(f"{e['sha256']}.onnx" for e in manifest["models"]["logistic"].values())
    assert cached == expected
    assert json.loads((store.root / "manifest.json").read_text()) == manifest


def failed_reloads(trigger: str = "poll") -> float:
    sample = {"trigger": trigger, "outcome": "failed"}
    return metrics.REGISTRY.get_sample_value("rps_model_reloads_total", sample) or 0.0


def v2_model() -> bytes:
    """A model of the previous contract: 50 features in, uniform probabilities out."""
    from onnx import TensorProto, helper

    zeros = helper.make_tensor("weights", TensorProto.FLOAT, [N_V2_FEATURES, 3], [0.0] * 150)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "rps50_v2",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, N_V2_FEATURES])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        [zeros],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)
    helper.set_model_props(model, {"feature_contract": "rps50-v2"})
    return model.SerializeToString()


# How a model of another contract reaches the manifest: (the entry's own contract field, the
# manifest's contract, what the refusal says).
OTHER_CONTRACT = {
    "named by its entry": ({"feature_contract": "rps50-v2"}, "rps50-v3", "the manifest names"),
    # a v2 build's manifest, whose entries name no contract of their own
    "in a v2 manifest": ({}, "rps50-v2", "the manifest names"),
    "named by its graph": ({}, "rps50-v3", "its ONNX metadata names"),
}


def store_with_v2_model(root, case):
    """A store whose manifest serves a 50-feature model as feedforward's Production."""
    entry_contract, manifest_contract, _ = OTHER_CONTRACT[case]
    store = FolderStore(root)
    artifact, sha256 = store.put_artifact("feedforward", "ffnn_c04", v2_model())
    entry = {
        "version": 1,
        "config_id": "ffnn_c04",
        "assignment_id": 1,
        "artifact": artifact,
        "sha256": sha256,
        "probe": [1 / 3] * 3,
        **entry_contract,
    }
    models = {"feedforward": {"Production": entry}}
    store.write_manifest(
        {**EMPTY_MANIFEST, "feature_contract": manifest_contract, "models": models}
    )
    return store


@pytest.mark.parametrize("case", list(OTHER_CONTRACT))
def test_a_model_of_another_feature_contract_is_refused_at_load(
    make_settings, tmp_path, caplog, case
):
    models, _ = bank(make_settings(), store_with_v2_model(tmp_path / "models", case))
    before = failed_reloads("startup")

    with pytest.raises(ModelUnavailable) as raised:
        models.predict("feedforward", PROBE_VECTOR)

    refusal = f"{OTHER_CONTRACT[case][2]} feature contract rps50-v2, not rps50-v3"
    assert raised.value.reason == "load_failed"
    assert refusal in models.status()["last_error"]
    assert models.status()["loaded"] == []
    assert failed_reloads("startup") == before + 1
    assert [r.levelname for r in caplog.records if refusal in r.getMessage()] == ["WARNING"]


def test_play_falls_back_to_the_legacy_bot_when_the_model_is_refused(
    make_settings, database_url, tmp_path
):
    settings = make_settings(RPS_DATABASE_URL=database_url)
    models, _ = bank(settings, store_with_v2_model(tmp_path / "models", "named by its entry"))
    gameplay = Gameplay.open(settings, models)
    game = gameplay.start_game(StartGameRequest.from_json({"policy": "brian"}))
    before = load_failed_fallbacks()

    for move in ("rock", "paper", "scissors", "rock"):
        gameplay.play_round(PlayRequest(game["game_id"], game["game_token"], move))

    with gameplay.database.connect() as connection:
        phases = connection.execute(select(rounds.c.phase).order_by(rounds.c.round_no))
        assert list(phases.scalars()) == ["gambit"] * 3 + ["fallback"]
    gameplay.database.dispose()
    assert load_failed_fallbacks() == before + 1


def load_failed_fallbacks() -> float:
    """feedforward's fallbacks for a refused load, whichever alias the game drew."""
    samples = (
        {"family": "feedforward", "alias": alias, "reason": "load_failed"}
        for alias in ("Production", "B")
    )
    return sum(
        metrics.REGISTRY.get_sample_value("rps_model_fallbacks_total", sample) or 0.0
        for sample in samples
    )


def test_an_unreachable_s3_store_is_reported_and_retried_later(make_settings, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "rps-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "rps-test-secret")
    models, clock = bank(make_settings(), open_store("s3://rps-models/outage"))
    before = failed_reloads()

    taken = models.check_manifest()
    clock.now = RETRY_SECONDS - 1
    models.check_manifest()
    waiting = failed_reloads()
    clock.now = RETRY_SECONDS + 1
    models.check_manifest()

    assert not taken
    assert waiting == before + 1  # no store access until the retry is due
    assert failed_reloads() == before + 2
    assert "Could not connect to the endpoint URL" in models.last_error
    with pytest.raises(ModelUnavailable):  # §5.2's fallback, never an error reply
        models.predict("logistic", PROBE_VECTOR)


def test_a_poll_serves_the_manifest_in_hand_while_another_thread_reads_the_store(
    make_settings, tmp_path
):
    store = FolderStore(tmp_path / "models")
    store.write_manifest(EMPTY_MANIFEST)
    models, clock = bank(make_settings(), store)
    models.check_manifest()
    pipe = store.root / "manifest.json"
    pipe.unlink()
    os.mkfifo(pipe)  # reading it blocks until someone writes: a store slow to answer
    clock.now += 60
    reader = threading.Thread(target=models.check_manifest)
    polls: list[bool] = []
    poller = threading.Thread(target=lambda: polls.append(models.check_manifest()))

    reader.start()
    with pipe.open("wb") as slow_store:  # opens once the reader is inside its store read
        poller.start()
        poller.join(timeout=30)
        waited = poller.is_alive()
        slow_store.write(json.dumps({**EMPTY_MANIFEST, "manifest_version": 2}).encode())
    reader.join(timeout=30)
    poller.join(timeout=30)

    assert not waited
    assert polls == [False]
    assert models.manifest_version == 2  # what the slow read brought in the end
