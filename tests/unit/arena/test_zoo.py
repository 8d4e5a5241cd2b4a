import random

import pytest

from rpsquest.arena.human import HUMAN_STEP_COUNTS
from rpsquest.arena.predictors import Frequency, Markov
from rpsquest.arena.selfplay import play_session
from rpsquest.arena.strategies import (
    DOWN,
    STAY,
    UP,
    Iocaine,
    MoveMix,
    Noisy,
    Pattern,
    Respond,
    Switcher,
    TierMix,
    Transitions,
    certain_steps,
)
from rpsquest.arena.zoo import ZOO_TYPES, ZooPlayer, describe, zoo_player
from rpsquest.game.bots import Decision
from rpsquest.game.rules import beater
from tests.helpers import POINTS, rounds_of

CLASSIC_WSLS = certain_steps({"win": STAY, "lose": UP, "draw": STAY})
OWN = ("rock", "paper", "scissors", "rock", "scissors", "paper", "rock", "rock")


def _paper_bot(situation):
    return Decision("paper", "baseline")


def bot_moves(*moves):
    return rounds_of(*(f"rock/{move}" for move in moves))


def next_move(strategy, history, seed=0):
    for played in history:
        strategy.observe(played)
    return strategy.choose(POINTS, random.Random(seed))


@pytest.mark.parametrize(
    ("strategy", "history", "expected"),
    [
        # constant and patterns: one step per round of the session
        (Pattern(("scissors",)), [], "scissors"),
        (Pattern(("scissors",)), rounds_of("scissors/rock", "scissors/paper"), "scissors"),
        (Pattern(("rock", "paper", "scissors")), rounds_of("rock/rock", "paper/rock"), "scissors"),
        (Pattern(("rock", "rock", "paper")), bot_moves(*["rock"] * 5), "paper"),
        # mixtures with certain weights
        (MoveMix((0.0, 0.0, 1.0)), [], "scissors"),
        (TierMix((1.0, 0.0, 0.0)), [], "paper"),
        (TierMix((0.0, 1.0, 0.0)), [], "rock"),
        (TierMix((0.0, 0.0, 1.0)), [], "scissors"),
        # frequency counters beat the bot's most frequent move
        (Respond(Frequency(), UP), [], None),
        (Respond(Frequency(), UP), bot_moves("paper", "paper", "rock"), "scissors"),
        (Respond(Frequency(window=2), UP), bot_moves("paper", "paper", "rock", "rock"), "paper"),
        # beat-last and copy-last
        (Respond(Frequency(window=1), UP), bot_moves("paper", "scissors"), "rock"),
        (Respond(Frequency(window=1), STAY), bot_moves("paper", "scissors"), "scissors"),
        # the Markov-2 learner beats what followed the bot's last two moves
        (Respond(Markov(2), UP), bot_moves("rock", "paper", "scissors", "rock", "paper"), "rock"),
        (Respond(Markov(2), UP), bot_moves("rock", "paper"), None),
        # win-stay/lose-shift from its own last move
        (Transitions(CLASSIC_WSLS), [], None),
        (Transitions(CLASSIC_WSLS), rounds_of("rock/scissors"), "rock"),
        (Transitions(CLASSIC_WSLS), rounds_of("paper/paper", "rock/paper"), "paper"),
        (
            Transitions(certain_steps({"win": UP, "lose": DOWN, "draw": DOWN})),
            rounds_of("rock/paper"),
            "scissors",
        ),
        (
            Transitions(certain_steps({"win": DOWN, "lose": UP, "draw": UP})),
            rounds_of("rock/scissors"),
            "scissors",
        ),
        # Iocaine: nothing seen, a constant bot, a cycling bot, a bot beating its last move
        (Iocaine(3, 0.9), [], None),
        (Iocaine(3, 0.9), bot_moves(*["rock"] * 4), "paper"),
        (Iocaine(3, 0.9), bot_moves(*["rock", "paper", "scissors"] * 3), "paper"),
        (
            Iocaine(3, 0.9),
            rounds_of(f"{OWN[0]}/rock", *(f"{OWN[i]}/{beater(OWN[i - 1])}" for i in range(1, 8))),
            "scissors",  # the bot will beat rock with paper
        ),
        # noise
        (Noisy(Pattern(("paper",)), 0.0), [], "paper"),
        (Noisy(Pattern(("paper",)), 1.0), [], None),
        # the switcher moves on after `patience` lost rounds, not necessarily in a row
        (Switcher((Pattern(("rock",)), Pattern(("paper",))), 2), rounds_of("rock/paper"), "rock"),
        (
            Switcher((Pattern(("rock",)), Pattern(("paper",))), 2),
            rounds_of("rock/paper", "rock/scissors", "rock/paper"),
            "paper",
        ),
        (
            Switcher((Pattern(("rock",)), Pattern(("paper",))), 1),
            rounds_of("rock/paper", "paper/scissors"),
            "rock",
        ),
    ],
)
def test_a_strategy_plays_what_its_history_calls_for(strategy, history, expected):
    assert next_move(strategy, history) == expected


