"""Operator CLI: `python -m rpsquest.ops [--namespace N] [--kubeconfig PATH] <command>`.

Reads Knative objects with the official `kubernetes` client (CustomObjectsApi on
serving.knative.dev/v1 and eventing.knative.dev/v1; no Knative client library) and calls the
functions' admin routes through each ksvc's `status.url` with the bearer from RPS_ADMIN_TOKEN.

  status        each ksvc: Ready, latest ready revision, traffic split, replicas
  train         send io.rpsquest.training.requested to the Broker `default`
  evaluate      promote's POST /run           swap (rollback)   promote's POST /promote
  telemetry     train's POST /telemetry       reload            play's POST /reload
  aliases       promote's GET /aliases        promotions        promote's GET /promotions
  dead-letters  promote's GET /dead-letters   replay            promote's POST /dead-letters/replay

A family may be named by its bot too (brian = feedforward, forrest = xgboost, logan =
logistic). train and promote are cluster-local: from a laptop, port-forward and pass --url (see
docs/operations.md). knative/base/rbac.yaml grants the Kubernetes calls made here, no others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import requests
from kubernetes import client, config
from rich.console import Console, RenderableType
from rich.table import Table

from rpsquest.events import TRAINING_REQUESTED, new_event, send
from rpsquest.game.policies import FAMILY_BY_POLICY, FAMILY_NAMES

NAMESPACE = "rps-quest"
SERVICES = ("rps-start-game", "rps-play", "rps-train", "rps-promote")
BROKER = "default"
_SERVING = ("serving.knative.dev", "v1")
_EVENTING = ("eventing.knative.dev", "v1")
_TIMEOUT = 15
# Calls that do work wait as long as the ksvc may take: train's timeoutSeconds is 600.
_WORK_TIMEOUT = 600


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
        raise SystemExit(
            "Set RPS_ADMIN_TOKEN to the admin bearer (key admin-token of Secret rps-secrets)."
        )
    return {"Authorization": f"Bearer {token}"}


def admin_call(
    method: str,
    base_url: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    timeout: float = _TIMEOUT,
) -> dict[str, Any]:
    url = base_url.rstrip("/") + path
    reply = requests.request(
        method, url, headers=_bearer(), params=params, json=body, timeout=timeout
    )
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


def promoted_table(body: Mapping[str, Any]) -> RenderableType:
    """What promote's POST /run or POST /promote changed: the model.promoted data."""
    if not body.get("changed"):
        return "No change: the serving manifest stays as it is."
    table = Table(
        title=f"Manifest {_cell(body.get('previous_manifest_version'))} → "
        f"{body.get('manifest_version')} ({body.get('reason')})"
    )
    columns = ("family", "alias", "from_version", "to_version", "config_id")
    for column in columns:
        table.add_column(column)
    for change in body.get("changes", []):
        table.add_row(*(_cell(change.get(column)) for column in columns))
    if body.get("event_delivered") is False:
        table.caption = "model.promoted did not reach the Broker: play reads the manifest anyway"
    return table


def telemetry_table(body: Mapping[str, Any]) -> Table:
    title = (
        f"Telemetry against {body.get('policy')}: {body.get('games')} games, "
        f"bot win rate {_cell(body.get('bot_win_rate'))}"
    )
    table = Table(title=title, min_width=len(title))  # the columns alone are narrower
    for column in ("player", "winner", "rounds"):
        table.add_column(column)
    for row in body.get("results", []):
        table.add_row(*(_cell(row.get(c)) for c in ("player", "winner", "rounds")))
    return table


def dead_letters_table(body: Mapping[str, Any]) -> Table:
    table = Table(title=f"Dead letters ({body.get('count', 0)} rows, newest first)")
    columns = ("id", "received_at", "type", "source", "event_id", "replayed_at")
    for column in (*columns, "data"):
        table.add_column(column)
    for row in body.get("dead_letters", []):
        data = json.dumps(row.get("data"), separators=(",", ":"))
        table.add_row(*(_cell(row.get(column)) for column in columns), data)
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

Api = client.ApiClient | None  # None when --url makes the Kubernetes API unnecessary


def family_name(name: str) -> str:
    """argparse type of --family: a family, or the ML bot that plays it (brian = feedforward)."""
    name = name.strip().lower()
    if name in FAMILY_NAMES:
        return name
    if name in FAMILY_BY_POLICY:
        return FAMILY_BY_POLICY[name].name
    bots = ", ".join(f"{policy} = {family.name}" for policy, family in FAMILY_BY_POLICY.items())
    raise argparse.ArgumentTypeError(
        f"unknown family {name!r}: choose one of {', '.join(FAMILY_NAMES)} (or a bot: {bots})"
    )


def _cluster(api: Api) -> client.ApiClient:
    """The Kubernetes client, which main() makes whenever there is no --url."""
    if api is None:
        raise RuntimeError("a command without --url needs the Kubernetes API")
    return api


def _base(args: argparse.Namespace, api: Api, service: str = "rps-promote") -> str:
    """The function's base URL: --url, else its ksvc's status.url."""
    return args.url or service_url(_cluster(api), args.namespace, service)


