"""The production profile of local mode: the cluster's shape on loopback. PostgreSQL (a
database of its own on the machine's server), an S3 server (SeaweedFS standing in for MinIO),
a real `mlflow server`, and every function from its staged image with the environment its ksvc
gets, derived from the rendered k3s overlay with the Secrets resolved from a local, generated
secrets file (rpsquest.kustomize).

Only the in-cluster host names change: `<name>.rps-quest.svc.cluster.local[:port]` and the
public `<ksvc>.rps-quest.example.com` become `127.0.0.1:<local port>`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rpsquest.backends import (
    WeedPorts,
    bucket_names,
    drop_database,
    ensure_database,
    free_weed_ports,
    make_buckets,
    mlflow_command,
    s3_client,
    start_s3,
)
from rpsquest.images import FUNCTIONS, StagedFunction, stage
from rpsquest.kustomize import (
    OVERLAY,
    SECRETS_EXAMPLE,
    SINK_ENV,
    Loopback,
    Secrets,
    container,
    container_env,
    ensure_secrets,
    find,
    generate_secrets,
    ksvc_name,
    read_secrets,
    render,
)
from rpsquest.processes import (
    ALERTMANAGER_PORT,
    LOOPBACK,
    PORTS,
    PROMETHEUS_PORT,
    Server,
    alertmanager_binary,
    free_port,
    prometheus_config,
    spawn,
    start_alertmanager,
    start_broker,
    start_prometheus,
    stop_all,
    wait_healthy,
)


def start_staged(staged: StagedFunction, port: int, env: Mapping[str, str], logs: Path) -> Server:
    """A function as its image runs it: its CMD from its WORKDIR, the image's ENV (and HOME,
    the image user's home) under `env`, nothing inherited from this process."""
    name = staged.recipe.function
    environment = {"HOME": str(staged.workdir), **staged.environment(), **env}
    command = staged.command(LOOPBACK, port)
    url = f"http://{LOOPBACK}:{port}/"
    return spawn(name, url, command, staged.workdir, environment, logs / f"{name}.log")


@dataclass(frozen=True, slots=True)
class ProductionPorts:
    """Local ports: the broker and functions (as in the embedded profile), S3, MLflow,
    PostgreSQL (the machine's server), Prometheus and Alertmanager (None: not started)."""

    functions: Mapping[str, int]
    s3: WeedPorts
    mlflow: int
    postgres: int = 5432
    prometheus: int | None = PROMETHEUS_PORT
    alertmanager: int | None = ALERTMANAGER_PORT

    def loopback(self) -> Loopback:
        services = {"minio": self.s3.s3, "mlflow": self.mlflow, "postgres": self.postgres}
        ksvcs = {ksvc_name(n): p for n, p in self.functions.items() if n in FUNCTIONS}
        return Loopback(services | ksvcs)


DEFAULT_PORTS = ProductionPorts(
    functions=PORTS,
    s3=WeedPorts(s3=8333, master=19333, volume=18081, filer=18888, admin=23646),
    mlflow=5000,
)


def _mlflow_serves(server: Server) -> None:
    wait_healthy([server], timeout=120, path="health")


