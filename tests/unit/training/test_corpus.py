import gzip
import hashlib
import json
import random
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from rpsquest.arena.seeds import EVALUATION_SEEDS, TRAINING_SEEDS
from rpsquest.arena.zoo import ZOO_TYPES
from rpsquest.game.gambits import choose_gambit, gambit_moves
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.rules import reaches_target, round_points
from rpsquest.modelstore import open_store
from rpsquest.store.schema import training_cycles
from rpsquest.training.corpus import (
    BOOTSTRAP_SECRET,
    HUMAN_CORPUS_FILE,
    CorpusUnavailable,
    corpus_sha256,
    human_corpus,
    human_corpus_file,
    play_simulated_corpus,
    play_zoo_corpus,
    read_corpus_text,
    read_human_corpus,
    simulated_corpus,
    zoo_corpus,
)
from rpsquest.training.cycle import run_cycle
from tests.conftest import REPO
from tests.training_fixture import smaller_configs

# Where the corpus was handed over: beside the repository in CI, in no image.
HANDED_OVER = REPO.parent / "shared" / "data" / "human-rps" / HUMAN_CORPUS_FILE
PACKAGED = f"rpsquest/training/data/{HUMAN_CORPUS_FILE}.gz"
# Computed once from the first run; any change to rules, gambits or legacy bots moves it.
SIMULATED_CORPUS_SHA256 = "eebbef6ff24066428b0ede8261cff374d49f8486990368b9970ef368a8a935d9"
# The same for the first session of every zoo type; the zoo's players move it too.
ZOO_CORPUS_SHA256 = "69106fba26edc71b59cf848ba90e1fe34bde84d71d20ff9e3375f275abe876d1"


@pytest.fixture(scope="module")
def humans():
    return human_corpus()  # the packaged copy, as every image reads it


def test_the_human_corpus_has_the_expected_pseudo_games(humans):
    assert len(humans) == 10_418
    assert sum(game.finished for game in humans) == 9_779
    assert sum(len(game.rounds) for game in humans) == 122_310
    assert sum(game.labelled_rounds for game in humans) == 91_260


def test_each_pseudo_game_carries_its_sessions_cohort(humans):
    labelled = {"stable": 0, "adaptive": 0}
    for game in humans:
        labelled[game.cohort] += game.labelled_rounds

    assert labelled == {"stable": 47_481, "adaptive": 43_779}  # E1_stable_bots, E2_adaptive_bots
    assert next(g for g in humans if g.id == "bv2024:1:1").cohort == "stable"


@pytest.mark.skipif(not HANDED_OVER.exists(), reason="no handed-over corpus beside the repo")
def test_the_packaged_corpus_is_the_handed_over_csv_byte_for_byte():
    packaged = gzip.decompress(human_corpus_file(None).read_bytes())

    assert packaged == HANDED_OVER.read_bytes()


# Run by a separate interpreter with the unpacked wheel first on sys.path, as an image has it.
_READ_INSTALLED = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from rpsquest.training.corpus import human_corpus_file, read_corpus_text
source = human_corpus_file(None)
print(source)
print(hashlib.sha256(read_corpus_text(source).encode()).hexdigest())
"""


@pytest.mark.slow
def test_a_built_wheel_carries_the_corpus_and_reads_it_from_there(tmp_path):
    # What the image copies (pyproject.toml, shared/), built without touching the checkout.
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "shared", source / "shared", ignore=skip)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*pip, "-q", "-w", tmp_path / "dist", source], check=True, timeout=120)
    [wheel] = (tmp_path / "dist").glob("rpsquest-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)

    done = subprocess.run(
        [sys.executable, "-I", "-c", _READ_INSTALLED, str(site)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert {PACKAGED, "rpsquest/training/data/SOURCES.md"} <= set(names)
    installed, digest = done.stdout.split()
    assert Path(installed) == site / PACKAGED
    checkout = read_corpus_text(human_corpus_file(None)).encode()
    assert digest == hashlib.sha256(checkout).hexdigest()


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


HEADER = "game,experiment,bot_strategy,round,human_move,bot_move,human_outcome,human_rt_ms"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_missing_move_closes_the_pseudo_game_and_is_skipped(tmp_path, suffix):
    moves = [("R", "S"), ("N", "R"), ("N", "P"), ("P", "P"), ("S", "N")]
    moves += [("P", "R")] * 12 + [("R", "R")]  # paper beats rock: the user reaches 10 by then
    rows = [f"7,E1,x,{n},{h},{b},T,1" for n, (h, b) in enumerate(moves, start=1)]
    text = "\n".join([HEADER, *reversed(rows)]) + "\n"
    data = gzip.compress(text.encode()) if suffix else text.encode()
    (tmp_path / f"{HUMAN_CORPUS_FILE}{suffix}").write_bytes(data)

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
    assert {game.cohort for game in games.values()} == {None}  # "E1" is no experiment we know


def _packaged_gzip() -> bytes:
    return human_corpus_file(None).read_bytes()


# (file name suffix, its bytes, the problem reported: the start of it for zlib's own words)
UNREADABLE = {
    "missing": ("", None, "No such file or directory"),
    "truncated gzip": (
        ".gz",
        lambda: _packaged_gzip()[:100_000],
        "Compressed file ended before the end-of-stream marker was reached",
    ),
    "corrupt gzip": (
        ".gz",
        lambda: _packaged_gzip()[:1000] + bytes(100) + _packaged_gzip()[1100:],
        "Error -3 while decompressing data",
    ),
    "not gzip": (".gz", lambda: HEADER.encode(), "Not a gzipped file (b'ga')"),
    "bad header": ("", lambda: b"gm,rnd,human_move,bot_move\n1,1,R,R\n", "the CSV header lacks"),
    "bad row": ("", lambda: f"{HEADER}\n1,E1,x,two,R,R,T,1\n".encode(), "line 2: invalid literal"),
}


def _damaged_folder(tmp_path: Path, case: str) -> Path:
    """A corpus folder holding the damaged file of `case`; returns the file's path."""
    suffix, content, _problem = UNREADABLE[case]
    path = tmp_path / "corpus" / f"{HUMAN_CORPUS_FILE}{suffix}"
    if content is not None:
        path.parent.mkdir()
        path.write_bytes(content())
    return path


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_corpus_names_its_file_and_problem(tmp_path, case):
    path = _damaged_folder(tmp_path, case)

    with pytest.raises(CorpusUnavailable) as raised:
        read_human_corpus(path.parent)

    assert str(raised.value).startswith(f"{path}: {UNREADABLE[case][2]}")


