"""rps-ops against a test double of the Kubernetes API server (not a real cluster).

One local HTTP server plays three parts: the subset of the Kubernetes API the CLI reads
(Knative services, revisions, the Broker, pods), the Broker ingress that `train` posts to, and
the functions' admin routes that the ksvc status.url values point at. What the CLI asks of the
Kubernetes API, recorded there, is what the operator's Role must grant (and all it may grant).
"""

from __future__ import annotations

import argparse
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rich.console import Console

from rpsquest.cli import ops
from rpsquest.cluster import summarise
from rpsquest.events import TRAINING_REQUESTED
from tests.manifests import KNATIVE, load, render

TOKEN = "test-admin-token"
SERVING = "/apis/serving.knative.dev/v1/namespaces/rps-quest"
EVENTING = "/apis/eventing.knative.dev/v1/namespaces/rps-quest"


@dataclass
class Seen:
    """What the CLI sent, for the tests to inspect."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeCluster:
    url: str
    seen: list[Seen] = field(default_factory=list)

    def requests_to(self, prefix: str) -> list[Seen]:
        return [request for request in self.seen if request.path.startswith(prefix)]


def _ksvc(name: str, base: str, ready: bool, traffic: list[dict[str, Any]]) -> dict[str, Any]:
    condition = {"type": "Ready", "status": "True"}
    if not ready:
        condition = {
            "type": "Ready",
            "status": "False",
            "reason": "RevisionMissing",
            "message": "Revision rps-train-00002 failed",
        }
    return {
        "metadata": {"name": name, "namespace": "rps-quest"},
        "status": {
            "url": f"{base}/{name}",
            "latestReadyRevisionName": traffic[0]["revisionName"],
            "conditions": [condition],
            "traffic": traffic,
        },
    }


def _revision(name: str, service: str, actual: int | None) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True"}]}
    if actual is not None:
        status["actualReplicas"] = actual
    return {
        "metadata": {"name": name, "labels": {"serving.knative.dev/service": service}},
        "status": status,
    }


def _objects(base: str) -> dict[str, Any]:
    """The Kubernetes objects the double serves, by API path."""
    play_split = [
        {"revisionName": "rps-play-00002", "percent": 90, "latestRevision": True},
        {"revisionName": "rps-play-00001", "percent": 10, "tag": "previous"},
    ]
    services = [
        _ksvc("rps-play", base, True, play_split),
        _ksvc("rps-promote", base, True, [{"revisionName": "rps-promote-00001", "percent": 100}]),
        _ksvc("rps-train", base, False, [{"revisionName": "rps-train-00001", "percent": 100}]),
        _ksvc("unrelated", base, True, [{"revisionName": "unrelated-00001", "percent": 100}]),
    ]
    revisions = [
        _revision("rps-play-00001", "rps-play", 1),
        _revision("rps-play-00002", "rps-play", 2),
        _revision("rps-promote-00001", "rps-promote", 0),
        _revision("rps-train-00001", "rps-train", None),  # no actualReplicas: count pods
    ]
    running = {
        "metadata": {"name": "rps-train-00001-deployment-abc"},
        "status": {"phase": "Running"},
    }
    paths: dict[str, Any] = {
        f"{SERVING}/services": {"apiVersion": "serving.knative.dev/v1", "items": services},
        f"{SERVING}/revisions": {"apiVersion": "serving.knative.dev/v1", "items": revisions},
        "/api/v1/namespaces/rps-quest/pods": {
            "kind": "PodList",
            "apiVersion": "v1",
            "items": [running],
        },
        f"{EVENTING}/brokers/default": {
            "metadata": {"name": "default"},
            "status": {"address": {"url": f"{base}/broker/rps-quest/default"}},
        },
    }
    for service in services:
        paths[f"{SERVING}/services/{service['metadata']['name']}"] = service
    return paths


ALIASES = {
    "manifest_version": 7,
    "feature_contract": "rps50-v3",
    "aliases": [
        {
            "family": "feedforward",
            "alias": "Production",
            "version": 3,
            "config_id": "ff-1",
            "games": 42,
            "bot_win_rate": 0.6190476,
            "predictions": 400,
            "accuracy": 0.41,
            "arena_headline": 0.875,
        }
    ],
}
PROMOTIONS = {
    "promotions": [
        {
            "id": 12,
            "created_at": "2026-01-01T10:00:00Z",
            "family": "xgboost",
            "decision": "promote_b",
            "reorder_applied": False,
            "before": {"Production": 2, "B": 5},
            "after": {"Production": 5, "B": 2},
            "reason": "P(B better) 0.963 >= 0.95",
        }
    ],
    "count": 1,
}
RELOAD = {
    "manifest_version": 7,
    "checked_at": "2026-01-01T10:00:01Z",
    "loaded": [{"family": "logistic", "alias": "B", "version": 4, "config_id": "lr-2"}],
    "last_error": "manifest sha256 mismatch for xgboost/shadow1",
}
PROMOTED = {
    "changed": True,
    "manifest_version": 8,
    "previous_manifest_version": 7,
    "reason": "promotion",
    "changes": [
        {
            "family": "logistic",
            "alias": "Production",
            "from_version": 3,
            "to_version": 4,
            "config_id": "lr-2",
        }
    ],
    "ledger_ids": [13],
    "event_delivered": False,
}
TELEMETRY = {
    "policy": "forrest",
    "games": 2,
    "results": [
        {"player": "Ace", "winner": "bot", "rounds": 14},
        {"player": "Bob", "winner": "user", "rounds": 17},
    ],
    "bot_win_rate": 0.5,
}
DEAD_LETTERS = {
    "dead_letters": [
        {
            "id": 7,
            "received_at": "2026-01-01T09:00:00.000Z",
            "event_id": "lost-7",
            "type": TRAINING_REQUESTED,
            "source": "/rpsquest/ops",
            "data": {"families": ["brian"]},
            "replayed_at": None,
        }
    ],
    "count": 1,
}
REPLAYED = {**DEAD_LETTERS["dead_letters"][0], "replayed_at": "2026-01-01T10:00:00.000Z"}
RETENTION = {
    "dry_run": True,
    "keep_per_lineage": 3,
    "kept": {"versions": 1, "artifacts": 1},
    "deleted": {"versions": 1, "artifacts": 1},
    "versions": [
        {
            "family": "xgboost",
            "version": 3,
            "config_id": "xgb_c07",
            "keep": False,
            "reasons": ["older than the newest 3 of xgb_c07"],
        },
        {
            "family": "xgboost",
            "version": 9,
            "config_id": "xgb_c07",
            "keep": True,
            "reasons": ["manifest 4: Production", "newest 3 of xgb_c07"],
        },
    ],
    "artifacts": [
        {
            "key": "artifacts/xgboost/xgb_c07/aa.onnx",
            "keep": False,
            "reasons": ["named only by versions not kept"],
        },
        {
            "key": "artifacts/xgboost/xgb_c07/bb.onnx",
            "keep": True,
            "reasons": ["manifest 4: xgboost Production"],
        },
    ],
}
ADMIN_REPLIES = {
    ("GET", "/rps-promote/aliases"): ALIASES,
    ("GET", "/rps-promote/promotions"): PROMOTIONS,
    ("POST", "/rps-promote/run"): PROMOTED,
    ("POST", "/rps-promote/promote"): PROMOTED,
    ("GET", "/rps-promote/dead-letters"): DEAD_LETTERS,
    ("POST", "/rps-promote/dead-letters/replay"): REPLAYED | {"sink": "http://broker/"},
    ("POST", "/rps-train/telemetry"): TELEMETRY,
    ("POST", "/rps-play/reload"): RELOAD,
    ("POST", "/rps-promote/gc"): RETENTION,
}


def _handler(cluster: FakeCluster, objects: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _reply(self, status: int, body: Any = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            cluster.seen.append(
                Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {key.lower(): value for key, value in self.headers.items()},
                    self.rfile.read(length),
                )
            )
            if self.command == "GET" and parts.path in objects:
                return self._reply(200, objects[parts.path])
            if self.command == "POST" and parts.path == "/broker/rps-quest/default":
                return self._reply(202)
            if (self.command, parts.path) in ADMIN_REPLIES:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"error": "unauthorized"})
                return self._reply(200, ADMIN_REPLIES[(self.command, parts.path)])
            return self._reply(404, {"kind": "Status", "status": "Failure", "code": 404})

        do_GET = do_POST = _handle

    return Handler


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fake = FakeCluster(base)
    server.RequestHandlerClass = _handler(fake, _objects(base))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def kubeconfig(cluster: FakeCluster, tmp_path: Path) -> str:
    """A kubeconfig pointing at the double: plain HTTP, no credentials."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "double", "cluster": {"server": cluster.url}}],
                "users": [{"name": "nobody", "user": {}}],
                "contexts": [
                    {"name": "double", "context": {"cluster": "double", "user": "nobody"}}
                ],
                "current-context": "double",
            }
        )
    )
    return str(path)


