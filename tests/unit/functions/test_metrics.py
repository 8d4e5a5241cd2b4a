"""Every function's /metrics carries the runtime collectors beside its own metrics."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.unit.functions.conftest import ADMIN_TOKEN

MODEL_CONFIGS = REPO / "configs" / "model_configs.json"  # promote reads them to open its store

RUNTIME_SERIES = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
    "python_info",
    "python_gc_collections_total",
    "python_gc_objects_collected_total",
)


@pytest.mark.parametrize("name", ["start_game", "play", "train", "promote"])
def test_metrics_show_the_process_python_and_garbage_collector(client_for, name):
    client = client_for(name, RPS_ADMIN_TOKEN=ADMIN_TOKEN, RPS_MODEL_CONFIGS=str(MODEL_CONFIGS))

    response = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    assert response.status_code == 200
    names = {line.split("{")[0].split(" ")[0] for line in response.text.splitlines()}
    assert set(RUNTIME_SERIES) <= names
    assert "rps_http_requests_total" in names
