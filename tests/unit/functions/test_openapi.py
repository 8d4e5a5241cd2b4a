"""Every function serves an OpenAPI 3.1 document of all its routes at GET /openapi.json, valid
by openapi-spec-validator, with the admin routes behind the bearer scheme."""

from __future__ import annotations

import inspect

import pytest
from openapi_spec_validator import validate

from tests.unit.functions.conftest import ADMIN_TOKEN
from tests.unit.functions.test_metrics import MODEL_CONFIGS

FUNCTIONS = ["start_game", "play", "train", "promote"]


@pytest.fixture(params=FUNCTIONS)
def served(request, client_for):
    # promote's business gauges, registered once loaded, read its store: give it its configs
    client = client_for(
        request.param, RPS_ADMIN_TOKEN=ADMIN_TOKEN, RPS_MODEL_CONFIGS=str(MODEL_CONFIGS)
    )
    target = inspect.unwrap(client.application.view_functions["run"])
    service = target.__globals__["SERVICE"]  # main.py's web.Service
    return client, service


def test_the_document_is_valid_openapi_3_1(served):
    client, _ = served

    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"
    validate(response.get_json())


def test_the_document_holds_every_route_with_its_access(served):
    client, service = served

    paths = client.get("/openapi.json").get_json()["paths"]

    for route in service.routes:
        operation = paths[route.path][route.method.lower()]
        assert operation["tags"] == [route.access]
        if route.access == "admin":
            assert operation["security"] == [{"adminBearer": []}]
            assert {"401", "403"} <= set(operation["responses"])
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert documented == {(r.path, r.method.lower()) for r in service.routes}


def test_a_route_with_a_body_documents_bad_json_and_too_large(served):
    client, _ = served

    paths = client.get("/openapi.json").get_json()["paths"]

    for operations in paths.values():
        for operation in operations.values():
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"])
