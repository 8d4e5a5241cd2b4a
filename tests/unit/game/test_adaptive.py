import itertools
import random

import pytest

from rpsquest.arena.selfplay import play_session
from rpsquest.game.adaptive import AdaptiveMemory, AdaptiveState, SessionGame, _follows
from rpsquest.game.bots import AliasPrediction, decide
from rpsquest.game.players import LegacyPlayer
from rpsquest.game.policies import ML_POLICIES, unexploitable_move
from rpsquest.game.rules import MOVES, PlayedRound, beater, prey, round_points

SECRET = "adaptive-tests"
ALIASES = ("Production", "B", "shadow1", "shadow2")


class Leaning:
    """A model bank whose every alias leans the same way."""

    def __init__(self, probabilities=(0.5, 0.3, 0.2)):
        self.probabilities = probabilities

    def predict(self, family, features):
        return {a: AliasPrediction(a, 1, 1, self.probabilities) for a in ALIASES}

    def assignment_id(self, family, alias):
        return 1


class TierPlayer:
    """Plays the round's move of one value tier, or cycles through tiers."""

    def __init__(self, tiers):
        self.tiers = itertools.cycle(tiers)

    def move(self, game_id, history, points):
        return points.tier(next(self.tiers))

    def game_over(self, history):
        pass


def recording_bot(bank, memory):
    seen = []

    def bot(situation):
        decision = decide(situation, SECRET, bank, memory)
        seen.append((situation, decision.move))
        return decision

    return bot, seen


def bot_wins(games):
    return sum(g.rounds[-1].bot_score > g.rounds[-1].user_score for g in games)


@pytest.mark.parametrize("player", [TierPlayer("L"), TierPlayer("HML"), LegacyPlayer("dan")])
def test_a_bot_rebuilding_its_state_decides_as_the_one_that_kept_it(player):
    bot, seen = recording_bot(Leaning(), AdaptiveMemory())
    play_session("s-1", player, "logan", SECRET, bot=bot, games=4)

    for situation, move in seen:
        rebuilt = decide(situation, SECRET, Leaning(), AdaptiveMemory())
        assert rebuilt.move == move, (situation.game_id, situation.round_no)


def test_a_session_replays_exactly():
    def session():
        return play_session("s-2", LegacyPlayer("hal"), "brian", SECRET, Leaning(), games=3)

    assert session() == session()


@pytest.mark.parametrize("policy", ML_POLICIES)
@pytest.mark.parametrize("probabilities", [(1 / 3, 1 / 3, 1 / 3), (0.2, 0.2, 0.6)])
def test_a_player_who_always_plays_the_low_tier_loses_nearly_every_game(policy, probabilities):
    games = play_session("s-3", TierPlayer("L"), policy, SECRET, Leaning(probabilities))

    assert bot_wins(games) >= 0.9 * len(games)


def test_a_returning_players_habit_is_exploited_from_the_first_adaptive_round():
    earlier = play_session("s-4", TierPlayer("L"), "forrest", SECRET, Leaning(), games=2)
    game = play_session("s-4b", TierPlayer("L"), "forrest", SECRET, Leaning(), games=1)[0]
    opening = SessionGame(game.game_id, game.rounds[:3], ())
    points = game.rounds[3].points
    low = MOVES.index(points.low)

    returning = AdaptiveState()
    returning.follow([*earlier, opening])
    fresh = AdaptiveState()
    fresh.follow([opening])

    remembered = returning.advise(points, None).probabilities
    assert remembered[low] > 0.7
    assert remembered[low] > fresh.advise(points, None).probabilities[low]


def mean_belief_in_the_low_tier(tier_weights, seed, rounds=60):
    """The belief's mean probability of the round's low-tier move, rounds 11 on, against a
    player who picks the tiers H, M, L i.i.d. with these weights (the bot's moves at random)."""
    draw = random.Random(seed)
    state, played, beliefs = AdaptiveState(), [], []
    for n in range(1, rounds + 1):
        points = round_points(f"tiers-{seed}", n)
        belief = dict(zip(MOVES, state.advise(points, None).probabilities, strict=True))
        if n > 10:
            beliefs.append(belief[points.low])
        user = points.tier(draw.choices("HML", weights=tier_weights)[0])
        played.append(PlayedRound(n, user, draw.choice(MOVES), points, 0.0, 0.0))
        state.extend(SessionGame(f"tiers-{seed}", played))
    return sum(beliefs) / len(beliefs)


def test_the_belief_follows_a_tier_habit_it_earns_and_not_a_random_player():
    # The low tier 60 % of the time: the tier experts' hit rates stay near 0.6, well short of
    # certainty, and their evidence still earns the belief most of the way (the weights from
    # hit rates before it held 0.45 here).
    habit = [mean_belief_in_the_low_tier((2, 2, 6), seed) for seed in (1, 2, 3)]
    unread = [mean_belief_in_the_low_tier((1, 1, 1), seed) for seed in (1, 2, 3)]

    assert sum(habit) / 3 > 0.47
    assert max(unread) < 0.34


def test_a_player_who_wins_most_rounds_makes_the_bot_mix_in_randomness():
    points = round_points("g", 4)
    state = AdaptiveState()
    rounds = [
        PlayedRound(n, beater(points.high), points.high, points, 0.0, 0.0) for n in range(1, 12)
    ]
    state.follow([SessionGame("g", rounds)])

    assert state.advise(points, None).mix > 0.5
    assert AdaptiveState().advise(points, None).mix == 0.0


@pytest.mark.parametrize("game_id", ["g-1", "g-2", "g-3"])
def test_the_unexploitable_mix_leaves_every_player_move_the_same_expected_net(game_id):
    points = round_points(game_id, 5)
    draws = [k / 10_000 for k in range(10_000)]
    counts = {m: 0 for m in MOVES}
    for draw in draws:
        counts[unexploitable_move(points, draw)] += 1
    share = {m: counts[m] / len(draws) for m in MOVES}

    def net(user):  # the bot's points minus the player's, in expectation
        return share[beater(user)] * points[beater(user)] - share[prey(user)] * points[user]

    nets = [net(user) for user in MOVES]
    assert max(nets) - min(nets) < 1e-3
    weights = [points[prey(m)] for m in MOVES]
    assert [round(share[m], 3) for m in MOVES] == [round(w / sum(weights), 3) for w in weights]


@pytest.mark.parametrize(
    ("learnt", "games", "follows"),
    [
        ([], [("a", 3)], True),
        ([("a", 2)], [("a", 3)], True),
        ([("a", 3)], [("a", 3)], True),
        ([("a", 4)], [("a", 3)], False),  # a rolled-back round was learnt: rebuild
        ([("a", 3)], [("a", 5), ("b", 1)], True),
        ([("a", 3), ("b", 1)], [("a", 4), ("b", 1)], False),  # an earlier game grew
        ([("x", 3), ("a", 1)], [("a", 3), ("b", 1)], False),  # the memory moved on
        ([("a", 3), ("b", 1)], [("a", 3)], False),
    ],
)
def test_a_kept_state_is_reused_only_where_it_learnt_a_prefix(learnt, games, follows):
    assert _follows(learnt, games) is follows


def test_the_memory_forgets_the_least_recent_session_beyond_its_capacity():
    memory = AdaptiveMemory(capacity=2)
    for session in ("a", "b", "c"):
        memory.keep(session, AdaptiveState())

    assert list(memory._states) == ["b", "c"]
