"""The cluster as operators read it: our Knative Services, their revisions and the Broker,
through the official `kubernetes` client (CustomObjectsApi on serving.knative.dev/v1 and
eventing.knative.dev/v1; no Knative client library). knative/base/rbac.yaml grants these calls,
no others."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config

NAMESPACE = "rps-quest"
SERVICES = ("rps-start-game", "rps-play", "rps-train", "rps-promote")
BROKER = "default"
_SERVING = ("serving.knative.dev", "v1")
_EVENTING = ("eventing.knative.dev", "v1")


@dataclass(frozen=True, slots=True)
class TrafficTarget:
    revision: str
    percent: int
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    """One ksvc as `status` prints it."""

    name: str
    ready: str  # the Ready condition's status: True, False or Unknown
    reason: str  # why not Ready, empty when Ready
    url: str | None
    latest_ready_revision: str | None
    traffic: tuple[TrafficTarget, ...]
    replicas: int | None  # over the revisions that take traffic; None when unknown


# --- reading the API ------------------------------------------------------------------------


def api_client(kubeconfig: str | None) -> client.ApiClient:
    """In a pod without --kubeconfig: the service account; otherwise the kubeconfig file."""
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    return config.new_client_from_config(config_file=kubeconfig)


def _list(api: client.ApiClient, group: tuple[str, str], namespace: str, plural: str) -> list:
    objects = client.CustomObjectsApi(api).list_namespaced_custom_object(*group, namespace, plural)
    return cast(dict[str, Any], objects).get("items", [])  # the client types it as `object`


def _get(api: client.ApiClient, group: tuple[str, str], namespace: str, plural: str, name: str):
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        *group, namespace, plural, name
    )


def service_url(api: client.ApiClient, namespace: str, name: str) -> str:
    """The ksvc's status.url: public for start_game/play, cluster-local for train/promote."""
    url = _get(api, _SERVING, namespace, "services", name).get("status", {}).get("url")
    if not url:
        raise SystemExit(f"ksvc {name} has no status.url yet (not Ready?)")
    return url


def broker_url(api: client.ApiClient, namespace: str, name: str = BROKER) -> str:
    """The Broker's ingress URL, from status.address.url."""
    broker = _get(api, _EVENTING, namespace, "brokers", name)
    url = broker.get("status", {}).get("address", {}).get("url")
    if not url:
        raise SystemExit(f"Broker {name} has no status.address.url yet (not Ready?)")
    return url


# --- status ---------------------------------------------------------------------------------


def _ready(status: Mapping[str, Any]) -> tuple[str, str]:
    for condition in status.get("conditions", []):
        if condition.get("type") == "Ready":
            state = condition.get("status", "Unknown")
            why = "" if state == "True" else condition.get("message") or condition.get("reason", "")
            return state, why
    return "Unknown", "no Ready condition yet"


def _traffic(status: Mapping[str, Any]) -> tuple[TrafficTarget, ...]:
    return tuple(
        TrafficTarget(
            revision=target.get("revisionName", "?"),
            percent=int(target.get("percent", 0)),
            tag=target.get("tag"),
        )
        for target in status.get("traffic", [])
    )


def _replicas(revisions: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> int | None:
    """actualReplicas from the revisions' status; None when no revision reports it."""
    counts = [revisions.get(name, {}).get("status", {}).get("actualReplicas") for name in names]
    known = [count for count in counts if count is not None]
    return sum(known) if known else None


def _pod_count(api: client.ApiClient, namespace: str, service: str) -> int:
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"serving.knative.dev/service={service}"
    )
    return sum(1 for pod in pods.items if pod.status and pod.status.phase == "Running")


def summarise(
    service: Mapping[str, Any], revisions: Mapping[str, Mapping[str, Any]]
) -> ServiceSummary:
    status = service.get("status", {})
    ready, reason = _ready(status)
    traffic = _traffic(status)
    serving = [target.revision for target in traffic if target.percent > 0]
    return ServiceSummary(
        name=service["metadata"]["name"],
        ready=ready,
        reason=reason,
        url=status.get("url"),
        latest_ready_revision=status.get("latestReadyRevisionName"),
        traffic=traffic,
        replicas=_replicas(revisions, serving),
    )


def service_summaries(api: client.ApiClient, namespace: str) -> list[ServiceSummary]:
    """Our four ksvc (those that exist), replicas counted from pods when revisions say nothing."""
    revisions = {r["metadata"]["name"]: r for r in _list(api, _SERVING, namespace, "revisions")}
    services = {s["metadata"]["name"]: s for s in _list(api, _SERVING, namespace, "services")}
    summaries = []
    for name in (name for name in SERVICES if name in services):
        summary = summarise(services[name], revisions)
        if summary.replicas is None:
            summary = _with_replicas(summary, _pod_count(api, namespace, name))
        summaries.append(summary)
    return summaries


def _with_replicas(summary: ServiceSummary, replicas: int) -> ServiceSummary:
    fields = {name: getattr(summary, name) for name in ServiceSummary.__slots__}
    return ServiceSummary(**{**fields, "replicas": replicas})
