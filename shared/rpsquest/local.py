"""Local mode: every function as a real functions-framework server on its fixed loopback port,
the dev broker, and Prometheus scraping them when Debian's package is installed.

python -m rpsquest.local up [--pings]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from rpsquest.config import Settings

PORTS = {"devbroker": 8080, "start_game": 8081, "play": 8082, "train": 8083, "promote": 8084}
PROMETHEUS_PORT = 9090
LOOPBACK = "127.0.0.1"


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def stop(self, grace: float = 10) -> None:
        """SIGINT (gunicorn's quick shutdown), then SIGKILL to the whole process group: a
        gthread worker hit by the signal while queueing a request can deadlock in its own
        shutdown, and would otherwise outlive its master."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


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


def wait_healthy(servers: Sequence[Server], timeout: float = 30) -> None:
    """Block until every server answers /healthz; fail fast if one exits."""
    deadline = time.monotonic() + timeout
    pending = list(servers)
    while pending:
        server = pending[0]
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        try:
            if requests.get(server.url + "healthz", timeout=1).ok:
                pending.pop(0)
                continue
        except requests.ConnectionError:
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


def start_prometheus(config: Path, port: int, data_dir: Path, log: Path | None) -> Server:
    """Prometheus scraping the functions as `config` says (observability/prometheus.yml)."""
    command = [
        shutil.which("prometheus") or "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={LOOPBACK}:{port}",
    ]
    return spawn("prometheus", f"http://{LOOPBACK}:{port}/", command, config.parent, {}, log)


def bootstrap_models(settings: Settings, timeout: float = 1800) -> None:
    """A store without models: ask for a training cycle through the broker and wait until
    promote has published the manifest, so the first game is against real models."""
    from rpsquest import events
    from rpsquest.modelstore import open_store

    store = open_store(settings.model_store)
    if store.read_manifest() is not None:
        return
    print("No models yet: training the first 12 (a few minutes on two cores)…", flush=True)
    request = events.new_event("local", events.TRAINING_REQUESTED, {"force": True}, "bootstrap")
    events.send(settings.sink_url, request)
    deadline = time.monotonic() + timeout
    while store.read_manifest() is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no manifest after the bootstrap training; see var/logs/")
        time.sleep(2)
    print(f"Models published (manifest {store.read_manifest()['manifest_version']}).")


def _page_origins() -> str:
    """start_game's own origins: the player's page it serves calls play from there."""
    port = PORTS["start_game"]
    return f"http://{LOOPBACK}:{port},http://localhost:{port}"


def up(settings: Settings, pings: bool = False) -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the servers on TERM too
    log_dir = settings.var_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RPS_PROJECT_DIR": str(settings.project_dir)}
    env.setdefault("RPS_CORS_ORIGINS", _page_origins())
    servers = [
        start_broker(
            PORTS["devbroker"],
            settings.project_dir,
            env,
            log_dir / "devbroker.log",
            *(["--pings"] if pings else []),
        ),
        *(
            start_function(name, PORTS[name], settings.project_dir, env, log_dir / f"{name}.log")
            for name in function_names(settings.project_dir)
        ),
    ]
    scrape_config = settings.project_dir / "observability" / "prometheus.yml"
    observers = []
    if shutil.which("prometheus") and scrape_config.is_file():
        observers.append(
            start_prometheus(
                scrape_config,
                PROMETHEUS_PORT,
                settings.var_dir / "prometheus",
                log_dir / "prometheus.log",
            )
        )
    try:
        wait_healthy(servers)
        bootstrap_models(settings)
        print("RPS Quest is running locally (Ctrl-C stops it):")
        print(f"  player page http://{LOOPBACK}:{PORTS['start_game']}/")
        for server in servers + observers:
            print(f"  {server.name:<11} {server.url}")
        if not observers:
            print("  prometheus  not started (apt-get install prometheus, or make system)")
        print(f"  database    {settings.database_url}")
        print(f"  models      {settings.model_store}")
        print(f"  logs        {log_dir}")
        print(
            "  MLflow UI   .venv/bin/mlflow ui --backend-store-uri "
            f"{settings.mlflow_tracking_uri} --port 5000  (then http://127.0.0.1:5000/)"
        )
        while all(s.process.poll() is None for s in servers + observers):
            time.sleep(0.5)
        print("a server exited; see its log", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers + observers:
            server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rpsquest.local")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--pings", action="store_true", help="fire the PingSource schedules")
    args = parser.parse_args(argv)
    up(Settings.from_env(), pings=args.pings)


if __name__ == "__main__":
    main()
