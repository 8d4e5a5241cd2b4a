import dataclasses
import json

import pytest
from sqlalchemy import select

from rpsquest.api import GameStateRequest, PlayRequest, StartGameRequest
from rpsquest.errors import BadToken, GameFinished, GameNotFound, RoundConflict
from rpsquest.features import N_FEATURES, PROBE_VECTOR
from rpsquest.game.bots import AliasPrediction, ModelUnavailable
from rpsquest.game.policies import draw_alias
from rpsquest.gameplay import Gameplay
from rpsquest.store.schema import games, predictions, rounds
from tests.conftest import GAME_1, GAME_2, GAME_3

MOVES = ("rock", "paper", "scissors")


class FixedModels:
    """A model bank answering fixed probabilities per alias (the real one is ONNX-backed)."""

    def __init__(self, probabilities, broken=()):
        self.probabilities = probabilities
        self.broken = broken

    def predict(self, family, features):
        assert len(features) == N_FEATURES
        return {
            alias: AliasPrediction(alias, 7, 3, p)
            for alias, p in self.probabilities.items()
            if alias not in self.broken
        }

    def assignment_id(self, family, alias):
        return 3


class NoBank(FixedModels):
    def predict(self, family, features):
        raise ModelUnavailable("load_failed")


@pytest.fixture
def make_gameplay(make_settings, database_url):
    gameplays = []

    def build(game_id=GAME_1, models=None, url=None):
        settings = make_settings(RPS_DATABASE_URL=url or database_url)
        gameplay = Gameplay.open(settings, models)
        gameplay._new_game_id = lambda: game_id
        gameplay._new_token = lambda: "t" * 43
        gameplays.append(gameplay)
        return gameplay

    yield build
    for gameplay in gameplays:
        gameplay.database.dispose()


def start(gameplay, policy="brian", **fields):
    return gameplay.start_game(StartGameRequest.from_json({"policy": policy, **fields}))


def play(gameplay, move, game_id=GAME_1, round_no=None, token="t" * 43):
    return gameplay.play_round(PlayRequest(game_id, token, move, round_no))


@pytest.mark.parametrize(
    ("game_id", "alias"), [(GAME_1, "Production"), (GAME_2, "B"), (GAME_3, "B")]
)
def test_alias_draw_matches_the_worked_examples(game_id, alias):
    assert draw_alias("rps-quest-dev-secret", game_id) == alias


def test_the_worked_example_game_plays_its_gambit(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay)

    replies = [play(gameplay, m) for m in ("rock", "paper", "scissors")]

    assert [r["bot_move"] for r in replies] == ["scissors"] * 3
    assert [(r["user_score"], r["bot_score"]) for r in replies] == [
        (1.4, 0.0),
        (1.4, 1.3),
        (1.9, 1.8),
    ]
    assert replies[-1]["next_round_points"] == {"rock": 1.5, "paper": 2.0, "scissors": 1.0}


LEANS_ROCK = FixedModels({alias: (0.5, 0.3, 0.2) for alias in ("Production", "B", "shadow1")})


@pytest.mark.parametrize(
    ("policy", "models"),
    [("brian", None), ("brian", LEANS_ROCK), ("ace", None), ("dan", None), ("gus", None)],
)
def test_the_bot_move_never_depends_on_the_user_move(make_gameplay, tmp_path, policy, models):
    prefix = ["rock", "paper", "paper", "scissors", "rock", "rock", "rock", "paper"]
    for round_no in range(1, len(prefix) + 2):
        bot_moves = set()
        for move in MOVES:
            url = f"sqlite:///{tmp_path / f'{policy}-{round_no}-{move}.db'}"
            gameplay = make_gameplay(url=url, models=models)
            start(gameplay, policy)
            for earlier in prefix[: round_no - 1]:
                play(gameplay, earlier)
            bot_moves.add(play(gameplay, move)["bot_move"])
        assert len(bot_moves) == 1, f"round {round_no}"


