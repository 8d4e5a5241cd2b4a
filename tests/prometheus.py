"""Clients for a test's Prometheus and Alertmanager (their HTTP APIs), and the local Prometheus
config pointed at a test's stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests

from rpsquest.local import LOOPBACK, PORTS, Server
from rpsquest.processes import prometheus_config
from tests.conftest import REPO


@dataclass(frozen=True)
class PrometheusApi:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of `expr`, now."""
        reply = requests.get(self.url + "api/v1/query", params={"query": expr}, timeout=10)
        reply.raise_for_status()
        return reply.json()["data"]["result"]

    def scraped_jobs(self) -> set[str]:
        """The jobs whose last scrape succeeded; none while Prometheus starts, whether it is not
        listening yet or answers 503 until its storage is ready."""
        try:
            return {series["metric"]["job"] for series in self.query("up == 1")}
        except requests.ConnectionError:
            return set()
        except requests.HTTPError as error:
            if error.response.status_code == HTTPStatus.SERVICE_UNAVAILABLE:
                return set()
            raise

    def alerting_rules(self) -> set[str]:
        """The names of the alerting rules Prometheus evaluates."""
        reply = requests.get(self.url + "api/v1/rules", params={"type": "alert"}, timeout=10)
        reply.raise_for_status()
        return {rule["name"] for group in reply.json()["data"]["groups"] for rule in group["rules"]}


@dataclass(frozen=True)
class AlertmanagerApi:
    url: str

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds (GET /api/v2/alerts), active or not."""
        reply = requests.get(self.url + "api/v2/alerts", timeout=10)
        reply.raise_for_status()
        return reply.json()


def stack_config(
    servers: Mapping[str, Server], alertmanager_port: int | None = None
) -> dict[str, Any]:
    """observability/prometheus.yml with each function's local port replaced by the test's, its
    rules loaded from the checkout and its alerts sent to the test's Alertmanager (or none)."""
    config = prometheus_config(REPO / "observability" / "prometheus.yml", alertmanager_port)
    by_target = {f"{LOOPBACK}:{PORTS[name]}": server for name, server in servers.items()}
    for job in config["scrape_configs"]:
        [group] = job["static_configs"]
        [target] = group["targets"]
        group["targets"] = [urlsplit(by_target.pop(target).url).netloc]
    assert not by_target, f"functions without a scrape job: {sorted(by_target)}"
    return config
