"""Business gauges recomputed from the gameplay store (SPEC §11), exposed by promote's /metrics.

Counters die with a scaled-to-zero instance; these figures are read back from the database on
scrape, at most once per `ttl` seconds, so they are the same whichever instance answers. The
read's own time goes with them: figures served again while the store is down show their age.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rpsquest.errors import Unavailable
from rpsquest.game.policies import POLICIES
from rpsquest.promotion.posterior import prob_b_better
from rpsquest.promotion.views import alias_table
from rpsquest.store.cycles import latest_finish
from rpsquest.store.database import read_connection
from rpsquest.store.evidence import policy_results
from rpsquest.store.games import utc_now
from rpsquest.store.ledger import insufficient_data_since

log = logging.getLogger(__name__)

WINDOW = timedelta(days=7)


def _alias_gauges(connection: Connection) -> list[Metric]:
    """Games, bot win rate and accuracy of every alias's current lineage (§9.1 evidence), its
    version's arena headline, and each family's P(θ_B > θ_P)."""
    played = GaugeMetricFamily(
        "rps_alias_games",
        "Evidence games (finished, human, non-test) of each alias's current lineage.",
        labels=["family", "alias"],
    )
    win_rate = GaugeMetricFamily(
        "rps_alias_bot_win_rate",
        "Share of the alias's evidence games the bot won.",
        labels=["family", "alias"],
    )
    accuracy = GaugeMetricFamily(
        "rps_alias_prediction_accuracy",
        "Share of the alias's predictions of the user's move that came true.",
        labels=["family", "alias"],
    )
    arena = GaugeMetricFamily(
        "rps_alias_arena_headline",
        "Train's strength check of the alias's current version: mean match win rate over the "
        "zoo's types.",
        labels=["family", "alias"],
    )
    posterior = GaugeMetricFamily(
        "rps_promotion_posterior_b_better",
        "P(B's bot win rate > Production's) under Beta(1, 1) priors, on the evidence so far.",
        labels=["family"],
    )
    acting: dict[str, dict[str, dict]] = {}
    for row in alias_table(connection, None)["aliases"]:
        labels = [row["family"], row["alias"]]
        played.add_metric(labels, row["games"])
        if row["bot_win_rate"] is not None:
            win_rate.add_metric(labels, row["bot_win_rate"])
        if row["accuracy"] is not None:
            accuracy.add_metric(labels, row["accuracy"])
        if row["arena_headline"] is not None:
            arena.add_metric(labels, row["arena_headline"])
        acting.setdefault(row["family"], {})[row["alias"]] = row
    for family, rows in acting.items():
        if {"Production", "B"} <= rows.keys():
            b, production = rows["B"], rows["Production"]
            posterior.add_metric(
                [family],
                prob_b_better(
                    b["bot_wins"], b["games"], production["bot_wins"], production["games"]
                ),
            )
    return [played, win_rate, accuracy, arena, posterior]


def _policy_gauges(connection: Connection) -> list[Metric]:
    """Finished human, non-test games per policy over the last seven days, and the bot's share."""
    finished = GaugeMetricFamily(
        "rps_games_finished_7d",
        "Human, non-test games finished in the last 7 days.",
        labels=["policy"],
    )
    win_rate = GaugeMetricFamily(
        "rps_policy_bot_win_rate_7d",
        "Share of the last 7 days' human, non-test games the bot won.",
        labels=["policy"],
    )
    counts = policy_results(connection, utc_now(-WINDOW.total_seconds()))
    for policy in POLICIES:
        n, wins = counts.get(policy, (0, 0))
        finished.add_metric([policy], n)
        if n:
            win_rate.add_metric([policy], wins / n)
    return [finished, win_rate]


def _unix_time(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def _training_gauge(connection: Connection) -> list[Metric]:
    last = latest_finish(connection, "success")
    gauge = GaugeMetricFamily(
        "rps_last_training_success_timestamp_seconds",
        "When the last fully successful training cycle finished (Unix time).",
    )
    if last is not None:
        gauge.add_metric([], _unix_time(last))
    return [gauge]


def _stuck_promotion_gauge(connection: Connection) -> list[Metric]:
    """A family whose evidence never reaches the minimum is never judged: how long it has been."""
    gauge = GaugeMetricFamily(
        "rps_promotion_insufficient_data_since_timestamp_seconds",
        "Since when every promotion evaluation of the family has found too few games (Unix "
        "time; no series once one decides).",
        labels=["family"],
    )
    for family, since in sorted(insufficient_data_since(connection).items()):
        gauge.add_metric([family], _unix_time(since))
    return [gauge]


def business_metrics(connection: Connection) -> list[Metric]:
    """Every business gauge, read in one connection, and when they were read."""
    read = GaugeMetricFamily(
        "rps_business_gauges_read_timestamp_seconds",
        "When promote last read the business gauges from the database (Unix time).",
    )
    read.add_metric([], time.time())
    return [
        *_alias_gauges(connection),
        *_policy_gauges(connection),
        *_training_gauge(connection),
        *_stuck_promotion_gauge(connection),
        read,
    ]


class BusinessGauges(Collector):
    """A custom collector that reads the store on scrape, cached for `ttl` seconds.

    When the store is unreachable, or the function cannot open it at all (a bad setting, say),
    the last figures are served again (none before the first read): a scrape never fails for
    the store's sake, and its runtime metrics stay readable when they matter most.
    """

    def __init__(
        self,
        database: Callable[[], Engine],
        ttl: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._metrics: list[Metric] = []
        self._read_at: float | None = None

    def describe(self) -> list[Metric]:
        return []  # registering must not touch the database

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._ttl:
                self._metrics = self._read()
                self._read_at = now
            metrics = list(self._metrics)
        yield from metrics

    def _read(self) -> list[Metric]:
        """Fresh figures, or the last ones when the store cannot be opened or read."""
        try:
            database = self._database()
        except Exception:  # the function's own routes answer why; the scrape goes on
            log.exception("business gauges: the store could not be opened; serving the last read")
            return self._metrics
        try:
            with read_connection(database) as connection:
                return business_metrics(connection)
        except (Unavailable, SQLAlchemyError):
            log.warning("business gauges: the store is unavailable; serving the last read")
            return self._metrics