def test_without_models_ml_rounds_fall_back_and_stop_being_evidence(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay)

    replies = [play(gameplay, "rock") for _ in range(5)]

    with gameplay.database.connect() as connection:
        phases = connection.execute(select(rounds.c.phase).order_by(rounds.c.round_no)).scalars()
        game = connection.execute(select(games)).mappings().one()
    assert list(phases) == ["gambit"] * 3 + ["fallback"] * 2
    assert game["fallback_rounds"] == 2
    assert "probabilities" not in json.dumps(replies)


def test_the_acting_alias_decides_and_every_alias_prediction_is_stored(make_gameplay):
    leans_rock = (0.8, 0.1, 0.1)
    leans_scissors = (0.1, 0.1, 0.8)
    bank = FixedModels(
        {
            "Production": leans_rock,
            "B": leans_scissors,
            "shadow1": leans_rock,
            "shadow2": (0.4, 0.4, 0.2),
        }
    )
    gameplay = make_gameplay(models=bank)  # GAME_1 draws Production
    start(gameplay)
    for _ in range(3):
        play(gameplay, "rock")

    reply = play(gameplay, "rock")

    assert reply["bot_move"] == "paper"  # EV against a rock-heavy prediction
    with gameplay.database.connect() as connection:
        stored = connection.execute(select(predictions).order_by(predictions.c.alias)).mappings()
        by_alias = {row["alias"]: row for row in stored}
        round_4 = connection.execute(select(rounds).where(rounds.c.round_no == 4)).mappings().one()
    assert set(by_alias) == {"Production", "B", "shadow1", "shadow2"}
    assert by_alias["Production"]["correct"] and not by_alias["B"]["correct"]
    assert by_alias["shadow2"]["predicted"] == "rock"  # canonical tie-break
    assert (round_4["phase"], round_4["alias"], round_4["model_version"]) == ("ml", "Production", 7)


class RecordingModels(FixedModels):
    """Fixed answers, and a record of every feature vector asked about."""

    def __init__(self, probabilities):
        super().__init__(probabilities)
        self.seen = []

    def predict(self, family, features):
        self.seen.append(list(features))
        return super().predict(family, features)


def stored_state(gameplay):
    with gameplay.database.connect() as connection:
        return [
            connection.execute(select(table)).mappings().all()
            for table in (games, rounds, predictions)
        ]


def test_next_round_predictions_are_what_play_then_uses_and_write_nothing(make_gameplay):
    bank = RecordingModels(
        {
            "Production": (0.8, 0.1, 0.1),
            "B": (0.1, 0.1, 0.8),
            "shadow1": (0.2, 0.5, 0.3),
            "shadow2": (0.4, 0.4, 0.2),
        }
    )
    gameplay = make_gameplay(models=bank)  # GAME_1 draws Production
    start(gameplay)
    for move in ("rock", "paper", "scissors"):
        play(gameplay, move)
    before = stored_state(gameplay)

    shown = gameplay.next_round_predictions(GAME_1)

    assert stored_state(gameplay) == before
    assert {k: v for k, v in shown.items() if k != "predictions"} == {
        "game_id": GAME_1,
        "round": 4,
        "family": "feedforward",
        "alias": "Production",
        "phase": "ml",
    }
    assert shown["predictions"][1] == {
        "alias": "B",
        "version": 7,
        "probabilities": {"rock": 0.1, "paper": 0.1, "scissors": 0.8},
        "predicted": "scissors",
    }
    play(gameplay, "rock")
    with gameplay.database.connect() as connection:
        made = connection.execute(select(predictions)).mappings().all()
        features = connection.execute(
            select(rounds.c.features).where(rounds.c.round_no == 4)
        ).scalar_one()
    assert bank.seen == [json.loads(features)] * 2
    assert {p["alias"]: (p["p_rock"], p["p_paper"], p["p_scissors"]) for p in made} == {
        p["alias"]: tuple(p["probabilities"][m] for m in MOVES) for p in shown["predictions"]
    }