def test_the_human_like_steps_follow_the_corpus_table():
    table = {
        context: [c / sum(counts) for c in counts] for context, counts in HUMAN_STEP_COUNTS.items()
    }
    rng, ups = random.Random(7), 0
    for _ in range(4000):
        strategy = Transitions(table)
        for played in rounds_of("rock/paper", "paper/rock"):  # stepped up, and won
            strategy.observe(played)
        ups += strategy.choose(POINTS, rng) == "scissors"

    assert ups / 4000 == pytest.approx(12274 / (2788 + 12274 + 2999), abs=0.02)


def test_a_player_remembers_the_last_game_in_the_next():
    player = ZooPlayer(Respond(Frequency(window=1), UP), random.Random(0))
    player.game_over(rounds_of("rock/rock", "rock/scissors"))

    assert player.move("g-2", (), POINTS) == "rock"  # beats the bot's last move of game 1


def test_a_player_sees_each_round_once():
    player = ZooPlayer(Pattern(("rock", "paper", "scissors")), random.Random(0))
    history = rounds_of("rock/rock", "paper/paper")

    moves = [player.move("g-1", history[:n], POINTS) for n in range(3)]
    player.game_over(rounds_of("rock/rock", "paper/paper", "scissors/scissors"))

    assert moves == ["rock", "paper", "scissors"]
    assert player.move("g-2", (), POINTS) == "rock"


def test_a_player_without_an_opinion_plays_its_own_random_move():
    moves = {
        ZooPlayer(Respond(Frequency(), UP), random.Random(s)).move("g", (), POINTS)
        for s in range(20)
    }

    assert moves == {"rock", "paper", "scissors"}


def test_the_zoo_spans_at_least_fourteen_described_types():
    assert len(ZOO_TYPES) >= 14
    assert all(describe(kind) and "\n" not in describe(kind) for kind in ZOO_TYPES)


@pytest.mark.parametrize("kind", ZOO_TYPES)
def test_a_seed_fixes_a_types_whole_session(kind):
    def session(seed):
        return play_session(
            f"arena.{kind}.{seed}", zoo_player(kind, seed), "ev", "s", bot=_paper_bot
        )

    assert session(5) == session(5)
    assert len(session(5)) == 10


@pytest.mark.parametrize("kind", [k for k in ZOO_TYPES if k != "random"])
def test_seeds_draw_different_players_of_a_type(kind):
    def moves(seed):
        player = zoo_player(kind, seed)
        games = play_session("arena.same", player, "ev", "s", games=2, bot=_paper_bot)
        return [r.user_move for game in games for r in game.rounds]

    assert len({tuple(moves(seed)) for seed in range(6)}) > 1
