"""Operator CLI: `python -m rpsquest.ops [--namespace N] [--kubeconfig PATH] <command>`.

Reads Knative objects with the official `kubernetes` client (CustomObjectsApi on
serving.knative.dev/v1 and eventing.knative.dev/v1; no Knative client library) and calls the
functions' admin routes through each ksvc's `status.url` with the bearer from RPS_ADMIN_TOKEN.

  status      each ksvc: Ready, latest ready revision, traffic split, replicas
  train       send io.rpsquest.training.requested to the Broker `default`
  aliases     promote's GET /aliases          promotions  promote's GET /promotions
  reload      play's POST /reload (check the manifest now)

train and promote are cluster-local: from a laptop, port-forward and pass --url (see
docs/operations.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from kubernetes import client, config
from rich.console import Console
from rich.table import Table

from rpsquest.events import TRAINING_REQUESTED, new_event, send

NAMESPACE = "rps-quest"
SERVICES = ("rps-start-game", "rps-play", "rps-train", "rps-promote")
BROKER = "default"
_SERVING = ("serving.knative.dev", "v1")
_EVENTING = ("eventing.knative.dev", "v1")
_TIMEOUT = 15


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


# --- the Kubernetes API --------------------------------------------------------------------


def api_client(kubeconfig: str | None) -> client.ApiClient:
    """In a pod without --kubeconfig: the service account; otherwise the kubeconfig file."""
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    return config.new_client_from_config(config_file=kubeconfig)


def _list(api: client.ApiClient, group: tuple[str, str], namespace: str, plural: str) -> list:
    objects = client.CustomObjectsApi(api).list_namespaced_custom_object(*group, namespace, plural)
    return objects.get("items", [])


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


def _traffic_text(traffic: Sequence[TrafficTarget]) -> str:
    return ", ".join(
        f"{t.revision} {t.percent}%" + (f" (tag {t.tag})" if t.tag else "") for t in traffic
    )


def status_table(summaries: Sequence[ServiceSummary], namespace: str) -> Table:
    table = Table(title=f"Knative Services in {namespace}")
    for column in ("ksvc", "Ready", "latest ready revision", "traffic", "replicas", "url"):
        table.add_column(column)
    for s in summaries:
        ready = s.ready if not s.reason else f"{s.ready}: {s.reason}"
        replicas = "?" if s.replicas is None else str(s.replicas)
        table.add_row(
            s.name,
            ready,
            s.latest_ready_revision or "-",
            _traffic_text(s.traffic) or "-",
            replicas,
            s.url or "-",
        )
    return table


# --- admin routes and events ----------------------------------------------------------------


def _bearer() -> dict[str, str]:
    token = os.environ.get("RPS_ADMIN_TOKEN")
    if not token:
        raise SystemExit("Set RPS_ADMIN_TOKEN to the admin bearer (the rps-admin Secret).")
    return {"Authorization": f"Bearer {token}"}


def admin_call(
    method: str, base_url: str, path: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    url = base_url.rstrip("/") + path
    reply = requests.request(method, url, headers=_bearer(), params=params, timeout=_TIMEOUT)
    if not reply.ok:
        raise SystemExit(f"{method} {url} answered {reply.status_code}: {reply.text[:300]}")
    return reply.json()


def request_training(sink: str, force: bool, families: Sequence[str]) -> str:
    """Send io.rpsquest.training.requested (binary mode) to the Broker; return the event id."""
    data: dict[str, Any] = {"force": force}
    if families:
        data["families"] = list(families)
    event = new_event("ops", TRAINING_REQUESTED, data, subject="manual")
    send(sink, event)
    return str(event["id"])


def aliases_table(body: Mapping[str, Any]) -> Table:
    table = Table(
        title=f"Aliases (manifest {body.get('manifest_version')}, {body.get('feature_contract')})"
    )
    columns = ("family", "alias", "version", "config_id", "games", "bot_win_rate")
    for column in (*columns, "predictions", "accuracy"):
        table.add_column(column)
    for row in body.get("aliases", []):
        table.add_row(
            *(_cell(row.get(column)) for column in columns),
            _cell(row.get("predictions")),
            _cell(row.get("accuracy")),
        )
    return table


def promotions_table(body: Mapping[str, Any]) -> Table:
    table = Table(title=f"Promotion ledger ({body.get('count', 0)} rows, newest first)")
    for column in ("id", "created_at", "family", "decision", "reorder", "changes", "reason"):
        table.add_column(column)
    for row in body.get("promotions", []):
        table.add_row(
            _cell(row.get("id")),
            _cell(row.get("created_at")),
            _cell(row.get("family")),
            _cell(row.get("decision")),
            _cell(row.get("reorder_applied")),
            _changes(row.get("before") or {}, row.get("after") or {}),
            _cell(row.get("reason")),
        )
    return table


def reload_table(body: Mapping[str, Any]) -> Table:
    table = Table(title=f"play: manifest {body.get('manifest_version')}")
    for column in ("family", "alias", "version", "config_id", "loaded_at"):
        table.add_column(column)
    for row in body.get("loaded", []):
        table.add_row(
            *(_cell(row.get(c)) for c in ("family", "alias", "version", "config_id")),
            _cell(row.get("loaded_at")),
        )
    if body.get("last_error"):
        table.caption = f"last_error: {body['last_error']}"
    return table


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    moved = [
        f"{alias} {before.get(alias)}→{after.get(alias)}"
        for alias in after
        if before.get(alias) != after.get(alias)
    ]
    return ", ".join(moved) or "-"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


# --- the command line -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rpsquest.ops",
        description="Operate RPS Quest on a cluster: ksvc status, training, aliases, reloads.",
    )
    parser.add_argument("--namespace", default=NAMESPACE)
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="each ksvc: Ready, revision, traffic, replicas")
    train = commands.add_parser("train", help="send training.requested to the Broker")
    train.add_argument("--force", action="store_true", help="train even without new rounds")
    train.add_argument("--family", action="append", default=[], dest="families")
    train.add_argument("--url", help="Broker ingress URL instead of status.address.url")
    aliases = commands.add_parser("aliases", help="promote's alias table")
    aliases.add_argument("--url", help="promote's base URL instead of the ksvc status.url")
    promotions = commands.add_parser("promotions", help="promote's ledger, newest first")
    promotions.add_argument("--limit", type=int, default=20)
    promotions.add_argument("--family")
    promotions.add_argument("--url", help="promote's base URL instead of the ksvc status.url")
    reload = commands.add_parser("reload", help="play: check the serving manifest now")
    reload.add_argument("--url", help="play's base URL instead of the ksvc status.url")
    return parser


def run(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    args = _parser().parse_args(argv)
    console = console or Console()
    namespace = args.namespace
    url = getattr(args, "url", None)
    api = None if url else api_client(args.kubeconfig)

    if args.command == "status":
        console.print(status_table(service_summaries(api, namespace), namespace))
    elif args.command == "train":
        sink = url or broker_url(api, namespace)
        event_id = request_training(sink, args.force, args.families)
        console.print(f"Sent {TRAINING_REQUESTED} {event_id} to {sink}")
    elif args.command == "aliases":
        body = admin_call("GET", url or service_url(api, namespace, "rps-promote"), "/aliases")
        console.print(aliases_table(body))
    elif args.command == "promotions":
        params = {"limit": args.limit} | ({"family": args.family} if args.family else {})
        base = url or service_url(api, namespace, "rps-promote")
        console.print(promotions_table(admin_call("GET", base, "/promotions", params)))
    elif args.command == "reload":
        body = admin_call("POST", url or service_url(api, namespace, "rps-play"), "/reload")
        console.print(reload_table(body))
    return 0


if __name__ == "__main__":
    sys.exit(run())
