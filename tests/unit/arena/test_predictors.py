import pytest

from rpsquest.arena.predictors import Frequency, HistoryMatch, Markov

SCISSORS_RR = ("scissors", "rock", "rock", "scissors", "rock", "rock")


def predicted(predictor, *stream):
    for symbol in stream:
        predictor.observe(symbol)
    return predictor.predict()


@pytest.mark.parametrize(
    ("predictor", "stream", "expected"),
    [
        (Frequency(), (), None),
        (Frequency(), ("paper", "rock", "paper"), "paper"),
        (Frequency(), ("scissors", "paper"), "paper"),  # a tie goes to the canonical order
        (Frequency(window=2), ("paper", "paper", "paper", "rock", "rock"), "rock"),
        (Frequency(window=1), ("paper", "scissors"), "scissors"),
        (Markov(order=2), ("rock", "paper"), None),
        (Markov(order=2), ("rock", "paper", "scissors", "rock", "paper"), "scissors"),
        (Markov(order=2), ("rock", "paper", "scissors"), None),  # (paper, scissors) unseen
        # (rock, rock) was followed by paper, scissors, scissors
        (Markov(order=2), ("rock", "rock", "paper", "rock", "rock", *SCISSORS_RR), "scissors"),
        # by paper and scissors once each: a tie goes to the canonical order
        (
            Markov(order=2),
            ("rock", "rock", "paper", "rock", "rock", "scissors", "rock", "rock"),
            "paper",
        ),
        (Markov(order=1), ("rock", "paper", "rock", "paper", "rock", "scissors", "rock"), "paper"),
        (HistoryMatch(3), ("rock",), None),
        (HistoryMatch(3), ("rock", "paper", "scissors", "rock", "paper"), "scissors"),
        # the longest run wins over a shorter, more recent one
        (
            HistoryMatch(3),
            ("paper", "rock", "scissors", "rock", "rock", "paper", "rock"),
            "scissors",
        ),
        (
            HistoryMatch(2),
            (("rock", "paper"), ("paper", "rock"), ("rock", "paper")),
            ("paper", "rock"),
        ),
    ],
)
def test_a_predictor_expects_the_next_symbol(predictor, stream, expected):
    assert predicted(predictor, *stream) == expected
