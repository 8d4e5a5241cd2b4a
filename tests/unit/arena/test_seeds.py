from rpsquest.arena.seeds import EVALUATION_SEEDS, TRAINING_SEEDS, evaluation_seed


def test_training_and_evaluation_seeds_are_disjoint():
    overlap = range(
        max(TRAINING_SEEDS.start, EVALUATION_SEEDS.start),
        min(TRAINING_SEEDS.stop, EVALUATION_SEEDS.stop),
    )

    assert len(overlap) == 0
    assert TRAINING_SEEDS.step == EVALUATION_SEEDS.step == 1


def test_arena_sessions_draw_from_the_evaluation_range():
    seeds = [evaluation_seed(s) for s in (0, 1, len(EVALUATION_SEEDS) - 1)]

    assert all(seed in EVALUATION_SEEDS and seed not in TRAINING_SEEDS for seed in seeds)
    assert len(set(seeds)) == 3
