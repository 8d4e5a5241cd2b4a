"""Telemetry on real servers: train plays legacy bots against the ML bots over HTTP."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select

from rpsquest.events import PING, TELEMETRY_REQUESTED, new_event
from rpsquest.local import Server
from rpsquest.processes import free_port
from rpsquest.store.schema import games
from tests.conftest import REPO
from tests.integration.conftest import ADMIN_TOKEN, servers

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CONFIGS = str(REPO / "configs" / "model_configs.json")  # train reads them when it starts work


@dataclass(frozen=True)
class Stack:
    train: Server
    database_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """start_game, play and train on one SQLite database, with an admin token. The public play
    URL start_game hands out leads nowhere: telemetry, which sends the admin bearer, must play
    on the internal one."""
    directory = tmp_path_factory.mktemp("telemetry")
    url = f"sqlite:///{directory / 'rps.db'}"
    with servers(directory) as start:
        start_port, play_port = free_port(), free_port()
        env = {
            "RPS_DATABASE_URL": url,
            "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
            "RPS_PLAY_URL": f"http://127.0.0.1:{free_port()}/",
            "RPS_PLAY_INTERNAL_URL": f"http://127.0.0.1:{play_port}/",
            "RPS_START_GAME_URL": f"http://127.0.0.1:{start_port}/",
            "RPS_TELEMETRY_GAMES": "2",
            "RPS_MODEL_CONFIGS": CONFIGS,
        }
        start("start_game", port=start_port, **env)
        start("play", port=play_port, **env)
        yield Stack(start("train", **env), url)


def telemetry_games(database_url):
    """(policy, player, winner, rounds) of every telemetry game, oldest first; all finished."""
    engine = create_engine(database_url)
    query = (
        select(
            games.c.policy,
            games.c.player_name,
            games.c.winner,
            games.c.rounds_played,
            games.c.finished_at,
        )
        .where(games.c.source == "telemetry")
        .order_by(games.c.created_at)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    engine.dispose()
    assert all(row.finished_at is not None for row in rows)
    return [(row.policy, row.player_name, row.winner, row.rounds_played) for row in rows]


def telemetry_counts(train):
    """rps_telemetry_games_total from train's /metrics, summed per (policy, player)."""
    text = requests.get(train.url + "metrics", headers=ADMIN, timeout=10).text
    counts = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rps_telemetry_games_total":
                counts[sample.labels["policy"], sample.labels["player"]] += sample.value
    return +counts


def post_event(train, event):
    headers, body = to_binary(event)
    return requests.post(train.url, data=body, headers=headers, timeout=60)


def test_telemetry_rotates_the_policy_across_calls_and_events(stack):
    first = requests.post(
        stack.train.url + "telemetry", json={"games": 3}, headers=ADMIN, timeout=60
    )
    second = requests.post(stack.train.url + "telemetry", json={}, headers=ADMIN, timeout=60)
    event = new_event("admin", TELEMETRY_REQUESTED, {"games": 1}, "telemetry", "tel-1")
    delivered = post_event(stack.train, event)
    duplicate = post_event(stack.train, event)
    ping = CloudEvent(
        {
            "type": PING,
            "source": "/ping/telemetry",
            "id": "ping-1",
            "rpsintent": "telemetry.requested",
        },
        {"games": 1},
    )
    pinged = post_event(stack.train, ping)

    assert first.status_code == 200, first.text
    summary = first.json()
    assert summary["policy"] == "brian"
    assert summary["games"] == 3
    assert [r["player"] for r in summary["results"]] == ["Ace", "Bob", "Cal"]
    bot_wins = sum(r["winner"] == "bot" for r in summary["results"])
    assert summary["bot_win_rate"] == pytest.approx(bot_wins / 3)
    assert second.status_code == 200, second.text
    default = second.json()  # RPS_TELEMETRY_GAMES games
    assert (default["policy"], default["games"]) == ("forrest", 2)
    assert (delivered.status_code, delivered.content) == (200, b"")
    assert "ce-type" not in delivered.headers
    assert (duplicate.status_code, duplicate.content) == (200, b"")
    assert (pinged.status_code, pinged.content) == (200, b"")
    played = telemetry_games(stack.database_url)
    assert [(policy, player) for policy, player, *_ in played] == [
        ("brian", "Ace"),
        ("brian", "Bob"),
        ("brian", "Cal"),
        ("forrest", "Dan"),
        ("forrest", "Edd"),
        ("logan", "Fox"),
        ("brian", "Gus"),
    ]
    assert [(winner, rounds) for _, _, winner, rounds in played[:3]] == [
        (r["winner"], r["rounds"]) for r in summary["results"]
    ]
    assert telemetry_counts(stack.train) == Counter(
        {(policy, player): 1 for policy, player, *_ in played}
    )


@pytest.mark.parametrize("games", [True, 0, 101, "3", 2.5])
def test_telemetry_refuses_a_game_count_that_is_not_an_int_from_1_to_100(stack, games):
    response = requests.post(
        stack.train.url + "telemetry", json={"games": games}, headers=ADMIN, timeout=10
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_a_telemetry_event_with_bad_data_is_poison(stack):
    event = new_event("admin", TELEMETRY_REQUESTED, {"games": True}, "telemetry", "tel-bad")

    response = post_event(stack.train, event)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"


def test_telemetry_needs_the_admin_bearer(stack):
    missing = requests.post(stack.train.url + "telemetry", json={}, timeout=10)
    wrong = requests.post(
        stack.train.url + "telemetry",
        json={},
        headers={"Authorization": "Bearer nope"},
        timeout=10,
    )

    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "unauthorized")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "forbidden")


def test_telemetry_without_start_game_is_unavailable_and_retried(launch, tmp_path):
    train = launch(
        "train",
        RPS_DATABASE_URL=f"sqlite:///{tmp_path / 'rps.db'}",
        RPS_ADMIN_TOKEN=ADMIN_TOKEN,
        RPS_START_GAME_URL=f"http://127.0.0.1:{free_port()}/",
        RPS_MODEL_CONFIGS=CONFIGS,
    )
    event = new_event("admin", TELEMETRY_REQUESTED, {}, "telemetry", "tel-down")

    called = requests.post(train.url + "telemetry", json={"games": 1}, headers=ADMIN, timeout=30)
    delivered = post_event(train, event)
    retried = post_event(train, event)

    for response in (called, delivered, retried):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert "Telemetry could not play" in response.json()["error"]["message"]
