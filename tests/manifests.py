"""Offline checks of knative/ (SPEC §10.3): render with kustomize, validate against the strict
schemas in ../shared/schemas/, and lint what the Knative webhooks would reject but schemas miss."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from rpsquest.kustomize import render_text

REPO = Path(__file__).resolve().parents[1]
KNATIVE = REPO / "knative"
SCHEMA_ROOT = REPO.parent / "shared" / "schemas"
KNATIVE_CRDS = SCHEMA_ROOT / "knative"
K8S_SCHEMAS = SCHEMA_ROOT / "kubernetes" / "v1.34.0-local-strict"
K8S_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
NAMESPACE = "rps-quest"

# Trigger/Broker `delivery.timeout` (feature delivery-timeout: Beta, on by default) is not in the
# CRD's properties; the CRD keeps unknown delivery fields for it.
DELIVERY_EXTRAS = {"timeout": {"type": "string"}}

# SPEC §10.3.
MAX_SCALE = {"rps-start-game": "5", "rps-play": "10", "rps-train": "1", "rps-promote": "1"}
TIMEOUT_SECONDS = {"rps-start-game": 30, "rps-play": 30, "rps-train": 600, "rps-promote": 120}
THREADS = {"rps-start-game": "8", "rps-play": "8"}
RETAINED = {"rps-start-game", "rps-play"}
CLUSTER_LOCAL = {"rps-train", "rps-promote"}
SERVICES = set(MAX_SCALE)
RESERVED_PORTS = {8012, 8013, 8022, 8008, 9090, 9091}
RESERVED_ENV = {"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}  # and any other K_*
AUTOSCALING = "autoscaling.knative.dev/"
VISIBILITY = "networking.knative.dev/visibility"
KSVC = ("serving.knative.dev/v1", "Service")
CREDENTIAL = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|ACCESS_KEY|PRIVATE|CREDENTIAL|DATABASE_URL")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
WORKLOADS = {("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("batch/v1", "Job")}


# Knative CRDs.


def strict(schema: Any) -> Any:
    """Close every object the CRD describes: the API server would silently prune a typo."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if isinstance(schema.get("properties"), dict) and schema.get("type") == "object":
        if "backoffDelay" in schema["properties"]:
            closed["properties"] = {**closed["properties"], **DELIVERY_EXTRAS}
        closed.setdefault("additionalProperties", False)
    return closed