@pytest.mark.parametrize(
    ("case", "bootstrap_rounds", "status", "trained"),
    [
        pytest.param(
            "missing",
            "3000",
            "partial",
            {"logistic": ["B", "Production", "shadow1", "shadow2"]},
            marks=pytest.mark.slow,  # four models trained and registered in MLflow
        ),
        ("truncated gzip", "1500", "failure", {}),  # 30% of 1500 is under RPS_TRAIN_MIN_ROUNDS
    ],
)
def test_a_cycle_without_its_human_corpus_trains_on_the_other_shares_if_it_can(
    database, make_settings, tmp_path, case, bootstrap_rounds, status, trained
):
    path = _damaged_folder(tmp_path, case)
    settings = make_settings(
        RPS_HUMAN_DATA_DIR=str(path.parent), RPS_TRAIN_BOOTSTRAP_ROUNDS=bootstrap_rounds
    )

    result = run_cycle(
        settings,
        database,
        open_store(settings.model_store),
        smaller_configs(),
        force=True,
        families=("logistic",),
    )

    assert result is not None
    reply = result.event_data()
    assert (reply["status"], reply["data"]["live_rounds"]) == (status, 0)
    assert reply["reason"].startswith(f"human corpus unavailable: {path}: {UNREADABLE[case][2]}")
    assert 0 < reply["data"]["bootstrap_rounds"] <= int(bootstrap_rounds) * 30 // 100
    assert {family: sorted(aliases) for family, aliases in reply["models"].items()} == trained
    with database.connect() as connection:
        stored = connection.execute(select(training_cycles)).mappings().one()
    assert (stored["id"], stored["status"]) == (result.cycle_id, status)
    assert json.loads(stored["summary"])["reason"] == reply["reason"]


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


@pytest.fixture(scope="module")
def zoo():
    return zoo_corpus(3000)  # two sessions of every type


def _session(game_id: str) -> tuple[str, int]:
    """The zoo type and seed of a zoo game id `zoo:{kind}:{seed}:{game_no}`."""
    _zoo, kind, seed, _game_no = game_id.split(":")
    return kind, int(seed)


def test_zoo_sessions_are_ten_finished_games_of_one_player_each(zoo):
    sessions = Counter(_session(g.id) for g in zoo)

    assert set(sessions.values()) == {10}
    assert {f"zoo:{kind}:{seed}:{n}" for kind, seed in sessions for n in range(1, 11)} == {
        g.id for g in zoo
    }
    assert all(g.finished and g.source == "zoo" and g.labelled_rounds > 0 for g in zoo)
    for game in zoo[:64]:
        opening = gambit_moves(choose_gambit(BOOTSTRAP_SECRET, game.id), game.id)
        assert tuple(r.bot_move for r in game.rounds[:3]) == opening


def test_zoo_sessions_draw_distinct_training_seeds_only(zoo):
    sessions = {_session(g.id) for g in zoo}

    expected = {(ZOO_TYPES[n % len(ZOO_TYPES)], TRAINING_SEEDS[n]) for n in range(32)}
    assert sessions == expected
    seeds = [seed for _kind, seed in sessions]
    assert len(set(seeds)) == len(seeds)
    assert all(seed in TRAINING_SEEDS and seed not in EVALUATION_SEEDS for seed in seeds)


@pytest.mark.parametrize("length", [16, 50, 137, 320])
def test_any_prefix_of_the_zoo_corpus_covers_every_type_evenly(zoo, length):
    kinds = Counter(_session(g.id)[0] for g in zoo[:length])

    assert set(kinds) == set(ZOO_TYPES)
    assert max(kinds.values()) - min(kinds.values()) <= 1


def test_the_zoo_corpus_is_byte_identical_across_runs():
    first, second = play_zoo_corpus(1), play_zoo_corpus(1)

    assert len(first) == 16 * 10
    assert first == second
    assert corpus_sha256(first) == ZOO_CORPUS_SHA256


def test_the_zoo_players_the_corpus_plays_import_nothing_of_training():
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, rpsquest.arena.seeds, rpsquest.arena.zoo; print(*sorted(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()

    assert [name for name in imported if name.startswith("rpsquest.training")] == []
