"""A real S3 endpoint for tests: SeaweedFS's `weed mini` on loopback ports, which a test may stop
(its port then refuses connections, as a store outage would) and start again on the same ports
with the same data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rpsquest.backends import free_weed_ports, make_buckets, s3_client, start_s3
from rpsquest.modelstore import ModelStore
from rpsquest.processes import Server

ACCESS_KEY, SECRET_KEY = "rps-test-key", "rps-test-secret"
BUCKET = "rps-models"
START_SECONDS = 30


class S3Server:
    """One `weed mini` (master, volume, filer, S3 gateway), as the production profile runs it:
    loopback only, telemetry off, credentials required, the bucket `rps-models` created."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = free_weed_ports()
        self.endpoint = f"http://127.0.0.1:{self.ports.s3}"
        self._server: Server | None = None

    def client(self, secret: str = SECRET_KEY) -> Any:
        return s3_client(self.endpoint, ACCESS_KEY, secret)

    def aws_env(self) -> dict[str, str]:
        """The standard AWS variables a pod gets, pointing at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def start(self) -> None:
        """Start the server and return once its S3 gateway answers and the bucket exists."""
        log = self.directory / "weed.log"
        self._server = start_s3(self.directory, self.ports, ACCESS_KEY, SECRET_KEY, log)
        try:
            make_buckets(self.client(), [BUCKET], self._server, timeout=START_SECONDS)
        except Exception as error:
            self.stop()
            pytest.fail(f"weed mini did not serve S3 ({error}):\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop the server: from now on its S3 port refuses connections."""
        if self._server is not None:
            self._server.stop(grace=15)
            self._server = None


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
