import hashlib
import json

import numpy as np
import pytest
from sqlalchemy import insert, update

from rpsquest.features import N_FEATURES, N_V2_FEATURES, round_features
from rpsquest.game.rules import MOVES, PlayedRound, played_rounds
from rpsquest.store.database import write_transaction
from rpsquest.store.games import GameRecord, insert_game
from rpsquest.store.schema import rounds, training_cycles
from rpsquest.training.corpus import HUMAN_CORPUS_FILE
from rpsquest.training.dataset import (
    FeatureSkew,
    LiveGame,
    Selection,
    TrainingGame,
    build_dataset,
    check_gate,
    data_fingerprint,
    decide_training,
    labelled_rows,
    select_training_data,
    split_games,
)
from tests.factories import game_row, round_row


def stamp(minute: int) -> str:
    return f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00.000Z"


def canned_history(minute: int, played: int) -> list[PlayedRound]:
    """The rounds add_game stores: the user cycles through the moves from one set by `minute`,
    against rock, at fixed values."""
    return played_rounds(
        (n, MOVES[(n + minute) % 3], "rock", 1.0, 1.5, 2.0, 0.5 * n, 0.5 * n)
        for n in range(1, played + 1)
    )


@pytest.fixture
def store(database):
    return database  # the migrated store of tests/conftest.py, on each backend


def add_game(
    engine,
    game_id,
    minute,
    played=13,
    source="human",
    is_test=False,
    policy="ace",
    stored_length=N_FEATURES,
):
    """A stored game created at `minute` with `played` canned rounds, each with the vector play
    stored for it (cut to `stored_length`, as a play of an older contract stored less)."""
    history = canned_history(minute, played)
    game = game_row(
        game_id,
        created_at=stamp(minute),
        policy=policy,
        family="legacy" if policy not in ("brian", "forrest", "logan") else "feedforward",
        source=source,
        is_test=is_test,
        rounds_played=played,
    )
    rows = [
        round_row(
            game_id,
            r.round_no,
            created_at=stamp(minute),
            user_move=r.user_move,
            user_score=r.user_score,
            bot_score=r.bot_score,
            phase="legacy",
            features=json.dumps(
                round_features(history[:i], r.points, r.round_no, easy=False)[:stored_length]
            ),
        )
        for i, r in enumerate(history)
    ]
    with write_transaction(engine) as connection:
        insert_game(connection, GameRecord(**game))
        if rows:
            connection.execute(insert(rounds), rows)


def select(engine, settings):
    with engine.connect() as connection:
        return select_training_data(connection, settings)


@pytest.fixture
def live_settings(make_settings):
    """No bootstrap, so only live games are selected."""
    return make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="0")


def test_live_data_skips_test_games_and_keeps_human_games_against_legacy_bots(store, live_settings):
    add_game(store, "human-vs-ace", 1)
    add_game(store, "human-vs-brian", 2, policy="brian")
    add_game(store, "a-test-game", 3, is_test=True)

    selection = select(store, live_settings)

    assert [g.id for g in selection.live] == ["human-vs-brian", "human-vs-ace"]
    assert selection.live_rounds == 20
    assert selection.cutoff == stamp(2)


def test_telemetry_games_are_thinned_one_in_five_newest_first(store, live_settings):
    for minute in range(12):
        add_game(store, f"telemetry-{minute:02d}", minute, source="telemetry")
    add_game(store, "human", 7)

    selection = select(store, live_settings)

    assert [g.id for g in selection.live] == [
        "telemetry-11",
        "human",
        "telemetry-06",
        "telemetry-01",
    ]


def test_the_cap_takes_whole_games_newest_first(store, make_settings):
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="0", RPS_TRAIN_MAX_ROUNDS="25")
    for minute in range(4):
        add_game(store, f"game-{minute}", minute)  # 10 labelled rounds each
    add_game(store, "too-short", 9, played=3)

    selection = select(store, settings)

    assert [g.id for g in selection.live] == ["game-3", "game-2"]
    assert selection.live_rounds == 20
    assert selection.cutoff == stamp(3)


def derived_rows(minute: int, played: int) -> tuple[list[list[float]], list[int]]:
    """What training should derive from a game add_game stored, in float32 as the splits are."""
    features, labels = labelled_rows(canned_history(minute, played), easy=False)
    return np.asarray(features, dtype=np.float32).tolist(), labels


