"""play serving trained models as a real server: A/B routing, shadow predictions, live reload."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
from cloudevents.conversion import to_binary

from rpsquest.events import MODEL_PROMOTED, new_event
from rpsquest.modelstore import open_store
from rpsquest.registry import publish
from tests.conftest import REPO
from tests.helpers import move, new_game
from tests.integration.conftest import launch_platform, models_of, play_rounds, stored
from tests.training_fixture import project_env, project_settings, publish_copy, swapped

pytestmark = pytest.mark.slow


@pytest.fixture
def project(trained_cycle, tmp_path):
    publish_copy(trained_cycle, tmp_path)
    return tmp_path


def test_ml_rounds_act_through_the_game_alias_and_store_every_alias(launch, project):
    start_game, play = launch_platform(launch, project)

    for _ in range(3):
        game_id, replies = play_rounds(start_game, play, 6)
        game, played, made = stored(project, game_id)
        assert [r["phase"] for r in played] == ["gambit"] * 3 + ["ml"] * 3
        assert {r["alias"] for r in played[3:]} == {game["alias"]}
        assert game["assignment_id"] is not None
        assert not game["mixed_assignment"]
        assert len(made) == 3 * 4
        assert {p["alias"] for p in made} == {"Production", "B", "shadow1", "shadow2"}
    assert "alias" not in json.dumps(replies)
    loaded = models_of(play)["loaded"]
    assert {(m["family"], m["alias"]) for m in loaded} == {
        ("feedforward", a) for a in ("Production", "B", "shadow1", "shadow2")
    }
    metrics = requests.get(play.url + "metrics", timeout=10).text
    assert 'rps_model_reloads_total{outcome="loaded",trigger="startup"} 1.0' in metrics
    assert 'rps_prediction_latency_seconds_count{family="feedforward"} 36.0' in metrics


def test_predictions_show_what_every_alias_then_predicts_in_the_next_round(launch, project):
    start_game, play = launch_platform(launch, project)  # no admin token: loopback is admin
    game = new_game(start_game, policy="logan")
    for _ in range(3):
        move(play, game, "paper")

    shown = requests.get(
        play.url + "predictions", params={"game_id": game["game_id"]}, timeout=30
    ).json()
    move(play, game, "paper")

    stored_game, _, made = stored(project, game["game_id"])
    assert (shown["round"], shown["family"], shown["phase"]) == (4, "logistic", "ml")
    assert shown["alias"] == stored_game["alias"]
    assert {p["alias"]: tuple(p["probabilities"].values()) for p in shown["predictions"]} == {
        p["alias"]: (p["p_rock"], p["p_paper"], p["p_scissors"]) for p in made
    }
    for prediction in shown["predictions"]:
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("with_event", [True, False])
def test_a_new_manifest_reaches_a_running_play(launch, project, trained_cycle, with_event):
    # Without the event, only the periodic check can notice; with it, the check is off.
    check = "3600" if with_event else "1"
    start_game, play = launch_platform(launch, project, RPS_MANIFEST_CHECK_SECONDS=check)
    play_rounds(start_game, play, 4, policy="logan")
    before = {m["alias"]: m["version"] for m in models_of(play)["loaded"]}
    settings = project_settings(project)
    manifest = publish(
        settings,
        open_store(settings.model_store),
        swapped(trained_cycle.rows, "logistic"),
        previous_manifest=None,
    )

    if with_event:
        promoted = new_event("promote", MODEL_PROMOTED, {"manifest_version": 99}, "logistic")
        headers, body = to_binary(promoted)
        assert requests.post(play.url, data=body, headers=headers, timeout=10).status_code == 200
    else:
        time.sleep(1.2)
    play_rounds(start_game, play, 4, policy="logan")

    status = models_of(play)
    after = {m["alias"]: m["version"] for m in status["loaded"]}
    assert status["manifest_version"] == manifest.manifest_version
    assert (after["Production"], after["B"]) == (before["B"], before["Production"])


def test_a_corrupted_artifact_is_refused_and_the_old_model_keeps_serving(launch, project):
    start_game, play = launch_platform(launch, project)
    play_rounds(start_game, play, 4, policy="forrest")
    store = open_store(project / "var" / "models")
    manifest = store.read_manifest()
    entry = manifest["models"]["xgboost"]["shadow1"]
    (store.root / entry["artifact"]).write_bytes(b"corrupted")
    for cached in (project / "var" / "cache").glob("*.onnx"):
        cached.unlink()
    store.write_manifest({**manifest, "manifest_version": manifest["manifest_version"] + 1})

    reload = requests.post(play.url + "reload", timeout=30).json()
    game_id, _ = play_rounds(start_game, play, 5, policy="forrest")

    assert "does not match its SHA-256" in reload["last_error"]
    assert reload["manifest_version"] == manifest["manifest_version"] + 1
    assert {m["sha256"] for m in reload["loaded"]} >= {entry["sha256"]}
    _, played, _ = stored(project, game_id)
    assert [r["phase"] for r in played[3:]] == ["ml", "ml"]


def test_play_never_imports_the_training_libraries(project):
    script = f"""
import sys
import functions_framework
app = functions_framework.create_app("play", {str(REPO / "functions/play/main.py")!r})
start = functions_framework.create_app(
    "start_game", {str(REPO / "functions/start_game/main.py")!r}).test_client()
client = app.test_client()
game = start.post("/", json={{"policy": "forrest"}}).get_json()
body = {{"game_id": game["game_id"], "game_token": game["game_token"], "move": "paper"}}
phases = [client.post("/", json=body).status_code for _ in range(4)]
assert phases == [200] * 4, phases
assert client.get("/models").get_json()["loaded"], "no model was loaded"
heavy = ("torch", "sklearn", "xgboost", "pandas", "mlflow", "onnxmltools", "skl2onnx")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**project_env(project), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
