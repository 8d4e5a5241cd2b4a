"""The promote function as a real server on a trained store."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import from_http
from sqlalchemy import create_engine, select

from rpsquest.events import (
    MODEL_PROMOTED,
    PROMOTION_REQUESTED,
    TRAINING_COMPLETED,
    TRAINING_REQUESTED,
    new_event,
)
from rpsquest.processes import free_port
from rpsquest.store.schema import dead_letters
from tests.training_fixture import project_env, smaller_configs_file

pytestmark = pytest.mark.slow


@pytest.fixture
def promote(launch, trained_cycle, tmp_path):
    shutil.copytree(trained_cycle.project / "var", tmp_path / "var")
    return launch(
        "promote",
        **project_env(tmp_path),
        RPS_MODEL_CONFIGS=smaller_configs_file(tmp_path),
        K_SINK=f"http://127.0.0.1:{free_port()}/",  # no broker, even if a test runs one on 8080
    )


def post_event(server, event, path=""):
    headers, body = to_binary(event)
    return requests.post(server.url + path, data=body, headers=headers, timeout=120)


def test_training_completed_is_answered_with_model_promoted_once(promote):
    completed = new_event("train", TRAINING_COMPLETED, {"cycle_id": "c1"}, "c1", "done-1")

    first = post_event(promote, completed)
    duplicate = post_event(promote, completed)

    assert first.status_code == 200, first.text
    reply = from_http(dict(first.headers), first.content)
    assert reply["type"] == MODEL_PROMOTED
    assert reply.data["manifest_version"] == 1
    assert len(reply.data["changes"]) == 12
    assert duplicate.content == first.content
    assert duplicate.headers["ce-id"] == first.headers["ce-id"]


def test_the_alias_table_and_the_ledger(promote):
    post_event(promote, new_event("train", TRAINING_COMPLETED, {}, "c1", "done-2"))

    aliases = requests.get(promote.url + "aliases", timeout=10).json()
    ledger = requests.get(promote.url + "promotions?limit=2", timeout=10).json()
    filtered = requests.get(promote.url + "promotions?family=xgboost", timeout=10).json()

    assert aliases["manifest_version"] == 1
    assert aliases["feature_contract"] == "rps50-v3"
    assert len(aliases["aliases"]) == 12
    assert aliases["aliases"][0]["registered_model"] == "rps_feedforward"
    assert all(0.0 <= row["arena_headline"] <= 1.0 for row in aliases["aliases"])  # train's check
    assert ledger["count"] == 2
    assert {row["family"] for row in filtered["promotions"]} == {"xgboost"}
    assert filtered["promotions"][0]["trigger_event_id"] == "done-2"


def test_metrics_carry_the_business_gauges_read_from_the_store(promote, trained_cycle):
    post_event(promote, new_event("train", TRAINING_COMPLETED, {}, "c1", "done-4"))

    exposition = requests.get(promote.url + "metrics", timeout=10).text

    for family, alias in (("feedforward", "Production"), ("logistic", "shadow2")):
        assert f'rps_alias_games{{alias="{alias}",family="{family}"}} 0.0' in exposition
    assert 'rps_promotion_posterior_b_better{family="xgboost"} 0.5' in exposition
    assert 'rps_alias_arena_headline{alias="B",family="logistic"} ' in exposition
    assert 'rps_games_finished_7d{policy="logan"} 0.0' in exposition
    assert "rps_last_training_success_timestamp_seconds 1." in exposition


def test_a_promote_that_cannot_open_its_stores_still_answers_its_scrape(launch, tmp_path):
    broken = launch(
        "promote",
        **project_env(tmp_path),
        RPS_MODEL_CONFIGS=str(tmp_path / "no-such-configs.json"),
        K_SINK=f"http://127.0.0.1:{free_port()}/",
    )

    scrape = requests.get(broken.url + "metrics", timeout=10)

    assert scrape.status_code == 200
    assert "process_resident_memory_bytes " in scrape.text
    assert "rps_alias_games" not in scrape.text  # nothing read yet, nothing made up


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "validation_error"),
        ("limit=201", "validation_error"),
        ("family=legacy", "validation_error"),
    ],
)
def test_bad_ledger_queries_are_400(promote, query, code):
    response = requests.get(promote.url + f"promotions?{query}", timeout=10)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_the_dead_letter_sink_keeps_what_could_not_be_delivered(promote, tmp_path):
    lost = new_event("admin", TRAINING_REQUESTED, {"force": True}, "x", "lost-1")

    response = post_event(promote, lost, "dead-letter")

    assert response.status_code == 200
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'rps.db'}")
    with engine.connect() as connection:
        row = connection.execute(select(dead_letters)).mappings().one()
    engine.dispose()
    assert (row["event_id"], row["type"]) == ("lost-1", TRAINING_REQUESTED)
    post_event(promote, new_event("admin", "com.example.unknown", {}, "x", "lost-2"), "dead-letter")
    metrics = requests.get(promote.url + "metrics", timeout=10).text
    assert f'rps_dead_letters_total{{type="{TRAINING_REQUESTED}"}} 1.0' in metrics
    assert 'rps_dead_letters_total{type="other"} 1.0' in metrics  # labels stay a closed set


def test_a_poison_event_is_a_400(promote):
    wrong = new_event("admin", MODEL_PROMOTED, {}, "x")

    response = post_event(promote, wrong)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"


def test_an_admin_swaps_production_and_b_and_can_roll_it_back(promote):
    post_event(promote, new_event("train", TRAINING_COMPLETED, {}, "c1", "done-3"))

    def production_and_b():
        rows = requests.get(promote.url + "aliases", timeout=10).json()["aliases"]
        return [r["version"] for r in rows if r["family"] == "logistic"][:2]

    before = production_and_b()
    swapped = requests.post(promote.url + "promote", json={"family": "logistic"}, timeout=60)
    after = production_and_b()
    rolled_back = requests.post(promote.url + "promote", json={"family": "logistic"}, timeout=60)
    bad = requests.post(promote.url + "promote", json={"family": "legacy"}, timeout=10)

    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["changed"] is True
    assert swapped.json()["reason"] == "promotion"
    assert swapped.json()["event_delivered"] is False  # no broker in this test
    assert after == before[::-1]
    assert rolled_back.json()["manifest_version"] == 3
    assert production_and_b() == before
    assert bad.status_code == 400
    ledger = requests.get(promote.url + "promotions?family=logistic&limit=1", timeout=10).json()
    assert ledger["promotions"][0]["trigger_type"] == "admin"


# Dead letters: listed and replayed by an admin, on a promote with no models yet.


@dataclass
class Sink:
    """A stand-in for the Broker ingress: records each request and answers 202."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    recorder = Sink(f"http://127.0.0.1:{server.server_address[1]}/")

    class Record(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            recorder.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server.RequestHandlerClass = Record
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


def untrained_promote(launch, tmp_path, sink_url, port=None):
    return launch(
        "promote",
        port=port,
        **project_env(tmp_path),
        RPS_MODEL_CONFIGS=smaller_configs_file(tmp_path),
        K_SINK=sink_url,
    )


def dead_letter_ids(promote, query=""):
    listed = requests.get(promote.url + f"dead-letters{query}", timeout=10).json()
    assert listed["count"] == len(listed["dead_letters"])
    return [letter["event_id"] for letter in listed["dead_letters"]], listed["dead_letters"]


def test_dead_letters_are_listed_newest_first(launch, tmp_path, sink):
    promote = untrained_promote(launch, tmp_path, sink.url)
    for n in range(3):
        lost = new_event("admin", TRAINING_REQUESTED, {"force": True}, "x", f"lost-{n}")
        assert post_event(promote, lost, "dead-letter").status_code == 200

    ids, letters = dead_letter_ids(promote)
    newest, _ = dead_letter_ids(promote, "?limit=1")

    assert ids == ["lost-2", "lost-1", "lost-0"]
    assert newest == ["lost-2"]
    assert letters[0]["type"] == TRAINING_REQUESTED
    assert letters[0]["source"] == "/rpsquest/admin"
    assert letters[0]["data"] == {"force": True}
    assert letters[0]["replayed_at"] is None


def test_a_replay_resends_the_stored_event_in_binary_mode(launch, tmp_path, sink):
    promote = untrained_promote(launch, tmp_path, sink.url)
    lost = new_event("admin", TRAINING_REQUESTED, {"force": True, "families": ["xgboost"]}, "x")
    post_event(promote, lost, "dead-letter")
    (letter,) = dead_letter_ids(promote)[1]

    reply = requests.post(
        promote.url + "dead-letters/replay", json={"id": letter["id"]}, timeout=30
    )

    assert reply.status_code == 200, reply.text
    assert reply.json()["replayed_at"] is not None
    ((headers, body),) = sink.received
    assert headers["ce-specversion"] == "1.0"
    assert (headers["ce-id"], headers["ce-source"], headers["ce-type"]) == (
        lost["id"],
        lost["source"],
        lost["type"],
    )
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"force": True, "families": ["xgboost"]}
    assert dead_letter_ids(promote)[1][0]["replayed_at"] == reply.json()["replayed_at"]