@pytest.mark.parametrize("stored_length", [N_FEATURES, N_V2_FEATURES], ids=["v3", "v2"])
def test_live_rows_are_derived_from_the_stored_history_and_end_the_dataset(
    store, make_settings, stored_length
):
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="600")
    add_game(store, "older", 1, stored_length=stored_length)
    add_game(store, "newer", 2, played=8, stored_length=stored_length)

    dataset = build_dataset(store, settings)

    (older, older_labels), (newer, newer_labels) = derived_rows(1, 13), derived_rows(2, 8)
    assert dataset.X_test[-15:].tolist() == older + newer
    assert dataset.y_test[-15:].tolist() == older_labels + newer_labels
    assert dataset.summary.live_rounds == 15
    assert dataset.summary.live_games == 2
    assert dataset.summary.cutoff == stamp(2)


@pytest.mark.parametrize(
    "damage",
    [lambda v: [*v[:49], 1.0, *v[50:]], lambda v: [*v[:49], 1.0], lambda v: v[:-1]],
    ids=["one value off", "its v2 prefix off", "another length"],
)
def test_a_stored_vector_its_history_does_not_give_fails_the_dataset(store, make_settings, damage):
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="0")
    add_game(store, "skewed", 1)
    history = canned_history(1, 13)
    served = round_features(history[:4], history[4].points, 5, easy=False)
    with write_transaction(store) as connection:
        connection.execute(
            update(rounds)
            .where(rounds.c.game_id == "skewed", rounds.c.round_no == 5)
            .values(features=json.dumps(damage(served)))
        )

    with pytest.raises(FeatureSkew, match="Game skewed round 5 stores a vector its history"):
        build_dataset(store, settings)


def test_a_young_store_fills_70_15_15_with_human_simulated_and_zoo_games(store, make_settings):
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="1000")
    add_game(store, "live", 1)  # 10 labelled rounds: the fill is 990

    selection = select(store, settings)

    human = sum(g.labelled_rounds for g in selection.human)
    simulated = sum(g.labelled_rounds for g in selection.simulated)
    zoo = sum(g.labelled_rounds for g in selection.zoo)
    assert 693 - 30 < human <= 693
    assert 148 - 30 < simulated <= 148
    assert 148 - 30 < zoo <= 148
    assert [g.id for g in selection.simulated[:2]] == ["sim:ace:ace:1", "sim:ace:bob:1"]
    assert [g.id for g in selection.zoo[:2]] == ["zoo:constant:0:1", "zoo:cycle:1:1"]
    assert selection.total_rounds == 10 + human + simulated + zoo


def test_a_store_with_enough_live_rounds_reads_no_corpus(store, make_settings):
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="20", RPS_HUMAN_DATA_DIR="/nowhere")
    add_game(store, "one", 1)
    add_game(store, "two", 2)

    selection = select(store, settings)

    assert (selection.human, selection.simulated, selection.zoo) == ((), (), ())
    assert selection.corpus_problem == ""
    assert selection.total_rounds == 20


def test_a_young_store_without_its_human_corpus_fills_the_other_shares_and_says_why(
    store, make_settings, tmp_path, caplog
):
    missing = tmp_path / "nowhere"
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="1000", RPS_HUMAN_DATA_DIR=str(missing))

    selection = select(store, settings)

    assert selection.human == ()
    assert 150 - 30 < sum(g.labelled_rounds for g in selection.simulated) <= 150
    assert 150 - 30 < sum(g.labelled_rounds for g in selection.zoo) <= 150
    problem = f"human corpus unavailable: {missing / HUMAN_CORPUS_FILE}: No such file or directory"
    assert selection.corpus_problem == problem
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
        ("ERROR", problem, None)
    ]


def _selection(*games: tuple[str, int]) -> Selection:
    live = tuple(
        LiveGame(f"g{minute}", stamp(minute), "human", played, False) for minute, played in games
    )
    return Selection(live, live, (), (), ())


@pytest.mark.parametrize(
    ("flags", "since", "train", "reason"),
    [
        ({}, None, True, "new_data"),
        ({}, stamp(1), False, "too_little_new_data"),
        ({"force": True}, stamp(1), True, "forced"),
        ({"alias_without_version": True}, stamp(1), True, "alias_without_version"),
    ],
)
def test_the_gate_trains_on_new_rounds_force_or_an_empty_alias(
    make_settings, flags, since, train, reason
):
    settings = make_settings(RPS_TRAIN_MIN_ROUNDS="30", RPS_TRAIN_MIN_NEW_ROUNDS="25")
    selection = _selection((2, 23), (1, 23))  # 20 labelled rounds each

    decision = decide_training(selection, settings, since, **flags)

    assert (decision.train, decision.reason) == (train, reason)
    assert decision.new_rounds == (40 if since is None else 20)
    assert decision.total_rounds == 40


@pytest.mark.parametrize("flags", [{}, {"force": True}, {"alias_without_version": True}])
def test_the_gate_never_trains_on_too_little_data(make_settings, flags):
    settings = make_settings(RPS_TRAIN_MIN_ROUNDS="500")

    decision = decide_training(_selection((1, 103)), settings, None, **flags)

    assert (decision.train, decision.reason) == (False, "too_little_data")


