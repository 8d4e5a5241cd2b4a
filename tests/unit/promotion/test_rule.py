import pytest

from rpsquest.promotion.posterior import prob_b_better
from rpsquest.promotion.rule import judge, ranked_challengers, reorder
from rpsquest.store.evidence import GameEvidence


@pytest.mark.parametrize(
    ("production", "b", "expected"),
    [
        ((20, 30), (26, 30), 0.963430),
        ((21, 30), (26, 30), 0.936434),
        ((22, 30), (26, 30), 0.894364),
        ((15, 30), (23, 30), 0.982817),
        ((24, 30), (24, 30), 0.5),
        ((40, 60), (50, 60), 0.981716),
    ],
)
def test_the_posterior_matches_the_worked_examples(production, b, expected):
    assert prob_b_better(*b, *production) == pytest.approx(expected, abs=1e-6)


def test_the_posterior_is_complementary():
    forward = prob_b_better(17, 40, 22, 35)
    backward = prob_b_better(22, 35, 17, 40)

    assert forward + backward == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("production", "b", "decision"),
    [
        ((20, 30), (26, 30), "promote_b"),
        ((21, 30), (26, 30), "retain"),
        ((13, 16), (25, 30), "insufficient_data"),  # the original's one swap
        ((20, 30), (29, 29), "insufficient_data"),
    ],
)
def test_production_against_b(production, b, decision):
    (p_wins, p_games), (b_wins, b_games) = production, b

    verdict, _ = judge(GameEvidence(p_games, p_wins), GameEvidence(b_games, b_wins), 30, 0.95)

    assert verdict == decision


def test_b_competes_with_the_shadows_only_after_a_retain():
    assert ranked_challengers("retain") == ("B", "shadow1", "shadow2")
    assert ranked_challengers("promote_b") == ("shadow1", "shadow2")
    assert ranked_challengers("insufficient_data") == ("shadow1", "shadow2")


@pytest.mark.parametrize(
    ("challengers", "accuracy", "common", "moves"),
    [
        (
            ("shadow1", "shadow2"),
            {"shadow1": 0.40, "shadow2": 0.45},
            300,
            {"shadow1": "shadow2", "shadow2": "shadow1"},
        ),
        (("shadow1", "shadow2"), {"shadow1": 0.45, "shadow2": 0.40}, 300, {}),
        (("shadow1", "shadow2"), {"shadow1": 0.40, "shadow2": 0.40}, 300, {}),
        (("shadow1", "shadow2"), {"shadow1": 0.40, "shadow2": 0.45}, 299, {}),
        (
            ("B", "shadow1", "shadow2"),
            {"B": 0.38, "shadow1": 0.41, "shadow2": 0.39},
            500,
            {"B": "shadow1", "shadow1": "shadow2", "shadow2": "B"},
        ),
    ],
)
def test_challengers_are_ordered_by_accuracy_on_shared_rounds(challengers, accuracy, common, moves):
    assert reorder(challengers, accuracy, common, 300) == moves
