"""`python -m rpsquest.local up` (what `make up` runs): every server on its fixed port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from rpsquest.local import PORTS, PROMETHEUS_PORT
from tests.conftest import REPO, wait_for
from tests.prometheus import PrometheusApi
from tests.training_fixture import project_env, publish_copy, smaller_configs_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_local_up_serves_a_game_against_the_published_models(trained_cycle, tmp_path):
    for folder in ("functions", "knative", "observability"):
        (tmp_path / folder).symlink_to(REPO / folder)
    publish_copy(trained_cycle, tmp_path)  # a store with models: no bootstrap training
    env = {
        **os.environ,
        **project_env(tmp_path),
        "RPS_MODEL_CONFIGS": smaller_configs_file(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "rpsquest.local", "up"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        lines = []
        while not any("MLflow UI" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(process.stdout.readline())
        health = {
            name: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
            for name, port in PORTS.items()
        }
        game = requests.post("http://127.0.0.1:8081/", json={"policy": "forrest"}, timeout=10)
        body = {
            "game_id": game.json()["game_id"],
            "game_token": game.json()["game_token"],
            "move": "rock",
        }
        rounds = [requests.post(game.json()["play_url"], json=body, timeout=30) for _ in range(4)]
        models = requests.get("http://127.0.0.1:8082/models", timeout=10).json()
        page = requests.get("http://127.0.0.1:8081/", timeout=10)
        prometheus = PrometheusApi(f"http://127.0.0.1:{PROMETHEUS_PORT}/")
        scraped = wait_for(
            lambda: len(jobs := prometheus.scraped_jobs()) == 4 and jobs, 30, "four scraped jobs"
        )
        preflight = requests.options(
            game.json()["play_url"], headers={"Origin": "http://localhost:8081"}, timeout=10
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        process.stdout.close()

    printed = "".join(lines)
    assert health == {name: 200 for name in PORTS}
    assert all(f"http://127.0.0.1:{port}/" in printed for port in PORTS.values())
    assert [r.status_code for r in rounds] == [200] * 4
    assert {m["family"] for m in models["loaded"]} == {"xgboost"}
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:8081"
    assert scraped == {"rps-start-game", "rps-play", "rps-train", "rps-promote"}
    assert f"http://127.0.0.1:{PROMETHEUS_PORT}/" in printed
    assert process.returncode == 0