def default_image_cache() -> Path:
    """Where staged virtualenvs are kept between runs and clones ($XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rpsquest" / "venvs"


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@dataclass
class Production:
    """The production profile's servers, started in dependency order: S3 and its buckets,
    the databases, the MLflow server, each function from its staged image, the broker and
    Prometheus. `overrides` go on top of every function's environment (RPS_DATABASE_URL
    from the caller's environment; knobs a test turns)."""

    repo: Path
    state: Path
    ports: ProductionPorts = DEFAULT_PORTS
    secrets_path: Path | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)
    pings: bool = False
    broker_options: Sequence[str] = ()
    image_cache: Path = field(default_factory=default_image_cache)
    servers: list[Server] = field(default_factory=list)
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    staged: dict[str, StagedFunction] = field(default_factory=dict)
    _starters: dict[str, tuple[Callable[[], Server], Callable[[Server], None]]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def for_project(cls, project_dir: Path, pings: bool = False) -> Production:
        overrides = {k: v for k, v in os.environ.items() if k == "RPS_DATABASE_URL"}
        return cls(
            project_dir, project_dir / "var" / "production", overrides=overrides, pings=pings
        )

    @property
    def secrets_file(self) -> Path:
        return self.secrets_path or self.state / "secrets.yaml"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.ports.functions[name]}/"

    @property
    def promote_url(self) -> str:
        return self.url("promote")

    @property
    def sink_url(self) -> str:
        return self.url("devbroker")

    @property
    def admin_token(self) -> str:
        return read_secrets(self.secrets_file)["rps-secrets"]["admin-token"]

    def database_url(self, key: str) -> str:
        """A database URL of the generated Secrets ("database-url", "mlflow-database-url"),
        its host rewritten to loopback."""
        url = read_secrets(self.secrets_file)["rps-secrets"][key]
        return self.ports.loopback().rewrite(url)

    @property
    def mlflow_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.mlflow}/"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.s3.s3}"

    def s3(self) -> Any:
        """A client of the S3 server with the generated credentials."""
        keys = read_secrets(self.secrets_file)["rps-s3"]
        return s3_client(self.s3_endpoint, keys["access-key-id"], keys["secret-access-key"])

    def function_environment(
        self, function: str, documents: Sequence[Mapping[str, Any]], secret_values: Secrets
    ) -> dict[str, str]:
        """The environment rps-<function>'s container gets in the cluster, on loopback: its
        ksvc's env, the SinkBinding's K_SINK and Knative's runtime variables."""
        name = ksvc_name(function)
        ksvc = find(
            (d for d in documents if d["apiVersion"].startswith("serving.knative")), "Service", name
        )
        env = container_env(container(ksvc), documents, secret_values)
        runtime = {
            "PORT": str(self.ports.functions[function]),
            "K_SERVICE": name,
            "K_CONFIGURATION": name,
            "K_REVISION": f"{name}-local",
            SINK_ENV: self.sink_url,
        }
        return {**self.ports.loopback().environment(env), **runtime, **self.overrides}

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        documents = render(self.repo / OVERLAY)
        secret_values = ensure_secrets(self.secrets_file, self.repo / SECRETS_EXAMPLE)
        keys = secret_values["rps-s3"]
        buckets = bucket_names(find(documents, "Job", "minio-buckets"))
        self._launch(
            "s3",
            lambda: start_s3(
                self.state / "s3",
                self.ports.s3,
                keys["access-key-id"],
                keys["secret-access-key"],
                self.logs / "s3.log",
            ),
            # what the bucket Job does, on every start (it finds them there after a restart)
            lambda server: make_buckets(self.s3(), buckets, server),
        )
        self.environments = {
            name: self.function_environment(name, documents, secret_values) for name in FUNCTIONS
        }
        deployment = find(documents, "Deployment", "mlflow")
        mlflow_env = self.ports.loopback().environment(
            container_env(container(deployment), documents, secret_values)
        )
        databases = {env["RPS_DATABASE_URL"] for env in self.environments.values()}
        for url in sorted(databases | {mlflow_env["MLFLOW_BACKEND_STORE_URI"]}):
            if url.startswith("postgresql"):
                ensure_database(url)
        mlflow = self._launch(
            "mlflow",
            lambda: spawn(
                "mlflow",
                self.mlflow_url,
                mlflow_command(deployment, mlflow_env, self.ports.mlflow),
                self.state,
                {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **mlflow_env},
                self.logs / "mlflow.log",
            ),
            _mlflow_serves,
            wait=False,  # it starts while the images are staged
        )
        for name in FUNCTIONS:
            self.staged[name] = stage(
                name,
                self.repo,
                self.state / "images" / name,
                self.image_cache,
                self.logs / "staging.log",
            )
        _mlflow_serves(mlflow)
        functions = [self._start_function(name) for name in FUNCTIONS]
        subscribers = [f"--subscriber={ksvc_name(n)}={self.url(n)}" for n in FUNCTIONS]
        broker = start_broker(
            self.ports.functions["devbroker"],
            self.repo,
            dict(os.environ),
            self.logs / "devbroker.log",
            *subscribers,
            *(["--pings"] if self.pings else []),
            *self.broker_options,
        )
        self.servers.append(broker)
        wait_healthy([*functions, broker], timeout=120)
        self._start_prometheus(self._start_alertmanager())

    def _start_alertmanager(self) -> int | None:
        """Alertmanager with the local config; the port it listens on, if it started."""
        source = self.repo / "observability" / "alertmanager.yml"
        if self.ports.alertmanager is None or not (alertmanager_binary() and source.is_file()):
            return None
        self.servers.append(
            start_alertmanager(
                source,
                self.ports.alertmanager,
                self.state / "alertmanager",
                self.logs / "alertmanager.log",
            )
        )
        return self.ports.alertmanager

    def _launch(
        self,
        name: str,
        start: Callable[[], Server],
        ready: Callable[[Server], None],
        wait: bool = True,
    ) -> Server:
        """Start a backing server, wait until it serves unless told not to, and remember how,
        so that a fault test can restart it."""
        self._starters[name] = (start, ready)
        server = start()
        self.servers.append(server)
        if wait:
            ready(server)
        return server

    def stop(self, name: str) -> None:
        """Stop one backing server (S3, MLflow), as an outage would."""
        (server,) = [s for s in self.servers if s.name == name]
        server.stop()
        self.servers.remove(server)

    def restart(self, name: str) -> Server:
        """Start a stopped backing server again, on the same ports and data; return once it
        serves."""
        return self._launch(name, *self._starters[name])

    def _start_function(self, name: str) -> Server:
        server = start_staged(
            self.staged[name], self.ports.functions[name], self.environments[name], self.logs
        )
        self.servers.append(server)
        return server

    def _start_prometheus(self, alertmanager_port: int | None) -> None:
        """Prometheus as in the cluster: every function's /metrics with the admin bearer, its
        alerts to the Alertmanager on `alertmanager_port`."""
        source = self.repo / "observability" / "prometheus.yml"
        if self.ports.prometheus is None or not (shutil.which("prometheus") and source.is_file()):
            return
        token = self.state / "admin-token"
        token.write_text(self.admin_token)
        token.chmod(0o600)
        config = prometheus_config(source, alertmanager_port)
        by_job = {ksvc_name(n): self.ports.functions[n] for n in FUNCTIONS}
        for job in config["scrape_configs"]:
            job["static_configs"] = [{"targets": [f"{LOOPBACK}:{by_job[job['job_name']]}"]}]
            job["authorization"] = {"type": "Bearer", "credentials_file": str(token)}
        path = self.state / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.servers.append(
            start_prometheus(
                path, self.ports.prometheus, self.state / "prometheus", self.logs / "prometheus.log"
            )
        )

    def summary(self) -> list[tuple[str, str]]:
        play_env = self.environments["play"]
        return [
            ("player page", self.url("start_game")),
            *((server.name, server.url) for server in self.servers),
            ("database", _masked(play_env["RPS_DATABASE_URL"])),
            ("models", f"{play_env['RPS_MODEL_STORE']} at {self.s3_endpoint}"),
            ("secrets", f"{self.secrets_file} (generated; the admin bearer is admin-token)"),
            ("images", str(self.state / "images")),
            ("logs", str(self.logs)),
            ("MLflow UI", self.mlflow_url),
        ]


@contextmanager
def throwaway(
    repo: Path,
    directory: Path,
    overrides: Mapping[str, str],
    broker_options: Sequence[str] = (),
    pings: bool = False,
) -> Iterator[Production]:
    """The production profile from empty, beside anything else running: free ports, databases
    of its own on the machine's PostgreSQL (dropped on exit), S3 and MLflow data under
    `directory`; no Prometheus or Alertmanager. For the end-to-end tests and the soak."""
    secrets = directory / "secrets.yaml"
    suffix = f"_tmp_{uuid.uuid4().hex[:8]}"
    secrets.write_text(yaml.safe_dump_all(generate_secrets(repo / SECRETS_EXAMPLE, suffix)))
    ports = ProductionPorts(
        functions={name: free_port() for name in ("devbroker", *FUNCTIONS)},
        s3=free_weed_ports(),
        mlflow=free_port(),
        prometheus=None,
        alertmanager=None,
    )
    production = Production(
        repo,
        directory,
        ports,
        secrets_path=secrets,
        overrides=overrides,
        pings=pings,
        broker_options=broker_options,
    )
    try:
        production.start()
        yield production
    finally:
        stop_all(production.servers)
        for key in ("database-url", "mlflow-database-url"):
            drop_database(production.database_url(key))