@pytest.mark.parametrize(
    ("policy", "rounds_played", "phase"),
    [("brian", 0, "gambit"), ("brian", 3, "fallback"), ("hal", 3, "legacy")],
)
def test_next_round_predictions_are_empty_when_no_model_predicts(
    make_gameplay, policy, rounds_played, phase
):
    gameplay = make_gameplay()  # no models at all
    start(gameplay, policy)
    for _ in range(rounds_played):
        play(gameplay, "rock")

    shown = gameplay.next_round_predictions(GAME_1)

    assert (shown["round"], shown["phase"], shown["predictions"]) == (rounds_played + 1, phase, [])


def test_next_round_predictions_need_a_running_game(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay, "cal")
    while not play(gameplay, "rock")["finished"]:
        pass

    with pytest.raises(GameNotFound):
        gameplay.next_round_predictions("nope")
    with pytest.raises(GameFinished):
        gameplay.next_round_predictions(GAME_1)


@pytest.mark.parametrize(
    ("bank", "reason"),
    [
        (FixedModels({"B": (0.2, 0.3, 0.5)}), "not_loaded"),
        (FixedModels({"Production": (0.9, 0.9, 0.9)}), "invalid_output"),
        (NoBank({}), "load_failed"),
    ],
)
def test_an_unusable_acting_model_falls_back(make_gameplay, bank, reason):
    from rpsquest import metrics

    counter = metrics.MODEL_FALLBACKS.labels("feedforward", "Production", reason)
    before = counter._value.get()
    gameplay = make_gameplay(models=bank)
    start(gameplay)
    for _ in range(4):
        reply = play(gameplay, "rock")

    assert reply["round"] == 4
    assert counter._value.get() == before + 1


def test_a_replayed_round_returns_the_stored_reply(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay)
    first = play(gameplay, "rock", round_no=1)
    play(gameplay, "paper", round_no=2)

    assert play(gameplay, "rock", round_no=1) == first
    with pytest.raises(RoundConflict):
        play(gameplay, "paper", round_no=1)
    with pytest.raises(RoundConflict):
        play(gameplay, "paper", round_no=5)


def test_a_wrong_token_or_game_is_refused(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay)

    with pytest.raises(BadToken):
        play(gameplay, "rock", token="x" * 43)
    with pytest.raises(GameNotFound):
        play(gameplay, "rock", game_id="nope")


def test_a_finished_game_refuses_moves_but_replays_its_last_round(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay, "cal")
    reply = {"finished": False}
    while not reply["finished"]:
        reply = play(gameplay, "rock")

    with pytest.raises(GameFinished):
        play(gameplay, "rock")
    assert play(gameplay, "rock", round_no=reply["round"]) == reply
    with gameplay.database.connect() as connection:
        game = connection.execute(select(games)).mappings().one()
    assert game["winner"] == reply["winner"]
    assert game["finished_at"] is not None
    assert game["rounds_played"] == reply["round"]


def state(gameplay, game_id=GAME_1, token="t" * 43):
    return gameplay.game_state(GameStateRequest(game_id, token))


def test_a_game_resumes_with_every_round_so_far_and_nothing_of_the_bot(make_gameplay):
    gameplay = make_gameplay(models=LEANS_ROCK)
    start(gameplay, player_name="Ada")
    replies = [play(gameplay, m) for m in ("rock", "paper", "scissors", "rock", "paper")]

    resumed = state(gameplay)

    per_game = ("game_id", "finished", "winner", "next_round_points")
    assert resumed["rounds"] == [{k: v for k, v in r.items() if k not in per_game} for r in replies]
    assert {k: v for k, v in resumed.items() if k != "rounds"} == {
        "game_id": GAME_1,
        "player_name": "Ada",
        "policy": "brian",
        "difficulty": "normal",
        "target_score": 10,
        "user_score": replies[-1]["user_score"],
        "bot_score": replies[-1]["bot_score"],
        "finished": False,
        "winner": None,
        "next_round": 6,
        "next_round_points": replies[-1]["next_round_points"],
    }
    text = json.dumps(resumed)
    for internal in ("alias", "Production", "gambit", "sandwich", "feature", "probabilit", "phase"):
        assert internal not in text


