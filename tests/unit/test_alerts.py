"""The alerting rules (observability/alerts.yml): valid, each with a runbook in
docs/operations.md, each tested firing and not firing by promtool, and sent by the local
Prometheus to the local Alertmanager.

Whether an alert reaches Alertmanager from the local stack is tests/e2e/test_alerts.py's question.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict

import pytest
import yaml

from rpsquest.local import ALERTMANAGER_PORT, LOOPBACK
from rpsquest.processes import prometheus_config
from tests.conftest import REPO

OBSERVABILITY = REPO / "observability"
OPERATIONS = "docs/operations.md"
RULES = yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())["groups"]
ALERTS = {rule["alert"]: rule for group in RULES for rule in group["rules"] if "alert" in rule}


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading: lower case, punctuation dropped, spaces
    to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    text = (REPO / OPERATIONS).read_text()
    return {github_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def expected_outcomes() -> dict[str, set[bool]]:
    """Per alert, whether alerts-test.yml expects it firing (True) and not firing (False)."""
    outcomes: dict[str, set[bool]] = defaultdict(set)
    for test in yaml.safe_load((OBSERVABILITY / "alerts-test.yml").read_text())["tests"]:
        for case in test["alert_rule_test"]:
            outcomes[case["alertname"]].add(bool(case["exp_alerts"]))
    return outcomes


def test_the_promtool_unit_tests_pass():
    tested = subprocess.run(
        ["promtool", "test", "rules", OBSERVABILITY / "alerts-test.yml"],
        capture_output=True,
        text=True,
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_every_alert_is_tested_firing_and_not_firing(alert):
    assert expected_outcomes()[alert] == {True, False}


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_every_alert_has_a_severity_and_a_runbook_section_in_the_operations_guide(alert):
    rule = ALERTS[alert]
    path, _, anchor = rule["annotations"]["runbook"].partition("#")

    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert path == OPERATIONS
    assert anchor in runbook_anchors()
    assert anchor.endswith(alert.lower())


def test_the_local_prometheus_evaluates_the_rules_and_alerts_the_local_alertmanager():
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())

    [alertmanager] = config["alerting"]["alertmanagers"]

    assert config["rule_files"] == ["alerts.yml"]
    assert alertmanager["static_configs"] == [{"targets": [f"{LOOPBACK}:{ALERTMANAGER_PORT}"]}]


@pytest.mark.parametrize("port", [None, 19093])
def test_a_copy_of_the_local_config_written_elsewhere_still_loads_the_rules(tmp_path, port):
    config = prometheus_config(OBSERVABILITY / "prometheus.yml", port)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    checked = subprocess.run(
        ["promtool", "check", "config", tmp_path / "prometheus.yml"],
        capture_output=True,
        text=True,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert config["rule_files"] == [str(OBSERVABILITY / "alerts.yml")]
    targets = [
        target
        for alertmanager in config.get("alerting", {}).get("alertmanagers", [])
        for group in alertmanager["static_configs"]
        for target in group["targets"]
    ]
    assert targets == ([f"{LOOPBACK}:{port}"] if port else [])


def test_the_local_alertmanager_config_is_valid():
    checked = subprocess.run(
        ["amtool", "check-config", OBSERVABILITY / "alertmanager.yml"],
        capture_output=True,
        text=True,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
