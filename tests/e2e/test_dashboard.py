"""Every panel of dashboards/rps-quest.json shows data from the local stack (SPEC §11).

Debian's Prometheus scrapes the four functions with observability/prometheus.yml while players
play, one training cycle and one promotion run through the broker; then every Prometheus query of
the dashboard is evaluated and every rps-api URL is fetched from promote.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import yaml

from rpsquest.client import Client
from rpsquest.events import PROMOTION_REQUESTED, TRAINING_REQUESTED, new_event
from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.policies import ML_POLICIES
from rpsquest.local import start_prometheus
from rpsquest.processes import free_port
from tests.conftest import REPO
from tests.e2e.conftest import publish, serving
from tests.helpers import wait_for
from tests.prometheus import PrometheusApi, stack_config

SCRAPE_SECONDS = 5  # observability/prometheus.yml
PANELS = [
    panel
    for panel in json.loads((REPO / "dashboards" / "rps-quest.json").read_text())["panels"]
    if panel["type"] != "row"
]


def targets(datasource: str) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, query) of every query on `datasource`."""
    return [
        (panel["title"], target)
        for panel in PANELS
        for target in panel["targets"]
        if target["datasource"]["uid"] == datasource
    ]


@dataclass(frozen=True)
class Prometheus(PrometheusApi):
    started: float  # time.monotonic() before it started

    def concrete(self, expr: str) -> str:
        """The query as a panel whose time range is this whole run evaluates it at its end."""
        run = f"{math.ceil(time.monotonic() - self.started) + SCRAPE_SECONDS}s"
        for variable, duration in (
            ("$__rate_interval", run),
            ("$__range", run),
            ("$__interval", f"{SCRAPE_SECONDS}s"),
        ):
            expr = expr.replace(variable, duration)
        return expr

    def shows_data(self, expr: str) -> bool:
        """A number to show: some series whose value is not NaN (a quantile or share of nothing)."""
        return any(not math.isnan(float(s["value"][1])) for s in self.query(self.concrete(expr)))


@pytest.fixture
def prometheus(platform, tmp_path) -> Iterator[Prometheus]:
    _, servers = platform
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "prometheus.yml").write_text(yaml.safe_dump(stack_config(servers)))
    started = time.monotonic()
    process = start_prometheus(
        folder / "prometheus.yml", free_port(), folder / "data", folder / "prometheus.log"
    )
    server = Prometheus(process.url, started)
    try:
        wait_for(lambda: len(server.scraped_jobs()) == len(servers), 30, "every function scraped")
        yield server
    finally:
        process.stop()


def selects(row: Mapping[str, Any], selector: str) -> bool:
    """Whether a dotted Infinity column selector names a field of the row."""
    for key in selector.split("."):
        if not isinstance(row, Mapping) or key not in row:
            return False
        row = row[key]
    return True


def test_every_dashboard_query_returns_data_from_the_local_stack(platform, prometheus):
    broker, servers = platform
    play, promote = servers["play"], servers["promote"]
    client = Client(servers["start_game"].url)
    for policy in (*ML_POLICIES, LEGACY_BOTS[0]):  # no model yet: the ML policies fall back
        client.play_game("cal", policy)
    publish(broker, new_event("admin", TRAINING_REQUESTED, {"force": True}, "e2e", "boot-1"))
    wait_for(lambda: serving(play)[0], 300, "the first manifest")
    for policy in ML_POLICIES:
        client.play_game("cal", policy)
    publish(broker, new_event("admin", PROMOTION_REQUESTED, {}, "e2e", "promote-1"))
    wait_for(
        lambda: any(
            row["trigger_event_id"] == "promote-1"
            for row in requests.get(promote.url + "promotions", timeout=10).json()["promotions"]
        ),
        60,
        "the promotion's ledger rows",
    )

    # The last counts need two more scrapes, and promote's business gauges a fresh read (≤ 15 s).
    queries = targets("rps-prometheus")
    deadline = time.monotonic() + 45
    empty = queries
    while empty and time.monotonic() < deadline:
        time.sleep(1)
        empty = [(title, q) for title, q in empty if not prometheus.shows_data(q["expr"])]
    assert not empty, "panels without data:\n" + "\n".join(
        f"{title} [{q['refId']}]: {q['expr']}" for title, q in empty
    )
    for title, source in targets("rps-api"):
        reply = requests.get(urljoin(promote.url, source["url"]), timeout=10)
        reply.raise_for_status()
        rows = reply.json()[source["root_selector"]]
        assert rows, f"{title}: {source['url']} has no rows"
        for column in source["columns"]:  # a bootstrap row has no posterior: some rows will do
            selector = column["selector"]
            assert any(selects(row, selector) for row in rows), f"{title}: no row has {selector}"
