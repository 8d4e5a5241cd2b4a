"""An alert of observability/alerts.yml reaches Alertmanager from the local stack (SPEC §11).

Debian's Prometheus scrapes the four functions with observability/prometheus.yml, evaluating its
rules every second instead of every 15 s, and sends its alerts to Debian's Alertmanager with
observability/alertmanager.yml. The fault is real: a poison training request goes through the
dev broker, train refuses it, the broker dead-letters it to promote. RpsDeadLetters fires on
its production values (no `for:`), so the rules are loaded unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from rpsquest.events import TRAINING_REQUESTED, new_event
from rpsquest.local import start_alertmanager, start_prometheus, wait_healthy
from rpsquest.processes import free_port
from tests.conftest import REPO
from tests.e2e.conftest import publish
from tests.helpers import wait_for
from tests.prometheus import AlertmanagerApi, PrometheusApi, stack_config

RULES = yaml.safe_load((REPO / "observability" / "alerts.yml").read_text())["groups"]
ALERTS = {rule["alert"] for group in RULES for rule in group["rules"]}


@pytest.fixture
def monitoring(platform, tmp_path) -> Iterator[tuple[PrometheusApi, AlertmanagerApi]]:
    _, servers = platform
    folder = tmp_path / "monitoring"
    folder.mkdir()
    port = free_port()
    alertmanager = start_alertmanager(
        REPO / "observability" / "alertmanager.yml",
        port,
        folder / "alertmanager",
        folder / "alertmanager.log",
    )
    config = stack_config(servers, port)
    config["global"]["evaluation_interval"] = "1s"
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus = start_prometheus(
        folder / "prometheus.yml", free_port(), folder / "prometheus", folder / "prometheus.log"
    )
    try:
        wait_healthy([alertmanager], path="-/ready")
        api = PrometheusApi(prometheus.url)
        wait_for(lambda: len(api.scraped_jobs()) == len(servers), 30, "every function scraped")
        yield api, AlertmanagerApi(alertmanager.url)
    finally:
        prometheus.stop()
        alertmanager.stop()


def dead_letter_alerts(alertmanager: AlertmanagerApi) -> list[dict]:
    return [a for a in alertmanager.alerts() if a["labels"]["alertname"] == "RpsDeadLetters"]


def test_a_poison_event_raises_the_dead_letter_alert_in_alertmanager(platform, monitoring):
    broker, _ = platform
    prometheus, alertmanager = monitoring
    assert prometheus.alerting_rules() == ALERTS
    assert dead_letter_alerts(alertmanager) == []

    poison = new_event("e2e", TRAINING_REQUESTED, {"families": ["nope"]}, "e2e", "poison-1")
    publish(broker, poison)

    [alert] = wait_for(lambda: dead_letter_alerts(alertmanager), 60, "RpsDeadLetters")
    assert alert["labels"]["type"] == TRAINING_REQUESTED
    assert alert["labels"]["severity"] == "warning"
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["runbook"] == "docs/operations.md#43-rpsdeadletters"
