"""The HTTP plumbing every function shares: errors as JSON, and metrics on closed label sets."""

from __future__ import annotations

import json

import pytest
from flask import Flask, request

from rpsquest import metrics, openapi, web
from rpsquest.config import Settings
from rpsquest.errors import RpsError, Unavailable
from rpsquest.modelstore import StoreError

STARTED = openapi.Operation("Start.", {201: openapi.Reply("Started.", {"type": "object"})})
SERVICE = web.Service(
    "start_game",
    Settings.from_env({}),
    [web.Route("POST", "/", lambda _r: ({}, 201), operation=STARTED)],
)


def call(method: str, path: str = "/"):
    with Flask(__name__).test_request_context(path, method=method):
        return SERVICE(request)


def counted(route: str, method: str, code: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "rps_http_requests_total",
        {"function": "start_game", "route": route, "method": method, "code": code},
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/", 405, "method_not_allowed"), ("POST", "/nowhere", 404, "not_found")],
)
def test_a_wrong_method_or_path_is_a_json_4xx(method, path, status, code):
    response = call(method, path)

    assert response.status_code == status
    assert json.loads(response.data)["error"]["code"] == code


def test_a_wrong_method_names_the_ones_the_path_answers():
    assert call("GET").headers["Allow"] == "POST, OPTIONS"
    assert "Allow" not in call("POST", "/nowhere").headers


def test_an_unknown_method_is_counted_under_one_label_value():
    before = counted("unmatched", "other", "405")

    call("BREW")

    assert counted("unmatched", "other", "405") == before + 1
    assert (
        metrics.REGISTRY.get_sample_value(
            "rps_http_requests_total",
            {"function": "start_game", "route": "unmatched", "method": "BREW", "code": "405"},
        )
        is None
    )


def test_unmatched_paths_share_one_route_label():
    before = counted("unmatched", "POST", "404")

    call("POST", "/some/random/path")

    assert counted("unmatched", "POST", "404") == before + 1


@pytest.mark.parametrize(
    "outage",
    [
        Unavailable("The game store is busy or unreachable; try again."),
        StoreError("cannot read manifest.json in s3://rps-models/rps: connection refused"),
    ],
    ids=["database", "model store"],
)
def test_a_dependency_outage_is_a_json_503(outage):
    def handler(_request):
        raise outage

    service = web.Service(
        "promote", Settings.from_env({}), [web.Route("POST", "/", handler, operation=STARTED)]
    )
    with Flask(__name__).test_request_context("/", method="POST"):
        response = service(request)

    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert json.loads(response.data) == {
        "error": {"code": "unavailable", "message": outage.message}
    }


def test_an_outage_is_logged_with_the_first_line_of_its_cause(caplog):
    def handler(_request):
        try:
            raise ConnectionRefusedError("connection refused\n[SQL: SELECT token_sha256 ...]")
        except ConnectionRefusedError as exc:
            raise Unavailable("The game store is busy or unreachable; try again.") from exc

    service = web.Service(
        "play", Settings.from_env({}), [web.Route("POST", "/", handler, operation=STARTED)]
    )
    with Flask(__name__).test_request_context("/", method="POST"):
        service(request)

    assert "play POST /: The game store is busy" in caplog.text
    assert "connection refused" in caplog.text
    assert "SELECT" not in caplog.text


def test_an_unpaired_surrogate_escape_is_invalid_json():
    """Found by the fuzz test: json.loads takes it, and the store or the reply then failed."""
    body = b'{"a": "\\udc00"}'
    with (
        Flask(__name__).test_request_context("/", method="POST", data=body),
        pytest.raises(RpsError) as caught,
    ):
        web.read_json(request)

    assert caught.value.code == "invalid_json"
