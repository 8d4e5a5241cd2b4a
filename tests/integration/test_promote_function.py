"""The promote function as a real server on a trained store."""

from __future__ import annotations

import shutil

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import from_http
from sqlalchemy import create_engine, select

from rpsquest.events import MODEL_PROMOTED, TRAINING_COMPLETED, TRAINING_REQUESTED, new_event
from rpsquest.store.schema import dead_letters
from tests.integration.conftest import free_port
from tests.training_fixture import project_env, smaller_configs_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


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
    assert aliases["feature_contract"] == "rps50-v2"
    assert len(aliases["aliases"]) == 12
    assert aliases["aliases"][0]["registered_model"] == "rps_feedforward"
    assert ledger["count"] == 2
    assert {row["family"] for row in filtered["promotions"]} == {"xgboost"}
    assert filtered["promotions"][0]["trigger_event_id"] == "done-2"


def test_metrics_carry_the_business_gauges_read_from_the_store(promote, trained_cycle):
    post_event(promote, new_event("train", TRAINING_COMPLETED, {}, "c1", "done-4"))

    exposition = requests.get(promote.url + "metrics", timeout=10).text

    for family, alias in (("feedforward", "Production"), ("logistic", "shadow2")):
        assert f'rps_alias_games{{alias="{alias}",family="{family}"}} 0.0' in exposition
    assert 'rps_promotion_posterior_b_better{family="xgboost"} 0.5' in exposition
    assert 'rps_games_finished_7d{policy="logan"} 0.0' in exposition
    assert "rps_last_training_success_timestamp_seconds 1." in exposition


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