def run_cli(kubeconfig: str, *argv: str) -> str:
    output = io.StringIO()
    console = Console(file=output, width=300, color_system=None)
    assert ops.main(["--kubeconfig", kubeconfig, *argv], console=console) == 0
    return output.getvalue()


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if f" {name} " in line)


def test_status_prints_ready_revision_traffic_and_replicas(kubeconfig: str) -> None:
    output = run_cli(kubeconfig, "status")
    play = _line(output, "rps-play")
    assert "True" in play
    assert "rps-play-00002 90%" in play
    assert "rps-play-00001 10% (tag previous)" in play
    assert " 3 " in play  # 2 + 1 actualReplicas over the revisions taking traffic
    train = _line(output, "rps-train")
    assert "False: Revision rps-train-00002 failed" in train
    assert " 1 " in train  # no actualReplicas in the revision: one Running pod
    assert "unrelated" not in output


def test_status_counts_pods_by_the_service_label(kubeconfig: str, cluster: FakeCluster) -> None:
    run_cli(kubeconfig, "status")
    (pods,) = cluster.requests_to("/api/v1/namespaces/rps-quest/pods")
    assert pods.query["labelSelector"] == ["serving.knative.dev/service=rps-train"]


def test_summarise_keeps_the_traffic_split_in_order() -> None:
    objects = _objects("http://x")
    service = objects[f"{SERVING}/services/rps-play"]
    revisions = {r["metadata"]["name"]: r for r in objects[f"{SERVING}/revisions"]["items"]}
    summary = summarise(service, revisions)
    assert summary.ready == "True"
    assert summary.reason == ""
    assert summary.latest_ready_revision == "rps-play-00002"
    assert [(t.revision, t.percent) for t in summary.traffic] == [
        ("rps-play-00002", 90),
        ("rps-play-00001", 10),
    ]
    assert summary.replicas == 3


