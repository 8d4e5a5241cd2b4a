from rpsquest.arena.human import HUMAN_STEP_COUNTS, fit_step_counts
from rpsquest.arena.strategies import DOWN, STAY, UP
from rpsquest.training.corpus import human_corpus
from tests.helpers import rounds_of


def test_refitting_the_human_corpus_reproduces_the_committed_table():
    assert fit_step_counts(game.rounds for game in human_corpus()) == HUMAN_STEP_COUNTS


def test_a_step_is_counted_by_the_result_and_step_before_it():
    game = rounds_of("rock/scissors", "paper/rock", "paper/scissors", "rock/rock")

    counts = fit_step_counts([game])

    assert counts["win", UP] == (1, 0, 0)  # rock -> paper won, then paper stayed
    assert counts["lose", STAY] == (0, 0, 1)  # paper stayed and lost, then stepped down
    assert sum(map(sum, counts.values())) == 2
    assert counts["draw", DOWN] == (0, 0, 0)