def test_a_finished_game_resumes_as_it_ended(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay, "cal")
    reply = {"finished": False}
    while not reply["finished"]:
        reply = play(gameplay, "rock")

    resumed = state(gameplay)

    assert len(resumed["rounds"]) == reply["round"]
    assert (resumed["finished"], resumed["winner"]) == (True, reply["winner"])
    assert (resumed["next_round"], resumed["next_round_points"]) == (None, None)


def test_a_game_resumes_only_with_its_own_token(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay)

    with pytest.raises(BadToken):
        state(gameplay, token="x" * 43)
    with pytest.raises(GameNotFound):
        state(gameplay, game_id="nope")
    assert state(gameplay)["rounds"] == []


def test_start_game_hides_the_alias_and_stores_only_the_token_hash(make_gameplay):
    gameplay = make_gameplay(models=FixedModels({}))

    reply = start(gameplay, "Logan", session_id="ab1-x", difficulty="easy")

    assert reply["player_name"] == "Player-AB1"
    assert (reply["policy"], reply["difficulty"], reply["round"]) == ("logan", "easy", 1)
    assert "alias" not in reply
    with gameplay.database.connect() as connection:
        game = connection.execute(select(games)).mappings().one()
    assert game["token_sha256"] != reply["game_token"]
    assert len(game["token_sha256"]) == 64
    assert (game["family"], game["alias"], game["assignment_id"]) == ("logistic", "Production", 3)
    assert game["gambit"] == "scissor-sandwich"


def test_stored_features_are_the_contract_vector(make_gameplay):
    gameplay = make_gameplay()
    start(gameplay)
    for move in ("rock", "paper", "scissors", "rock"):
        play(gameplay, move)

    with gameplay.database.connect() as connection:
        stored = connection.execute(
            select(rounds.c.features).where(rounds.c.round_no == 4)
        ).scalar_one()
    assert json.loads(stored) == pytest.approx(PROBE_VECTOR, abs=1e-9)  # §2.3's game


def test_settings_are_frozen(make_settings):
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_settings().game_secret = "x"


def play_session(gameplay, moves_per_game):
    """Games of one session, the player answering each round with the move of the given value
    rank (0 lowest), and every reply."""
    replies = []
    for k, tiers in enumerate(moves_per_game):
        game_id = f"00000000-0000-0000-0000-00000000010{k}"
        gameplay._new_game_id = lambda game_id=game_id: game_id
        reply = start(gameplay, session_id="session-1")
        points = reply["round_points"]
        for tier in tiers:
            ranked = sorted(points, key=points.get)
            reply = play(gameplay, ranked[tier], game_id=game_id)
            replies.append(reply)
            if reply["finished"]:
                break
            points = reply["next_round_points"]
    return replies


def test_a_bot_that_forgot_the_session_decides_exactly_as_one_that_remembers(
    make_gameplay, tmp_path
):
    """The adaptive state is rebuilt from the store (earlier games, the acting model's past
    predictions) when an instance has not kept it: every decision must come out the same."""
    irregular = [2, 0, 1, 1, 0, 2, 2, 1, 0, 0, 2, 1] * 3
    tiers = [[0] * 30, irregular, [1] * 30, irregular]
    warm = make_gameplay(url=f"sqlite:///{tmp_path / 'warm.db'}", models=LEANS_ROCK)
    cold = make_gameplay(url=f"sqlite:///{tmp_path / 'cold.db'}", models=LEANS_ROCK)
    forgetting = cold.play_round

    def play_round(request):
        cold.memory = type(cold.memory)()
        return forgetting(request)

    cold.play_round = play_round

    assert play_session(cold, tiers) == play_session(warm, tiers)


def test_play_keeps_as_many_adaptive_states_as_configured(make_settings, database_url):
    settings = make_settings(RPS_DATABASE_URL=database_url, RPS_ADAPTIVE_SESSIONS="64")
    gameplay = Gameplay.open(settings)
    assert gameplay.memory is not None and gameplay.memory.capacity == 64
    gameplay.database.dispose()
