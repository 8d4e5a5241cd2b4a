import pytest

from rpsquest.game.gambits import GAMBITS, choose_gambit, gambit_draw, gambit_moves
from tests.conftest import GAME_1, GAME_2, GAME_3

SECRET = "rps-quest-dev-secret"


@pytest.mark.parametrize(
    ("game_id", "draw", "name", "moves"),
    [
        (GAME_1, 50, "scissor-sandwich", ("scissors", "scissors", "scissors")),
        (GAME_2, 48, "scissor-sandwich", ("rock", "paper", "scissors")),
        (GAME_3, 24, "denouement", ("paper", "rock", "paper")),
    ],
)
def test_gambits_follow_the_worked_examples(game_id, draw, name, moves):
    gambit = choose_gambit(SECRET, game_id)

    assert gambit_draw(SECRET, game_id) == draw
    assert gambit.name == name
    assert gambit_moves(gambit, game_id) == moves


def test_gambit_weights_cover_exactly_one_hundred_draws():
    assert sum(g.weight for g in GAMBITS) == 100
    assert [g.name for g in GAMBITS][:2] == ["crescendo", "denouement"]


def test_the_gambit_depends_on_the_secret():
    names = {choose_gambit(f"secret-{i}", GAME_1).name for i in range(40)}

    assert len(names) > 3
