"""The rendered cluster settings keep secrets on the cluster network and public URLs on TLS."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.manifests import render
from tests.unit.test_manifests import DIRECTORIES

# Where a function sends the admin bearer: telemetry's client on train (start_game and play).
ADMIN_CALL_URLS = ("RPS_START_GAME_URL", "RPS_PLAY_INTERNAL_URL")
PUBLIC_URLS = ("RPS_PLAY_URL",)
CLUSTER_LOCAL = ".svc.cluster.local"


def _config(env: str) -> dict[str, str]:
    (config,) = [
        d
        for d in render(DIRECTORIES[env])
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "rps-config"
    ]
    return config["data"]


@pytest.mark.parametrize("env", DIRECTORIES)
@pytest.mark.parametrize("name", ADMIN_CALL_URLS)
def test_the_admin_bearer_is_only_sent_to_cluster_local_addresses(env, name):
    host = urlsplit(_config(env)[name]).hostname

    assert host is not None
    assert host.endswith(CLUSTER_LOCAL), f"{name} leaves the cluster network: {host}"


@pytest.mark.parametrize("env", DIRECTORIES)
def test_public_urls_and_page_origins_use_tls(env):
    config = _config(env)
    origins = [o.strip() for o in config["RPS_CORS_ORIGINS"].split(",")]

    assert [urlsplit(config[name]).scheme for name in PUBLIC_URLS] == ["https"] * len(PUBLIC_URLS)
    assert {urlsplit(origin).scheme for origin in origins} == {"https"}
