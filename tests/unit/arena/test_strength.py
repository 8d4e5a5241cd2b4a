"""The adaptive policy on real (small) trained ONNX models against the zoo: a smoke tournament
that keeps the strength from quietly regressing. `make arena` measures it properly."""

import pytest

from rpsquest.arena.selfplay import play_session, server_bot
from rpsquest.arena.tournament import run_tournament
from rpsquest.arena.venues import InProcess
from rpsquest.arena.zoo import ZOO
from rpsquest.game.policies import ML_POLICIES
from rpsquest.modelstore import open_store
from rpsquest.serving import ServingModels
from tests.training_fixture import project_settings, publish_copy

pytestmark = pytest.mark.slow

# Far below what `make arena` measures (about 0.9), far above plain EV (about 0.7).
HEADLINE_FLOOR = 0.8


@pytest.fixture
def venue(trained_cycle, tmp_path):
    publish_copy(trained_cycle, tmp_path)
    return InProcess(project_settings(tmp_path))


def test_every_ml_policy_beats_the_zoo_well_above_plain_ev(venue):
    tournament = run_tournament(venue, ML_POLICIES, tuple(ZOO), sessions=2, jobs=2)

    for bot in ML_POLICIES:
        assert tournament.headline(bot) >= HEADLINE_FLOOR, (bot, tournament.headline(bot))
        assert tournament.phases(bot)["fallback"] == 0


class LowTier:
    """Always the round's lowest-value move: invisible to a model over move one-hots."""

    def move(self, game_id, history, points):
        return points.low

    def game_over(self, history):
        pass


@pytest.mark.parametrize("policy", ML_POLICIES)
def test_a_player_who_always_plays_the_low_tier_loses_nearly_every_game(venue, policy):
    settings = venue.settings
    models = ServingModels(settings, open_store(settings.model_store))
    bot = server_bot(settings.game_secret, models)

    games = play_session("low-tier", LowTier(), policy, settings.game_secret, bot=bot)

    assert sum(g.rounds[-1].bot_score > g.rounds[-1].user_score for g in games) >= 9