def test_the_gate_counts_rounds_after_the_last_good_cycle_after_downsampling(store, make_settings):
    settings = make_settings(
        RPS_TRAIN_BOOTSTRAP_ROUNDS="0", RPS_TRAIN_MIN_ROUNDS="10", RPS_TRAIN_MIN_NEW_ROUNDS="30"
    )
    add_game(store, "old", 1)
    for minute in range(10, 20):  # 10 telemetry games, 2 kept: 20 labelled rounds
        add_game(store, f"telemetry-{minute}", minute, source="telemetry")
    cycles = [
        {"id": "good", "started_at": stamp(5), "status": "success", "cutoff": stamp(1)},
        {"id": "bad", "started_at": stamp(30), "status": "failure", "cutoff": stamp(19)},
    ]
    with write_transaction(store) as connection:
        connection.execute(insert(training_cycles), cycles)

    waiting = check_gate(store, settings)
    add_game(store, "human-after", 25)
    ready = check_gate(store, settings)

    assert (waiting.train, waiting.reason, waiting.new_rounds) == (
        False,
        "too_little_new_data",
        20,
    )
    assert (ready.train, ready.reason, ready.new_rounds, ready.since) == (
        True,
        "new_data",
        30,
        stamp(1),
    )


def _games(*sizes: int) -> list[TrainingGame]:
    return [
        TrainingGame(f"g{i}", "live", tuple((0.0,) * N_FEATURES for _ in range(n)), (0,) * n)
        for i, n in enumerate(sizes)
    ]


@pytest.mark.parametrize(
    "sizes", [(10,) * 20, (1, 30, 2, 7, 12, 9, 40, 3, 3, 17, 25, 8, 1, 1, 16), (5, 95, 5, 5, 5, 5)]
)
def test_the_split_keeps_games_whole_and_in_order(sizes):
    ordered = _games(*sizes)
    total = sum(sizes)

    train, validation, test = split_games(ordered)

    assert [g.id for g in train + validation + test] == [g.id for g in ordered]
    train_rounds = sum(g.labelled_rounds for g in train)
    early_rounds = train_rounds + sum(g.labelled_rounds for g in validation)
    assert train_rounds >= 0.70 * total > train_rounds - train[-1].labelled_rounds
    if validation:
        assert early_rounds >= 0.85 * total > early_rounds - validation[-1].labelled_rounds
    else:
        assert train_rounds >= 0.85 * total


def test_a_young_store_trains_on_simulated_and_zoo_then_human_games_and_tests_on_humans(
    store, make_settings
):
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="2000")

    dataset = build_dataset(store, settings)

    summary = dataset.summary
    sizes = (summary.train_rounds, summary.val_rounds, summary.test_rounds)
    assert sizes == (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test))
    assert summary.n_rounds == sum(sizes) == summary.bootstrap_rounds
    assert summary.bootstrap_rounds == (
        summary.human_rounds + summary.simulated_rounds + summary.zoo_rounds
    )
    assert 300 - 30 < summary.zoo_rounds <= 300  # 15 % of 2000
    assert 0.70 <= summary.train_rounds / summary.n_rounds < 0.75
    assert dataset.X_train.dtype == np.float32 and dataset.X_train.shape[1] == N_FEATURES
    assert dataset.y_train.dtype == np.int64 and set(np.unique(dataset.y_train)) <= {0, 1, 2}
    assert dataset.test_human.dtype == bool and dataset.test_human.all()
    held_out = dataset.held_out_human()
    assert held_out["human_stable"].any() and held_out["human_adaptive"].any()
    assert (held_out["human_stable"] ^ held_out["human_adaptive"]).all()
    assert (summary.live_rounds, summary.cutoff) == (0, None)
    assert summary.n_games == summary.train_games + summary.val_games + summary.test_games


def test_the_dataset_is_reproducible_and_fingerprinted(store, make_settings):
    settings = make_settings(RPS_TRAIN_BOOTSTRAP_ROUNDS="800")
    add_game(store, "live", 1)

    first = build_dataset(store, settings)
    with store.connect() as connection:
        selection = select_training_data(connection, settings)
        second = build_dataset(connection, settings, selection)

    assert first.summary == second.summary
    assert np.array_equal(first.X_train, second.X_train)
    assert np.array_equal(first.y_test, second.y_test)
    assert (
        first.summary.data_fingerprint
        != build_dataset(store, make_settings()).summary.data_fingerprint
    )


def test_the_fingerprint_hashes_sorted_game_ids_with_round_counts():
    games = _games(3, 5)

    assert data_fingerprint(games) == data_fingerprint(games[::-1])
    assert data_fingerprint(games) == hashlib.sha256(b"g0:3\ng1:5\n").hexdigest()
