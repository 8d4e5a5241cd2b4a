"""`python -m rpsquest.local up` (what `make up` runs): every server on its fixed port, and
stopped completely however it is told to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from rpsquest.local import PORTS, PROMETHEUS_PORT
from tests.conftest import REPO
from tests.helpers import wait_for
from tests.prometheus import PrometheusApi
from tests.training_fixture import project_env, publish_copy, smaller_configs_file

pytestmark = pytest.mark.slow

FIXED_PORTS = (*PORTS.values(), PROMETHEUS_PORT)


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, whatever session or group it moved to."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def local_up(trained_cycle, project: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`local up` on a project with published models (no bootstrap training), its output up to
    the URLs; if the test fails, everything it started is killed, so no server keeps holding
    the fixed ports for the rest of the suite."""
    for folder in ("functions", "knative", "observability"):
        (project / folder).symlink_to(REPO / folder)
    publish_copy(trained_cycle, project)
    env = {
        **os.environ,
        **project_env(project),
        "RPS_MODEL_CONFIGS": smaller_configs_file(project),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "rpsquest.local", "up"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        lines = []
        while not any("MLflow UI" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(process.stdout.readline())
        started = descendants(process.pid)
        yield process, "".join(lines)
    finally:
        if process.poll() is None:
            started |= descendants(process.pid)
            os.killpg(process.pid, signal.SIGKILL)
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()


def test_local_up_serves_a_game_against_the_published_models(trained_cycle, tmp_path):
    with local_up(trained_cycle, tmp_path) as (process, printed):
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
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)

    assert health == {name: 200 for name in PORTS}
    assert all(f"http://127.0.0.1:{port}/" in printed for port in PORTS.values())
    assert [r.status_code for r in rounds] == [200] * 4
    assert {m["family"] for m in models["loaded"]} == {"xgboost"}
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:8081"
    assert scraped == {"rps-start-game", "rps-play", "rps-train", "rps-promote"}
    assert f"http://127.0.0.1:{PROMETHEUS_PORT}/" in printed
    assert process.returncode == 0


@pytest.mark.parametrize("signals", [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT,) * 2])
def test_a_second_signal_during_shutdown_still_stops_every_server(trained_cycle, tmp_path, signals):
    """As `kill -TERM` to make's process group (make forwards it again) or Ctrl-C twice."""
    with local_up(trained_cycle, tmp_path) as (process, _printed):
        children = descendants(process.pid)
        for number in signals:
            process.send_signal(number)
            time.sleep(0.05)  # the second one lands while the servers are being stopped
        process.wait(timeout=60)

    assert children
    assert [pid for pid in children if alive(pid)] == []
    assert [port for port in FIXED_PORTS if not port_free(port)] == []
    assert process.returncode == 0