def test_train_posts_a_binary_cloudevent_to_the_broker(
    kubeconfig: str, cluster: FakeCluster
) -> None:
    output = run_cli(kubeconfig, "train", "--force", "--family", "brian")  # a bot: its family
    (post,) = cluster.requests_to("/broker/")
    assert post.method == "POST"
    assert post.path == "/broker/rps-quest/default"
    assert post.headers["ce-specversion"] == "1.0"
    assert post.headers["ce-type"] == TRAINING_REQUESTED
    assert post.headers["ce-source"] == "/rpsquest/ops"
    assert post.headers["ce-id"] in output
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.body) == {"force": True, "families": ["feedforward"]}


def test_train_with_a_url_skips_the_kubernetes_api(cluster: FakeCluster) -> None:
    output = io.StringIO()
    sink = f"{cluster.url}/broker/rps-quest/default"
    ops.main(["train", "--url", sink], console=Console(file=output, width=300))
    assert [request.path for request in cluster.seen] == ["/broker/rps-quest/default"]
    assert json.loads(cluster.seen[0].body) == {"force": False}


def test_aliases_sends_the_admin_bearer(
    kubeconfig: str, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPS_ADMIN_TOKEN", TOKEN)
    output = run_cli(kubeconfig, "aliases")
    (call,) = cluster.requests_to("/rps-promote/")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    row = _line(output, "feedforward")
    assert "Production" in row
    assert "0.619" in row
    assert "0.875" in row  # the arena headline
    assert "manifest 7" in output


def test_promotions_passes_limit_and_family(
    kubeconfig: str, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPS_ADMIN_TOKEN", TOKEN)
    output = run_cli(kubeconfig, "promotions", "--limit", "5", "--family", "forrest")
    (call,) = cluster.requests_to("/rps-promote/")
    assert call.query == {"limit": ["5"], "family": ["xgboost"]}  # forrest's family
    row = _line(output, "xgboost")
    assert "promote_b" in row
    assert "Production 2→5" in row


def test_reload_posts_to_play_and_shows_the_last_error(
    kubeconfig: str, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPS_ADMIN_TOKEN", TOKEN)
    output = run_cli(kubeconfig, "reload")
    (call,) = cluster.requests_to("/rps-play/")
    assert (call.method, call.path) == ("POST", "/rps-play/reload")
    assert "logistic" in output
    assert "sha256 mismatch" in output


def test_admin_commands_need_the_token(kubeconfig: str, cluster: FakeCluster) -> None:
    with pytest.raises(SystemExit, match="RPS_ADMIN_TOKEN"):
        run_cli(kubeconfig, "aliases")
    assert cluster.requests_to("/rps-promote/") == []


def test_a_rejected_admin_call_names_the_status(
    kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPS_ADMIN_TOKEN", "wrong")
    with pytest.raises(SystemExit, match="401"):
        run_cli(kubeconfig, "aliases")


# Family names: the families, or the bots that play them; anything else is a usage error.


@pytest.mark.parametrize(
    ("given", "family"),
    [
        ("feedforward", "feedforward"),
        ("brian", "feedforward"),
        ("forrest", "xgboost"),
        ("XGBoost", "xgboost"),
        ("logan", "logistic"),
    ],
)
def test_a_family_may_be_named_by_its_bot(given: str, family: str) -> None:
    args = ops.command_parser().parse_args(["evaluate", "--family", given])

    assert args.families == [family]


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--family", "bob"],
        ["evaluate", "--family", "legacy"],
        ["swap", "brain"],
        ["promotions", "--family", "ace"],
    ],
)
def test_an_unknown_family_is_a_usage_error_naming_the_choices(
    argv: list[str], cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ops.main(argv)

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "unknown family" in error
    for name in ("feedforward", "xgboost", "logistic", "brian", "forrest", "logan"):
        assert name in error
    assert cluster.seen == []


# The admin commands: what each sends where, and what it prints.


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPS_ADMIN_TOKEN", TOKEN)


@pytest.mark.usefixtures("admin")
def test_evaluate_posts_the_families_to_promote_run(kubeconfig: str, cluster: FakeCluster) -> None:
    output = run_cli(kubeconfig, "evaluate", "--family", "forrest", "--family", "logistic")

    (call,) = cluster.requests_to("/rps-promote/")
    assert (call.method, call.path) == ("POST", "/rps-promote/run")
    assert json.loads(call.body) == {"families": ["xgboost", "logistic"]}
    assert "Manifest 7 → 8 (promotion)" in output
    row = _line(output, "logistic")
    assert "Production" in row
    assert "lr-2" in row
    assert "did not reach the Broker" in output


@pytest.mark.usefixtures("admin")
def test_evaluate_without_families_evaluates_them_all(kubeconfig: str, cluster: FakeCluster):
    run_cli(kubeconfig, "evaluate")

    (call,) = cluster.requests_to("/rps-promote/")
    assert json.loads(call.body) == {}


@pytest.mark.usefixtures("admin")
@pytest.mark.parametrize("command", ["swap", "rollback"])
def test_swap_and_rollback_post_the_family_to_promote(
    command: str, kubeconfig: str, cluster: FakeCluster
) -> None:
    output = run_cli(kubeconfig, command, "logan")

    (call,) = cluster.requests_to("/rps-promote/")
    assert (call.method, call.path) == ("POST", "/rps-promote/promote")
    assert json.loads(call.body) == {"family": "logistic"}
    assert "Manifest 7 → 8" in output


@pytest.mark.usefixtures("admin")
def test_telemetry_posts_the_game_count_to_train(kubeconfig: str, cluster: FakeCluster) -> None:
    output = run_cli(kubeconfig, "telemetry", "--games", "2")

    (call,) = cluster.requests_to("/rps-train/")
    assert (call.method, call.path) == ("POST", "/rps-train/telemetry")
    assert json.loads(call.body) == {"games": 2}
    assert "Telemetry against forrest: 2 games, bot win rate 0.500" in output
    assert "user" in _line(output, "Bob")


@pytest.mark.usefixtures("admin")
def test_dead_letters_lists_promotes_dead_letters(kubeconfig: str, cluster: FakeCluster) -> None:
    output = run_cli(kubeconfig, "dead-letters", "--limit", "5")

    (call,) = cluster.requests_to("/rps-promote/")
    assert (call.method, call.path) == ("GET", "/rps-promote/dead-letters")
    assert call.query == {"limit": ["5"]}
    row = _line(output, "lost-7")
    assert TRAINING_REQUESTED in row
    assert '{"families":["brian"]}' in row


@pytest.mark.usefixtures("admin")
def test_replay_posts_the_dead_letters_id(kubeconfig: str, cluster: FakeCluster) -> None:
    output = run_cli(kubeconfig, "replay", "7")

    (call,) = cluster.requests_to("/rps-promote/")
    assert (call.method, call.path) == ("POST", "/rps-promote/dead-letters/replay")
    assert json.loads(call.body) == {"id": 7}
    assert "Replayed dead letter 7" in output
    assert "lost-7" in output


@pytest.mark.usefixtures("admin")
@pytest.mark.parametrize(("argv", "dry_run"), [(["gc", "--dry-run"], True), (["gc"], False)])
def test_gc_posts_to_promote_and_prints_what_it_keeps_and_why(
    argv: list[str], dry_run: bool, kubeconfig: str, cluster: FakeCluster
) -> None:
    output = run_cli(kubeconfig, *argv)

    (call,) = cluster.requests_to("/rps-promote/")
    assert (call.method, call.path) == ("POST", "/rps-promote/gc")
    assert json.loads(call.body) == {"dry_run": dry_run}
    assert "Retention plan (dry run)" in output
    assert "1 MLflow versions kept, 1 would delete" in output
    assert "manifest 4: Production; newest 3 of xgb_c07" in _line(output, "9")
    assert "would delete" in _line(output, "artifacts/xgboost/xgb_c07/aa.onnx")


# RBAC: the operator's Role grants exactly the Kubernetes API calls the CLI makes.

EVERY_COMMAND = {
    "status": ["status"],
    "train": ["train"],
    "evaluate": ["evaluate"],
    "swap": ["swap", "brian"],
    "rollback": ["rollback", "brian"],
    "telemetry": ["telemetry"],
    "aliases": ["aliases"],
    "promotions": ["promotions"],
    "dead-letters": ["dead-letters"],
    "replay": ["replay", "7"],
    "reload": ["reload"],
    "gc": ["gc", "--dry-run"],
}
RBAC = KNATIVE / "base" / "rbac.yaml"
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def _permission(request: Seen) -> tuple[str, str, str]:
    """(apiGroup, resource, verb) of one Kubernetes API request, as the authorizer sees it."""
    parts = request.path.strip("/").split("/")
    # /api/v1/namespaces/N/resource[/name[/sub]] or /apis/group/version/namespaces/N/...
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    assert rest[:2] == ["namespaces", "rps-quest"], request.path
    resource, named = "/".join([rest[2], *rest[4:]]), len(rest) > 3
    if request.method == "GET":
        verb = "get" if named else "watch" if request.query.get("watch") else "list"
    elif request.method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = _VERBS[request.method]
    return group, resource, verb


def _granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.usefixtures("admin")
def test_the_operator_role_grants_exactly_what_the_cli_calls(
    kubeconfig: str, cluster: FakeCluster
) -> None:
    (subcommands,) = [
        action
        for action in ops.command_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    assert set(EVERY_COMMAND) == set(subcommands.choices)  # a new command must be listed here
    for argv in EVERY_COMMAND.values():
        run_cli(kubeconfig, *argv)

    called = {_permission(r) for r in cluster.seen if r.path.startswith(("/api/", "/apis/"))}
    (role,) = [d for d in load(RBAC) if d["kind"] == "Role"]

    assert ("", "pods", "list") in called  # status counts pods when revisions say nothing
    assert _granted(role) == called


def test_the_overlay_binds_the_operator_role_to_its_service_account() -> None:
    documents = render(KNATIVE / "overlays" / "k3s")
    named = {(d["kind"], d["metadata"]["name"]): d for d in documents}

    binding = named["RoleBinding", "rps-operator"]
    assert ("ServiceAccount", "rps-operator") in named
    assert ("Role", "rps-operator") in named
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "rps-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rps-operator", "namespace": "rps-quest"}
    ]
