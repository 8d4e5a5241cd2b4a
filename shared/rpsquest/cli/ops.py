"""Operator CLI: `rps-ops [--namespace N] [--kubeconfig PATH] <command>`.

Reads the Knative objects through `rpsquest.cluster` and calls the functions' admin routes
through each ksvc's `status.url` with the bearer from RPS_ADMIN_TOKEN.

  status        each ksvc: Ready, latest ready revision, traffic split, replicas
  train         send io.rpsquest.training.requested to the Broker `default`
  evaluate      promote's POST /run           swap (rollback)   promote's POST /promote
  telemetry     train's POST /telemetry       reload            play's POST /reload
  aliases       promote's GET /aliases        promotions        promote's GET /promotions
  dead-letters  promote's GET /dead-letters   replay            promote's POST /dead-letters/replay
  gc            promote's POST /gc: retention (--dry-run prints the plan and deletes nothing)

A family may be named by its bot too (brian = feedforward, forrest = xgboost, logan =
logistic). train and promote are cluster-local: from a laptop, port-forward and pass --url (see
docs/operations.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from kubernetes.client import ApiClient
from rich.console import Console, Group, RenderableType
from rich.table import Table

from rpsquest.cluster import (
    NAMESPACE,
    ServiceSummary,
    TrafficTarget,
    api_client,
    broker_url,
    service_summaries,
    service_url,
)
from rpsquest.events import TRAINING_REQUESTED, new_event, send
from rpsquest.game.policies import FAMILY_BY_POLICY, FAMILY_NAMES

_TIMEOUT = 15
# Calls that do work wait as long as the ksvc may take: train's timeoutSeconds is 600.
_WORK_TIMEOUT = 600


# --- status ---------------------------------------------------------------------------------


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
    for column in (*columns, "predictions", "accuracy", "arena_headline"):
        table.add_column(column)
    for row in body.get("aliases", []):
        table.add_row(
            *(_cell(row.get(column)) for column in columns),
            _cell(row.get("predictions")),
            _cell(row.get("accuracy")),
            _cell(row.get("arena_headline")),
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


def retention_tables(body: Mapping[str, Any]) -> RenderableType:
    """promote's retention plan: each version and artifact, kept or deleted, and why."""
    dry_run = bool(body.get("dry_run"))
    gone = "would delete" if dry_run else "deleted"
    kept, deleted = body.get("kept", {}), body.get("deleted", {})
    title = (
        f"Retention{' plan (dry run)' if dry_run else ''}: the newest "
        f"{body.get('keep_per_lineage')} of each lineage and everything referenced are kept; "
        f"{kept.get('versions')} MLflow versions kept, {deleted.get('versions')} {gone}"
    )
    versions = Table(title=title, min_width=len(title))  # the columns alone may be narrower
    for column in ("family", "version", "config_id", "action", "reasons"):
        versions.add_column(column)
    for row in body.get("versions", []):
        versions.add_row(
            *(_cell(row.get(column)) for column in ("family", "version", "config_id")),
            "keep" if row.get("keep") else gone,
            "; ".join(row.get("reasons", [])),
        )
    artifacts = Table(
        title=f"ONNX artifacts: {kept.get('artifacts')} kept, {deleted.get('artifacts')} {gone}"
    )
    for column in ("key", "action", "reasons"):
        artifacts.add_column(column)
    for row in body.get("artifacts", []):
        action = "keep" if row.get("keep") else gone
        artifacts.add_row(_cell(row.get("key")), action, "; ".join(row.get("reasons", [])))
    return Group(versions, artifacts)


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

Api = ApiClient | None  # None when --url makes the Kubernetes API unnecessary


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


def _cluster(api: Api) -> ApiClient:
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


def _gc(args: argparse.Namespace, api: Api) -> RenderableType:
    body = {"dry_run": args.dry_run}
    return retention_tables(
        admin_call("POST", _base(args, api), "/gc", body=body, timeout=_WORK_TIMEOUT)
    )


def _reload(args: argparse.Namespace, api: Api) -> RenderableType:
    base = _base(args, api, "rps-play")
    return reload_table(admin_call("POST", base, "/reload"))


def command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rps-ops",
        description="Operate RPS Quest on a cluster: ksvc status, training, promotion, telemetry, "
        "dead letters, retention, reloads.",
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
    gc = command(
        "gc",
        _gc,
        "promote: delete the artifacts and MLflow versions nothing needs (retention)",
        "promote's base URL",
    )
    gc.add_argument("--dry-run", action="store_true", help="print the plan; delete nothing")
    command("reload", _reload, "play: check the serving manifest now", "play's base URL")
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    args = command_parser().parse_args(argv)
    api = None if getattr(args, "url", None) else api_client(args.kubeconfig)
    (console or Console()).print(args.handler(args, api))
    return 0


if __name__ == "__main__":
    sys.exit(main())
