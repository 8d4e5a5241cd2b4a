import random

import pytest

from rpsquest.game.gambits import choose_gambit, gambit_moves
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.rules import reaches_target, round_points
from rpsquest.training.corpus import (
    BOOTSTRAP_SECRET,
    HUMAN_CORPUS_FILE,
    corpus_sha256,
    human_corpus,
    play_simulated_corpus,
    read_human_corpus,
    simulated_corpus,
)
from tests.conftest import REPO

HUMAN_DATA = REPO.parent / "shared" / "data" / "human-rps"
# Computed once from the first run; any change to rules, gambits or legacy bots moves it.
SIMULATED_CORPUS_SHA256 = "eebbef6ff24066428b0ede8261cff374d49f8486990368b9970ef368a8a935d9"


@pytest.fixture(scope="module")
def humans():
    return human_corpus(HUMAN_DATA)


def test_the_human_corpus_has_the_expected_pseudo_games(humans):
    assert len(humans) == 10_418
    assert sum(game.finished for game in humans) == 9_779
    assert sum(len(game.rounds) for game in humans) == 122_310
    assert sum(game.labelled_rounds for game in humans) == 91_260


def test_session_one_first_pseudo_game_ends_at_round_13_with_the_bot_ahead(humans):
    first = next(game for game in humans if game.id == "bv2024:1:1")

    last = first.rounds[-1]
    assert first.finished
    assert (last.round_no, last.bot_score, last.user_score) == (13, 10.4, 7.5)


def test_pseudo_games_are_shuffled_with_seed_2024(humans):
    keys = sorted(tuple(int(part) for part in g.id.split(":")[1:]) for g in humans)
    random.Random(2024).shuffle(keys)

    assert [g.id for g in humans] == [f"bv2024:{game}:{segment}" for game, segment in keys]


def test_pseudo_games_replay_our_rules_from_zero(humans):
    for game in humans[:500]:
        assert [r.round_no for r in game.rounds] == list(range(1, len(game.rounds) + 1))
        assert all(r.points == round_points(game.id, r.round_no) for r in game.rounds)
        reached = [reaches_target(max(r.user_score, r.bot_score)) for r in game.rounds]
        assert reached == [False] * (len(reached) - 1) + [game.finished]


def test_a_missing_move_closes_the_pseudo_game_and_is_skipped(tmp_path):
    moves = [("R", "S"), ("N", "R"), ("N", "P"), ("P", "P"), ("S", "N")]
    moves += [("P", "R")] * 12 + [("R", "R")]  # paper beats rock: the user reaches 10 by then
    header = "game,experiment,bot_strategy,round,human_move,bot_move,human_outcome,human_rt_ms"
    rows = [f"7,E1,x,{n},{h},{b},T,1" for n, (h, b) in enumerate(moves, start=1)]
    (tmp_path / HUMAN_CORPUS_FILE).write_text("\n".join([header, *reversed(rows)]) + "\n")

    games = {g.id: g for g in read_human_corpus(tmp_path)}

    assert sorted(games) == ["bv2024:7:1", "bv2024:7:2", "bv2024:7:3", "bv2024:7:4"]
    first, second, third, fourth = (games[f"bv2024:7:{k}"] for k in range(1, 5))
    assert [len(first.rounds), len(second.rounds)] == [1, 1]
    assert not first.finished and not second.finished
    assert third.finished and third.rounds[-1].user_score >= 10
    assert len(third.rounds) + len(fourth.rounds) == 13
    opening = fourth.rounds[0]
    assert (opening.round_no, opening.bot_score) == (1, 0.0)  # a fresh start from 0/0
    assert opening.user_score == round_points("bv2024:7:4", 1).paper
    assert fourth.rounds[-1].result == "draw" and not fourth.finished


def test_the_simulated_corpus_pairs_every_bot_five_times():
    games = simulated_corpus()

    assert len(games) == 320
    assert {g.id for g in games} == {
        f"sim:{player}:{policy}:{k}"
        for player in LEGACY_BOTS
        for policy in LEGACY_BOTS
        for k in range(1, 6)
    }
    assert all(g.finished and g.source == "simulated" for g in games)


def test_simulated_games_open_with_the_bootstrap_key_gambit():
    for game in simulated_corpus()[:64]:
        opening = gambit_moves(choose_gambit(BOOTSTRAP_SECRET, game.id), game.id)
        assert tuple(r.bot_move for r in game.rounds[:3]) == opening


def test_the_simulated_corpus_is_byte_identical_across_runs():
    first, second = play_simulated_corpus(), play_simulated_corpus()

    assert first == second
    assert corpus_sha256(first) == SIMULATED_CORPUS_SHA256