def _status(args: argparse.Namespace, api: Api) -> RenderableType:
    return status_table(service_summaries(_cluster(api), args.namespace), args.namespace)


def _train(args: argparse.Namespace, api: Api) -> RenderableType:
    sink = args.url or broker_url(_cluster(api), args.namespace)
    event_id = request_training(sink, args.force, args.families)
    return f"Sent {TRAINING_REQUESTED} {event_id} to {sink}"


def _evaluate(args: argparse.Namespace, api: Api) -> RenderableType:
    body = {"families": args.families} if args.families else {}
    return promoted_table(
        admin_call("POST", _base(args, api), "/run", body=body, timeout=_WORK_TIMEOUT)
    )


def _swap(args: argparse.Namespace, api: Api) -> RenderableType:
    body = {"family": args.family}
    return promoted_table(
        admin_call("POST", _base(args, api), "/promote", body=body, timeout=_WORK_TIMEOUT)
    )


def _telemetry(args: argparse.Namespace, api: Api) -> RenderableType:
    base = _base(args, api, "rps-train")
    body = {"games": args.games} if args.games is not None else {}
    return telemetry_table(admin_call("POST", base, "/telemetry", body=body, timeout=_WORK_TIMEOUT))


def _aliases(args: argparse.Namespace, api: Api) -> RenderableType:
    return aliases_table(admin_call("GET", _base(args, api), "/aliases"))


def _promotions(args: argparse.Namespace, api: Api) -> RenderableType:
    params = {"limit": args.limit} | ({"family": args.family} if args.family else {})
    return promotions_table(admin_call("GET", _base(args, api), "/promotions", params))


def _dead_letters(args: argparse.Namespace, api: Api) -> RenderableType:
    params = {"limit": args.limit}
    return dead_letters_table(admin_call("GET", _base(args, api), "/dead-letters", params))


def _replay(args: argparse.Namespace, api: Api) -> RenderableType:
    body = admin_call("POST", _base(args, api), "/dead-letters/replay", body={"id": args.id})
    return (
        f"Replayed dead letter {body.get('id')} ({body.get('type')} {body.get('event_id')}) "
        f"to {body.get('sink')} at {body.get('replayed_at')}"
    )


def _reload(args: argparse.Namespace, api: Api) -> RenderableType:
    base = _base(args, api, "rps-play")
    return reload_table(admin_call("POST", base, "/reload"))


def command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rpsquest.ops",
        description="Operate RPS Quest on a cluster: ksvc status, training, promotion, telemetry, "
        "dead letters, reloads.",
    )
    parser.add_argument("--namespace", default=NAMESPACE)
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config")
    commands = parser.add_subparsers(dest="command", required=True)
    family = {"type": family_name, "metavar": "FAMILY"}

    def command(name: str, handler: Any, summary: str, url: str | None, **extra: Any) -> Any:
        """A subcommand; `url` names what its --url replaces (for port-forwards)."""
        sub = commands.add_parser(name, help=summary, **extra)
        sub.set_defaults(handler=handler)
        if url:
            sub.add_argument("--url", help=f"{url}, instead of the one the cluster reports")
        return sub

    command("status", _status, "each ksvc: Ready, revision, traffic, replicas", None)
    train = command(
        "train", _train, "send training.requested to the Broker", "the Broker's ingress URL"
    )
    train.add_argument("--force", action="store_true", help="train even without new rounds")
    train.add_argument("--family", action="append", default=[], dest="families", **family)
    evaluate = command("evaluate", _evaluate, "promote: evaluate now", "promote's base URL")
    evaluate.add_argument("--family", action="append", default=[], dest="families", **family)
    swap = command(
        "swap",
        _swap,
        "promote: swap a family's Production and B now (a promotion, or its rollback)",
        "promote's base URL",
        aliases=["rollback"],
    )
    swap.add_argument("family", **family)
    telemetry = command("telemetry", _telemetry, "train: play telemetry games", "train's base URL")
    telemetry.add_argument("--games", type=int, help="default: RPS_TELEMETRY_GAMES")
    command("aliases", _aliases, "promote's alias table", "promote's base URL")
    promotions = command("promotions", _promotions, "promote's ledger", "promote's base URL")
    promotions.add_argument("--limit", type=int, default=20)
    promotions.add_argument("--family", **family)
    letters = command(
        "dead-letters", _dead_letters, "events the Broker gave up on", "promote's base URL"
    )
    letters.add_argument("--limit", type=int, default=20)
    replay = command(
        "replay", _replay, "send a dead letter to the Broker again", "promote's base URL"
    )
    replay.add_argument("id", type=int, help="the dead letter's id (see dead-letters)")
    command("reload", _reload, "play: check the serving manifest now", "play's base URL")
    return parser


def run(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    args = command_parser().parse_args(argv)
    api = None if getattr(args, "url", None) else api_client(args.kubeconfig)
    (console or Console()).print(args.handler(args, api))
    return 0


if __name__ == "__main__":
    sys.exit(run())
