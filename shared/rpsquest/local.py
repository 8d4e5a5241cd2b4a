"""Local mode: every function as a real functions-framework server on its fixed loopback port,
the dev broker, and Prometheus scraping them and Alertmanager receiving its alerts when Debian's
packages are installed.

python -m rpsquest.local up [--pings] [--profile embedded|production]

`embedded` (the default) runs the functions from the checkout on SQLite, a folder model store
and an in-process MLflow store; `production` runs the cluster's shape (rpsquest.production).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Protocol

import requests

from rpsquest import events
from rpsquest.config import Settings
from rpsquest.processes import (
    ALERTMANAGER_PORT,
    LOOPBACK,
    PORTS,
    PROMETHEUS_PORT,
    Server,
    alertmanager_binary,
    function_names,
    spawn,
    start_alertmanager,
    start_broker,
    start_function,
    start_prometheus,
    stop_all,
    wait_healthy,
)
from rpsquest.production import Production

# Started when their Debian packages are installed; the stack runs without them.
MONITORING = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}

__all__ = [
    "ALERTMANAGER_PORT",
    "LOOPBACK",
    "PORTS",
    "PROMETHEUS_PORT",
    "Server",
    "spawn",
    "start_alertmanager",
    "start_broker",
    "start_function",
    "start_prometheus",
    "up",
    "wait_healthy",
]


class Stack(Protocol):
    """What a profile starts: its servers (stopped together), where promote and the broker
    listen, the admin bearer, and the lines `up` prints."""

    servers: list[Server]

    # Read-only, so that a profile may compute them as properties.
    @property
    def promote_url(self) -> str: ...

    @property
    def sink_url(self) -> str: ...

    @property
    def admin_token(self) -> str | None: ...

    def start(self) -> None: ...

    def summary(self) -> list[tuple[str, str]]: ...


@dataclass
class Embedded:
    """The functions from the checkout on embedded defaults (SQLite, folder store, MLflow
    file store), with the broker, Prometheus and Alertmanager."""

    settings: Settings
    pings: bool = False
    servers: list[Server] = field(default_factory=list)
    admin_token: str | None = None

    @property
    def promote_url(self) -> str:
        return f"http://{LOOPBACK}:{PORTS['promote']}/"

    @property
    def sink_url(self) -> str:
        return self.settings.sink_url

    def start(self) -> None:
        settings = self.settings
        log_dir = settings.var_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RPS_PROJECT_DIR": str(settings.project_dir)}
        env.setdefault("RPS_CORS_ORIGINS", _page_origins())
        options = ["--pings"] if self.pings else []
        self.servers.append(
            start_broker(
                PORTS["devbroker"], settings.project_dir, env, log_dir / "devbroker.log", *options
            )
        )
        for name in function_names(settings.project_dir):
            self.servers.append(
                start_function(
                    name, PORTS[name], settings.project_dir, env, log_dir / f"{name}.log"
                )
            )
        observability = settings.project_dir / "observability"
        if shutil.which("prometheus") and (observability / "prometheus.yml").is_file():
            self.servers.append(
                start_prometheus(
                    observability / "prometheus.yml",
                    PROMETHEUS_PORT,
                    settings.var_dir / "prometheus",
                    log_dir / "prometheus.log",
                )
            )
        if alertmanager_binary() and (observability / "alertmanager.yml").is_file():
            self.servers.append(
                start_alertmanager(
                    observability / "alertmanager.yml",
                    ALERTMANAGER_PORT,
                    settings.var_dir / "alertmanager",
                    log_dir / "alertmanager.log",
                )
            )
        wait_healthy([s for s in self.servers if s.name not in MONITORING])

    def summary(self) -> list[tuple[str, str]]:
        settings = self.settings
        lines = [("player page", f"http://{LOOPBACK}:{PORTS['start_game']}/")]
        lines += [(server.name, server.url) for server in self.servers]
        lines += not_started(self.servers)
        return [
            *lines,
            ("database", settings.database_url),
            ("models", settings.model_store),
            ("logs", str(settings.var_dir / "logs")),
            (
                "MLflow UI",
                ".venv/bin/mlflow ui --backend-store-uri "
                f"{settings.mlflow_tracking_uri} --port 5000  (then http://127.0.0.1:5000/)",
            ),
        ]


def not_started(servers: Sequence[Server]) -> list[tuple[str, str]]:
    """A summary line for each monitoring server missing from `servers`: its package is not
    installed."""
    return [
        (name, f"not started (apt-get install {package}, or make system)")
        for name, package in MONITORING.items()
        if not any(server.name == name for server in servers)
    ]


def _page_origins() -> str:
    """start_game's own origins: the player's page it serves calls play from there."""
    port = PORTS["start_game"]
    return f"http://{LOOPBACK}:{port},http://localhost:{port}"


def _manifest_version(promote_url: str, admin_token: str | None) -> int | None:
    """The published manifest's version, from promote's alias table (None: no models yet)."""
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    reply = requests.get(promote_url + "aliases", headers=headers, timeout=60)
    reply.raise_for_status()
    return reply.json()["manifest_version"]


def bootstrap_models(stack: Stack, timeout: float = 1800) -> None:
    """A store without models: ask for a training cycle through the broker and wait until
    promote has published the manifest, so the first game is against real models."""
    if _manifest_version(stack.promote_url, stack.admin_token) is not None:
        return
    print("No models yet: training the first 12 (a few minutes on two cores)…", flush=True)
    request = events.new_event("local", events.TRAINING_REQUESTED, {"force": True}, "bootstrap")
    events.send(stack.sink_url, request)
    deadline = time.monotonic() + timeout
    while True:
        try:
            version = _manifest_version(stack.promote_url, stack.admin_token)
        except requests.RequestException:  # a 503 while a dependency restarts: ask again
            version = None
        if version is not None:
            print(f"Models published (manifest {version}).")
            return
        if time.monotonic() > deadline:
            raise TimeoutError("no manifest after the bootstrap training; see the logs")
        time.sleep(2)


class _Signals:
    """SIGINT or SIGTERM ends the run once. Later ones are ignored so the cleanup always
    finishes: GNU make forwards a TERM that the process group already got, and impatient
    users press Ctrl-C twice. Installed explicitly, since a process started in the
    background by a non-interactive shell inherits an ignored SIGINT."""

    def __init__(self) -> None:
        self.stopping = False
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._handle)

    def _handle(self, _number: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt


def up(stack: Stack) -> None:
    """Start the stack, train the first models if there are none, print the URLs, and run
    until a signal or until a server exits; then stop every server."""
    signals = _Signals()
    try:
        stack.start()
        bootstrap_models(stack)
        print("RPS Quest is running locally (Ctrl-C stops it):")
        for label, value in stack.summary():
            print(f"  {label:<11} {value}")
        sys.stdout.flush()
        while all(s.process.poll() is None for s in stack.servers):
            time.sleep(0.5)
        exited = [s.name for s in stack.servers if s.process.poll() is not None]
        print(f"{', '.join(exited)} exited; see the logs", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        signals.stopping = True
        stop_all(stack.servers)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rpsquest.local")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--pings", action="store_true", help="fire the PingSource schedules")
    parser.add_argument(
        "--profile",
        choices=["embedded", "production"],
        default="embedded",
        help="embedded defaults, or the cluster's shape (PostgreSQL, S3, an MLflow server, "
        "each function from its image's contents)",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.profile == "production":
        up(Production.for_project(settings.project_dir, pings=args.pings))
    else:
        up(Embedded(settings, pings=args.pings))


if __name__ == "__main__":
    main()
