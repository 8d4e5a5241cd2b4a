import pytest
from sqlalchemy import insert

from rpsquest import metrics
from rpsquest.api import TelemetryRequest
from rpsquest.client import Client
from rpsquest.errors import Unavailable, ValidationError
from rpsquest.processes import free_port
from rpsquest.store.database import open_engine, write_transaction
from rpsquest.store.schema import kv
from rpsquest.training.telemetry import ROTATION_KEY, play_telemetry, take_slot
from tests.helpers import concurrently


def test_each_call_takes_the_next_policy_and_the_next_players(database):
    slots = [take_slot(database, 3) for _ in range(4)]

    assert [(s.policy, s.players) for s in slots] == [
        ("brian", ("ace", "bob", "cal")),
        ("forrest", ("dan", "edd", "fox")),
        ("logan", ("gus", "hal", "ace")),
        ("brian", ("bob", "cal", "dan")),
    ]


def test_concurrent_calls_never_take_the_same_slot(database, database_url):
    engines = [open_engine(database_url) for _ in range(6)]

    slots, errors = concurrently(lambda engine: take_slot(engine, 1), engines)
    for engine in engines:
        engine.dispose()

    assert errors == []
    assert sorted(s.players[0] for s in slots) == ["ace", "bob", "cal", "dan", "edd", "fox"]
    assert sorted(s.policy for s in slots) == ["brian"] * 2 + ["forrest"] * 2 + ["logan"] * 2


def test_an_unreadable_rotation_starts_again_at_brian(database):
    with write_transaction(database) as connection:
        connection.execute(insert(kv).values(key=ROTATION_KEY, value="not json"))

    slot = take_slot(database, 2)

    assert (slot.policy, slot.players) == ("brian", ("ace", "bob"))


def test_telemetry_games_are_played_as_named_bots_and_counted(database, make_settings, monkeypatch):
    calls = []

    def play_game(client, player, policy, **start):
        calls.append((client.http.headers.get("Authorization"), player, policy, start))
        return ("bot" if player == "ace" else "user"), 12

    monkeypatch.setattr(Client, "play_game", play_game)
    settings = make_settings(RPS_ADMIN_TOKEN="secret", RPS_TELEMETRY_GAMES="2")
    before = metrics.REGISTRY.get_sample_value(
        "rps_telemetry_games_total", {"player": "Ace", "policy": "brian", "winner": "bot"}
    )

    summary = play_telemetry(settings, database, None)

    assert summary == {
        "policy": "brian",
        "games": 2,
        "results": [
            {"player": "Ace", "winner": "bot", "rounds": 12},
            {"player": "Bob", "winner": "user", "rounds": 12},
        ],
        "bot_win_rate": 0.5,
    }
    assert calls == [
        ("Bearer secret", bot, "brian", {"source": "telemetry", "player_name": name})
        for bot, name in [("ace", "Ace"), ("bob", "Bob")]
    ]
    after = metrics.REGISTRY.get_sample_value(
        "rps_telemetry_games_total", {"player": "Ace", "policy": "brian", "winner": "bot"}
    )
    assert after == before + 1


def test_an_unreachable_start_game_is_a_transient_failure(database, make_settings):
    settings = make_settings(RPS_START_GAME_URL=f"http://127.0.0.1:{free_port()}/")

    with pytest.raises(Unavailable) as caught:
        play_telemetry(settings, database, 1)

    assert caught.value.code == "unavailable"
    assert caught.value.message.startswith("Telemetry could not play Ace against brian:")


@pytest.mark.parametrize(
    ("body", "games"),
    [({}, None), ({"games": None}, None), ({"games": 1}, 1), ({"games": 100}, 100)],
)
def test_a_telemetry_request_takes_an_optional_game_count(body, games):
    assert TelemetryRequest.from_json(body) == TelemetryRequest(games=games)


@pytest.mark.parametrize("games", [True, 0, -1, 101, "3", 2.5, [3]])
def test_a_telemetry_request_refuses_a_game_count_that_is_not_an_int_from_1_to_100(games):
    with pytest.raises(ValidationError) as caught:
        TelemetryRequest.from_json({"games": games})

    assert caught.value.code == "validation_error"
    assert "'games'" in caught.value.message
