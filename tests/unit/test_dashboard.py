"""The dashboard and the Prometheus configs (SPEC §11): generated, complete and valid.

Whether every panel shows data from the local stack is tests/e2e/test_dashboard.py's question.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards.build import render
from rpsquest.local import LOOPBACK, PORTS
from rpsquest.metrics import REGISTRY
from tests.conftest import REPO

DASHBOARD = REPO / "dashboards" / "rps-quest.json"
OBSERVABILITY = REPO / "observability"
DATASOURCES = {"rps-prometheus", "rps-api"}
# Promote's collector reads these from the database; promote registers it when it starts.
BUSINESS_GAUGES = (
    "rps_alias_games",
    "rps_alias_bot_win_rate",
    "rps_alias_prediction_accuracy",
    "rps_alias_arena_headline",
    "rps_promotion_posterior_b_better",
    "rps_policy_bot_win_rate_7d",
    "rps_games_finished_7d",
    "rps_last_training_success_timestamp_seconds",
    "rps_promotion_insufficient_data_since_timestamp_seconds",
    "rps_business_gauges_read_timestamp_seconds",
)
FUNCTIONS = ("start_game", "play", "train", "promote")
CLUSTER_TOKEN = "/etc/prometheus/secrets/rps-secrets/admin-token"  # the mounted Secret's key
CLUSTER_RULES = "/etc/prometheus/rules/rps-quest/alerts.yml"  # the mounted ConfigMap's key


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def queried_series() -> set[str]:
    """Every name that appears in a Prometheus query of the dashboard."""
    exprs = (t.get("expr", "") for p in panels() for t in p["targets"])
    return {name for expr in exprs for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)}


def spec_series() -> list[str]:
    """The series a panel must read for each metric: counters' _total, histograms' _bucket."""
    suffix = {"counter": "_total", "histogram": "_bucket"}
    return sorted(
        {f"{m.name}{suffix.get(m.type, '')}" for m in REGISTRY.collect()} | set(BUSINESS_GAUGES)
    )


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True)


def test_the_committed_dashboard_is_what_the_generator_writes():
    assert DASHBOARD.read_text() == render(), "run .venv/bin/python dashboards/build.py"


def test_every_panel_and_query_names_a_project_datasource():
    for panel in panels():
        assert panel["datasource"]["uid"] in DATASOURCES, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]


@pytest.mark.parametrize("series", spec_series())
def test_every_metric_is_read_by_a_panel(series):
    assert series in queried_series()


def test_every_query_is_valid_promql(tmp_path):
    durations = {"$__rate_interval": "20s", "$__range": "6h", "$__interval": "5s"}
    rules = []
    for panel in panels():
        for target in panel["targets"]:
            if "expr" in target:
                expr = target["expr"]
                for variable, duration in durations.items():
                    expr = expr.replace(variable, duration)
                rules.append({"record": f"panel:{len(rules)}", "expr": expr})
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    checked = promtool("check", "rules", rules_file)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_local_prometheus_config_is_valid():
    checked = promtool("check", "config", OBSERVABILITY / "prometheus.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_local_prometheus_config_scrapes_every_function_on_its_port_every_5_s():
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())

    targets = {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }

    assert config["global"]["scrape_interval"] == "5s"
    assert targets == {
        "rps-" + name.replace("_", "-"): [f"{LOOPBACK}:{PORTS[name]}"] for name in FUNCTIONS
    }


def test_the_cluster_prometheus_config_is_valid(tmp_path):
    """Debian's promtool, like its Prometheus, is built without Kubernetes discovery: the pod
    discovery is compared here and promtool checks the rest, with a token file of ours and
    the rules from the checkout."""
    config = yaml.safe_load((OBSERVABILITY / "prometheus-cluster.yml").read_text())
    rule_files = config["rule_files"]
    config["rule_files"] = [str(OBSERVABILITY / "alerts.yml")]
    [job] = config["scrape_configs"]
    discovery = job.pop("kubernetes_sd_configs")
    authorization = dict(job["authorization"])
    job["static_configs"] = [{"targets": []}]
    job["authorization"]["credentials_file"] = str(tmp_path / "admin-token")
    (tmp_path / "admin-token").write_text("a token")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    checked = promtool("check", "config", tmp_path / "prometheus.yml")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert rule_files == [CLUSTER_RULES]
    assert discovery == [{"role": "pod", "namespaces": {"names": ["rps-quest"]}}]
    assert authorization == {"type": "Bearer", "credentials_file": CLUSTER_TOKEN}
