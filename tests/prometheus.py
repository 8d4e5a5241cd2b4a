"""A client for a test's Prometheus: its HTTP query API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class PrometheusApi:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of `expr`, now."""
        reply = requests.get(self.url + "api/v1/query", params={"query": expr}, timeout=10)
        reply.raise_for_status()
        return reply.json()["data"]["result"]

    def scraped_jobs(self) -> set[str]:
        """The jobs whose last scrape succeeded (none while Prometheus is not listening yet)."""
        try:
            return {series["metric"]["job"] for series in self.query("up == 1")}
        except requests.ConnectionError:
            return set()