def crd_schemas(*folders: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version in the CRD files."""
    schemas = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version["served"]:
                    api = f"{group}/{version['name']}"
                    schemas[api, kind] = version["schema"]["openAPIV3Schema"]
    return schemas


@functools.cache
def knative_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    return crd_schemas(KNATIVE_CRDS / "serving", KNATIVE_CRDS / "eventing")


# Kubernetes JSON schemas.


def _api_version(gvk: dict[str, str]) -> str:
    return f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]


@functools.cache
def k8s_registry() -> Registry:
    resources = []
    for path in sorted(K8S_SCHEMAS.glob("*.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@functools.cache
def k8s_schema_files() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the schema of each per-kind file (not _definitions.json)."""
    found = {}
    for path in sorted(K8S_SCHEMAS.glob("*.json")):
        if path.name.startswith("_"):
            continue
        contents = json.loads(path.read_text())
        for gvk in contents.get("x-kubernetes-group-version-kind", []):
            found[_api_version(gvk), gvk["kind"]] = contents
    return found


@functools.cache
def k8s_definitions_by_kind() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> its $defs name in _definitions.json (covers kinds without a file)."""
    definitions = json.loads((K8S_SCHEMAS / "_definitions.json").read_text())["$defs"]
    found = {}
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            found.setdefault((_api_version(gvk), gvk["kind"]), name)
    return found


def k8s_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """The strict schema of a Kubernetes kind: its own file, else its entry in _definitions."""
    if (api_version, kind) in k8s_schema_files():
        return k8s_schema_files()[api_version, kind]
    name = k8s_definitions_by_kind().get((api_version, kind))
    return {"$ref": f"{K8S_DEFINITIONS}#/$defs/{name}"} if name else None


def _k8s_errors(instance: Any, schema: dict[str, Any]) -> Iterator[str]:
    validator = jsonschema.Draft202012Validator(schema, registry=k8s_registry())
    for error in validator.iter_errors(instance):
        yield f"{error.json_path}: {error.message}"


OBJECT_META = {"$ref": f"{K8S_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}


def name_of(document: dict[str, Any]) -> str:
    return f"{document.get('kind')}/{(document.get('metadata') or {}).get('name')}"


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Everything the strict schemas say about one document ([] when it is valid)."""
    api, kind = document.get("apiVersion"), document.get("kind")
    where = name_of(document)
    if not isinstance(api, str) or not isinstance(kind, str):
        return [f"{where}: no apiVersion/kind"]
    metadata = document.get("metadata")
    errors = [f"{where}: metadata{e[1:]}" for e in _k8s_errors(metadata, OBJECT_META)]
    if not isinstance(metadata, dict) or not metadata.get("name"):
        errors.append(f"{where}: no metadata.name")
    if (api, kind) in knative_schemas():
        schema = knative_schemas()[api, kind]
        body = {k: v for k, v in document.items() if k not in ("apiVersion", "kind", "metadata")}
        for validator in (
            jsonschema.Draft7Validator(schema),
            jsonschema.Draft7Validator(strict(schema)),
        ):
            errors += [f"{where}: {e.json_path}: {e.message}" for e in validator.iter_errors(body)]
        return sorted(set(errors))
    schema = k8s_schema(api, kind)
    if schema is None:
        return [*errors, f"{where}: no schema for {api} {kind}"]
    return errors + [f"{where}: {e}" for e in _k8s_errors(document, schema)]


# Rendering.


_render = functools.cache(render_text)  # one kubectl run per folder and session


def render(directory: Path) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize DIR` produces (a fresh copy each call)."""
    return [d for d in yaml.safe_load_all(_render(directory.resolve())) if d]


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# Semantic lint: the Knative webhook rules and SPEC §10.3 choices schemas do not express.


def _containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]


def _pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    key = (document.get("apiVersion"), document.get("kind"))
    if key == KSVC or key in WORKLOADS:
        return ((document.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def _env_errors(
    where: str, container: dict[str, Any], config_maps: dict[str, Any]
) -> Iterator[str]:
    for var in container.get("env") or []:
        name, value_from = var.get("name", ""), var.get("valueFrom") or {}
        if CREDENTIAL.search(name) and "secretKeyRef" not in value_from:
            yield f"{where}: env {name} is a credential but not read via secretKeyRef"
        if "value" in var and URL_WITH_PASSWORD.search(str(var["value"])):
            yield f"{where}: env {name} holds a literal password in a URL"
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            yield f"{where}: envFrom secretRef: credentials only via secretKeyRef"
        if "configMapRef" in source:
            ref = source["configMapRef"].get("name")
            if ref not in config_maps:
                yield f"{where}: envFrom names ConfigMap {ref}, which is not in the manifests"


def _reserved_env(where: str, names: Iterable[str]) -> Iterator[str]:
    for name in names:
        if name in RESERVED_ENV or name.startswith("K_"):
            yield f"{where}: env {name} is reserved by Knative"


def _annotation_errors(document: dict[str, Any], name: str) -> Iterator[str]:
    where = f"Service/{name}"
    outer = (document.get("metadata") or {}).get("annotations") or {}
    for key in outer:
        if key.startswith(AUTOSCALING):
            yield f"{where}: {key} on metadata, outside spec.template.metadata"
    template = (document.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    for key, value in annotations.items():
        if not isinstance(value, str):
            yield f"{where}: annotation {key} is {value!r}, not a quoted string"
    expected = {"min-scale": "0", "max-scale": MAX_SCALE.get(name)}
    if name in RETAINED:
        expected["scale-to-zero-pod-retention-period"] = "10m"
    for key, value in expected.items():
        actual = annotations.get(AUTOSCALING + key)
        if actual != value:
            yield f"{where}: {AUTOSCALING}{key} must be {value!r}, not {actual!r}"


def _ksvc_errors(document: dict[str, Any], config_maps: dict[str, Any]) -> Iterator[str]:
    name = (document.get("metadata") or {}).get("name", "")
    where = f"Service/{name}"
    if name not in SERVICES:
        yield f"{where}: not one of the SPEC §1 ksvc {sorted(SERVICES)}"
    yield from _annotation_errors(document, name)
    labels = (document.get("metadata") or {}).get("labels") or {}
    local = labels.get(VISIBILITY) == "cluster-local"
    if local != (name in CLUSTER_LOCAL):
        yield f"{where}: cluster-local must be {name in CLUSTER_LOCAL}, is {local}"
    spec = _pod_spec(document) or {}
    timeout = spec.get("timeoutSeconds")
    if not isinstance(timeout, int) or timeout > 600 or timeout != TIMEOUT_SECONDS.get(name):
        yield f"{where}: timeoutSeconds {timeout!r}, SPEC says {TIMEOUT_SECONDS.get(name)} (≤ 600)"
    containers = spec.get("containers") or []
    if len(containers) != 1:
        yield f"{where}: exactly one container, found {len(containers)}"
    for container in containers:
        ports = container.get("ports") or []
        if len(ports) != 1:
            yield f"{where}: exactly one container port, found {len(ports)}"
        env = {var.get("name"): var for var in container.get("env") or []}
        for knob in ("WORKERS", "THREADS"):
            if knob not in env:
                yield f"{where}: {knob} must be set explicitly"
        if name in THREADS and (env.get("THREADS") or {}).get("value") != THREADS[name]:
            yield f"{where}: THREADS must be {THREADS[name]!r}"
        resources = container.get("resources") or {}
        if not resources.get("requests") or not resources.get("limits"):
            yield f"{where}: resources need requests and limits"
        for probe in ("readinessProbe", "livenessProbe"):
            if ((container.get(probe) or {}).get("httpGet") or {}).get("path") != "/healthz":
                yield f"{where}: {probe} must be httpGet /healthz"
        image = str(container.get("image", ""))
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            yield f"{where}: image {image} has no pinned tag (set it in kustomization images:)"


def _sink_binding_errors(documents: list[dict[str, Any]]) -> Iterator[str]:
    bindings = [d for d in documents if d.get("kind") == "SinkBinding"]
    ksvcs = {
        d["metadata"]["name"]: d for d in documents if (d.get("apiVersion"), d.get("kind")) == KSVC
    }
    bound: set[str] = set()
    for binding in bindings:
        spec = binding.get("spec") or {}
        subject, sink = spec.get("subject") or {}, (spec.get("sink") or {}).get("ref") or {}
        if (subject.get("apiVersion"), subject.get("kind")) != KSVC:
            continue
        if (sink.get("kind"), sink.get("name")) != ("Broker", "default"):
            yield f"{name_of(binding)}: sink must be the Broker default"
            continue
        wanted = (subject.get("selector") or {}).get("matchLabels") or {}
        for name, ksvc in ksvcs.items():
            labels = ksvc["metadata"].get("labels") or {}
            if subject.get("name") == name or (wanted and wanted.items() <= labels.items()):
                bound.add(name)
    for name in sorted(SERVICES - bound):
        yield f"Service/{name}: no SinkBinding injects K_SINK (Broker default)"


def lint(documents: list[dict[str, Any]]) -> list[str]:
    """Problems the schemas cannot see, across the whole rendered set ([] when clean)."""
    errors: list[str] = []
    config_maps = {
        d["metadata"]["name"]: d
        for d in documents
        if (d.get("apiVersion"), d.get("kind")) == ("v1", "ConfigMap")
    }
    for name, config_map in config_maps.items():
        for key, value in (config_map.get("data") or {}).items():
            if CREDENTIAL.search(key) or URL_WITH_PASSWORD.search(str(value)):
                errors.append(f"ConfigMap/{name}: {key} looks like a credential; use a Secret")
    for document in documents:
        where = name_of(document)
        if document.get("kind") == "Secret":
            errors.append(f"{where}: Secrets only as placeholder *.example.yaml, never rendered")
        if (
            document.get("metadata", {}).get("namespace") != NAMESPACE
            and document.get("kind") != "Namespace"
        ):
            errors.append(f"{where}: namespace must be {NAMESPACE}")
        pod_spec = _pod_spec(document)
        if pod_spec is None:
            continue
        is_ksvc = (document.get("apiVersion"), document.get("kind")) == KSVC
        for container in _containers(pod_spec):
            errors += _env_errors(where, container, config_maps)
            if not is_ksvc:
                continue
            names = [var.get("name", "") for var in container.get("env") or []]
            for source in container.get("envFrom") or []:
                ref = (source.get("configMapRef") or {}).get("name")
                names += list((config_maps.get(ref) or {}).get("data") or {})
            errors += _reserved_env(where, names)
            for port in container.get("ports") or []:
                if port.get("containerPort") in RESERVED_PORTS:
                    errors.append(f"{where}: containerPort {port['containerPort']} is reserved")
        if is_ksvc:
            errors += _ksvc_errors(document, config_maps)
    ksvcs = {
        d["metadata"]["name"] for d in documents if (d.get("apiVersion"), d.get("kind")) == KSVC
    }
    if ksvcs != SERVICES:
        errors.append(f"ksvc {sorted(ksvcs)} differ from SPEC §1 {sorted(SERVICES)}")
    errors += _sink_binding_errors(documents)
    errors += subscriber_errors(documents, ksvcs)
    return errors


def subscriber_errors(documents: list[dict[str, Any]], ksvcs: set[str]) -> list[str]:
    """Every Trigger subscriber and Broker dead-letter ref names a ksvc that exists."""
    errors = []
    for document in documents:
        spec = document.get("spec") or {}
        refs = []
        if document.get("kind") == "Trigger":
            refs.append((spec.get("subscriber") or {}).get("ref") or {})
        if document.get("kind") == "Broker":
            refs.append(((spec.get("delivery") or {}).get("deadLetterSink") or {}).get("ref") or {})
        for ref in refs:
            if (ref.get("apiVersion"), ref.get("kind")) == KSVC and ref.get("name") not in ksvcs:
                errors.append(
                    f"{name_of(document)}: subscriber ksvc {ref.get('name')} is not defined"
                )
    return errors


def problems(documents: list[dict[str, Any]]) -> list[str]:
    """Schema errors of every document plus the lint of the set."""
    found = [error for document in documents for error in schema_errors(document)]
    return found + lint(documents)
