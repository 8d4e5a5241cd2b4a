"""SPEC §6 parity: the training path rebuilds exactly the vectors play stored and served."""

import json
import math

import pytest
from sqlalchemy import select

from rpsquest.api import PlayRequest, StartGameRequest
from rpsquest.game.bots import AliasPrediction
from rpsquest.game.policies import ALIASES
from rpsquest.game.rules import MOVES
from rpsquest.gameplay import Gameplay
from rpsquest.store.schema import rounds
from rpsquest.training.dataset import rebuild_game_features


class LeaningModels:
    """A model bank whose prediction follows the features, so ML rounds take varied moves."""

    def predict(self, family, features):
        logits = [features[0] + features[39], features[1] + features[42], features[2] + 0.3]
        total = sum(math.exp(x) for x in logits)
        probabilities = tuple(math.exp(x) / total for x in logits)
        return {alias: AliasPrediction(alias, 1, 1, probabilities) for alias in ALIASES}

    def assignment_id(self, family, alias):
        return 1


GAMES = [
    ("brian", "normal", True),
    ("brian", "easy", True),
    ("logan", "easy", False),  # no model: fallback rounds
    ("forrest", "normal", False),
    ("ace", "normal", False),
    ("dan", "normal", False),
    ("gus", "normal", False),
    ("hal", "normal", False),
]


def play_scripted_game(gameplay: Gameplay, policy: str, difficulty: str, seed: int) -> str:
    started = gameplay.start_game(
        StartGameRequest.from_json({"policy": policy, "difficulty": difficulty})
    )
    reply = {"finished": False, "round": 0}
    while not reply["finished"]:
        move = MOVES[(reply["round"] ** 2 + seed * reply["round"] + seed) % 3]
        reply = gameplay.play_round(PlayRequest(started["game_id"], started["game_token"], move))
    return started["game_id"]


@pytest.fixture
def gameplays(make_settings, database_url):
    settings = make_settings(RPS_DATABASE_URL=database_url)
    with_models, without = Gameplay.open(settings, LeaningModels()), Gameplay.open(settings)
    yield with_models, without
    with_models.database.dispose()
    without.database.dispose()


def test_rebuilt_vectors_equal_the_stored_ones_for_every_labelled_round(gameplays):
    with_models, without = gameplays
    played = [
        play_scripted_game(with_models if ml else without, policy, difficulty, seed)
        for seed, (policy, difficulty, ml) in enumerate(GAMES)
    ]

    with with_models.database.connect() as connection:
        phases = set(connection.execute(select(rounds.c.phase)).scalars())
        for game_id, (_, difficulty, _) in zip(played, GAMES, strict=True):
            stored = connection.execute(
                select(rounds.c.features)
                .where(rounds.c.game_id == game_id, rounds.c.round_no >= 4)
                .order_by(rounds.c.round_no)
            ).scalars()
            rebuilt = rebuild_game_features(connection, game_id)

            assert rebuilt == [json.loads(v) for v in stored]
            assert len(rebuilt) >= 3
            assert {v[49] for v in rebuilt} == {1.0 if difficulty == "easy" else 0.0}
    assert phases == {"gambit", "ml", "fallback", "legacy"}
