import pytest

from rpsquest.arena.seeds import EVALUATION_SEEDS
from rpsquest.arena.tournament import (
    Cell,
    Rate,
    SessionOutcome,
    Tournament,
    run_tournament,
    session_outcome,
    tally,
    wilson,
)
from rpsquest.arena.venues import InProcess, PlayedSession
from rpsquest.game.rules import PlayedRound, RoundPoints

POINTS = RoundPoints(1.5, 2.0, 1.0)


@pytest.mark.parametrize(
    ("wins", "games", "expected"),
    # the roots of (p - wins / games)^2 = z^2 p (1 - p) / games, solved by hand, z = 1.959964
    [
        (7, 10, (0.396778, 0.892209)),
        (0, 10, (0.0, 0.277533)),
        (10, 10, (0.722467, 1.0)),
        (75, 100, (0.656955, 0.824548)),
        (0, 0, (0.0, 1.0)),
    ],
)
def test_the_wilson_interval_matches_hand_computed_bounds(wins, games, expected):
    assert wilson(wins, games) == pytest.approx(expected, abs=1e-6)


def _finished(user_score, bot_score, rounds=1):
    played = PlayedRound(rounds, "rock", "rock", POINTS, user_score, bot_score)
    return (played,) * rounds


def test_a_session_outcome_counts_bot_wins_and_a_tie_is_not_one():
    games = (_finished(7.5, 10.4, rounds=13), _finished(10.0, 10.0, 9), _finished(10.2, 8.0, 11))

    outcome = session_outcome(PlayedSession(games, {"gambit": 9}))

    assert outcome == SessionOutcome((True, False, False), (13, 9, 11), {"gambit": 9})


def test_a_cell_rates_games_1_to_10_and_game_1_apart():
    sessions = [
        SessionOutcome((True, True, False, True), (10, 12, 14, 12), {"ml": 20, "gambit": 12}),
        SessionOutcome((False, True, True, True), (11, 13, 15, 11), {"ml": 22, "fallback": 2}),
    ]

    cell = tally("brian", "iocaine", sessions)

    assert cell.games == Rate(6, 8)
    assert cell.first_games == Rate(1, 2)
    assert cell.games.value == 0.75
    assert cell.mean_rounds == 98 / 8
    assert cell.phases == {"ml": 42, "gambit": 12, "fallback": 2}


def test_the_headline_is_the_unweighted_mean_over_types():
    cells = {
        ("logan", "constant"): Cell("logan", "constant", Rate(1, 2), Rate(0, 1), 20, {}),
        ("logan", "random"): Cell("logan", "random", Rate(9, 10), Rate(1, 1), 120, {}),
    }

    tournament = Tournament(("logan",), ("constant", "random"), 1, cells)

    assert tournament.headline("logan") == pytest.approx(0.7)  # not 10 / 12
    assert tournament.headline("logan", first_game=True) == 0.5
    assert tournament.mean_rounds("logan") == 140 / 12


class Recorder:
    """A venue that plays nothing: every game a user win, every session written down."""

    bots = ("a", "b")

    def __init__(self):
        self.sessions = []

    def open(self):
        def run(session_id, player, bot):
            self.sessions.append((bot, session_id))
            return PlayedSession((_finished(10.0, 0.0),) * 10, {})

        return run


def test_every_bot_meets_the_same_evaluation_sessions():
    recorder = Recorder()

    tournament = run_tournament(recorder, ["a", "b"], ["cycle", "random"], 2)

    assert recorder.sessions == [
        (bot, f"arena.{kind}.{EVALUATION_SEEDS[s]}")
        for bot in ("a", "b")
        for kind in ("cycle", "random")
        for s in range(2)
    ]
    assert tournament.cells["b", "random"].games == Rate(0, 20)


@pytest.fixture
def venue(make_settings):
    return InProcess(make_settings())  # an empty model store: ML bots fall back


def test_a_tournament_is_the_same_whatever_the_job_count(venue):
    def tournament(jobs):
        return run_tournament(venue, ["ev-markov1", "brian"], ["iocaine", "wsls"], 3, jobs)

    one = tournament(1)

    assert one == tournament(1) == tournament(2)
    assert one.cells["brian", "wsls"].games.games == 30


def test_without_models_the_ml_bots_fall_back_after_the_gambit(venue):
    tournament = run_tournament(venue, ["forrest"], ["random"], 2)

    phases = tournament.phases("forrest")
    assert set(phases) == {"gambit", "fallback"}
    assert phases["gambit"] == 2 * 10 * 3


@pytest.mark.parametrize(
    ("bot", "low", "high"), [("ev-uniform", 0.65, 0.85), ("uniform", 0.35, 0.6)]
)
def test_against_random_players_the_baselines_win_as_expected(venue, bot, low, high):
    rate = run_tournament(venue, [bot], ["random"], 30).cells[bot, "random"].games

    assert low < rate.value < high