def test_a_replayed_event_the_consumer_already_processed_is_a_duplicate_there(launch, tmp_path):
    port = free_port()  # promote is its own sink: a promotion request it handled, then lost
    promote = untrained_promote(launch, tmp_path, f"http://127.0.0.1:{port}/", port=port)
    request = new_event("admin", PROMOTION_REQUESTED, {}, "x", "handled-then-lost")
    assert post_event(promote, request).status_code == 200
    post_event(promote, request, "dead-letter")
    (letter,) = dead_letter_ids(promote)[1]

    reply = requests.post(
        promote.url + "dead-letters/replay", json={"id": letter["id"]}, timeout=30
    )

    assert reply.status_code == 200, reply.text
    metrics = requests.get(promote.url + "metrics", timeout=10).text
    processed = f'function="promote",outcome="processed",type="{PROMOTION_REQUESTED}"'
    duplicate = f'function="promote",outcome="duplicate",type="{PROMOTION_REQUESTED}"'
    assert f"rps_events_total{{{processed}}} 1.0" in metrics
    assert f"rps_events_total{{{duplicate}}} 1.0" in metrics


def test_dead_letter_admin_errors_are_4xx_and_a_down_broker_is_503(launch, tmp_path):
    promote = untrained_promote(launch, tmp_path, f"http://127.0.0.1:{free_port()}/")
    post_event(promote, new_event("admin", TRAINING_REQUESTED, {}, "x", "lost"), "dead-letter")
    (letter,) = dead_letter_ids(promote)[1]

    def replay(body):
        return requests.post(promote.url + "dead-letters/replay", json=body, timeout=30)

    for query in ("limit=0", "limit=201", "limit=ten"):
        response = requests.get(promote.url + f"dead-letters?{query}", timeout=10)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
    for body in ({}, {"id": "1"}, {"id": True}, {"id": 0}):
        response = replay(body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "validation_error"
    unknown = replay({"id": letter["id"] + 1})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    down = replay({"id": letter["id"]})
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "unavailable"
    assert dead_letter_ids(promote)[1][0]["replayed_at"] is None  # not marked: nothing was sent
