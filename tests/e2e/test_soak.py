"""The soak's short run (bench/soak.py; `make soak` is the long one): eight players for a
minute against the production profile, while the PingSource schedules run sixty times faster,
so that training and promotion run under the load every thirty seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import soak
from rpsquest.production import throwaway
from tests.conftest import REPO
from tests.training_fixture import smaller_configs_file

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]


def test_a_minute_of_play_under_the_schedules_loses_and_double_counts_nothing(tmp_path: Path):
    overrides = {
        "RPS_MODEL_CONFIGS": smaller_configs_file(tmp_path),
        "RPS_TRAIN_BOOTSTRAP_ROUNDS": "800",
        "RPS_TRAIN_ARENA_SESSIONS": "1",
    }
    speed = ("--schedule-speed", "60")
    with throwaway(REPO, tmp_path, overrides, speed, pings=True) as production:
        report = soak.run(production, players=8, seconds=60, think=0.05)
    print("\n".join(report.lines()))

    assert report.tally.finished >= 8 and report.rounds >= 200
    assert report.audit["lost"] == 0
    assert report.audit["double_counted"] == 0
    assert report.server_errors == 0, report.tally.statuses
    # a scheduled cycle started under the load (on two busy cores it may not finish in a minute)
    assert sum(n for key, n in report.audit.items() if key.startswith("cycles ")) >= 1
