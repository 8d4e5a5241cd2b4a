"""Each function's OpenAPI 3.1 document, assembled from its routes (`GET /openapi.json`). Every
route carries its Operation beside its handler, so a route cannot be served undocumented, and
the replies the shared plumbing adds (bad JSON, too large, admin auth) follow from the route's
kind rather than being written out per route."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Protocol

from rpsquest import __version__
from rpsquest.replies import ERROR
from rpsquest.schemas import Schema

JSON = "application/json"
CLOUDEVENT = "application/cloudevents+json"
BEARER = "adminBearer"
Location = Literal["query", "header"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One status's reply: a body of `schema` in `media_type`, or no body when schema is None.
    `or_empty`: an event route's 200 is its reply event, or an empty body when there is none
    (the x-empty-body extension says so)."""

    description: str
    schema: Schema | None = None
    media_type: str = JSON
    or_empty: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """A follow-up operation (OpenAPI links): its operationId and its parameters or body,
    as runtime expressions on this reply (`$response.body#/game_id`)."""

    operation_id: str
    request_body: Mapping[str, str] | None = None
    parameters: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """What a route takes and answers. `body` maps media types to request schemas; `query` and
    `headers` are object schemas whose properties are the parameters; `errors` are the
    statuses the route's own logic can answer with the error body. Links name operations by
    operation_id()."""

    summary: str
    replies: Mapping[int, Reply]
    body: Mapping[str, Schema] = field(default_factory=dict)
    query: Schema | None = None
    headers: Schema | None = None
    errors: Collection[int] = ()
    links: Mapping[int, Mapping[str, Link]] = field(default_factory=dict)


class Documented(Protocol):
    """A route as web.Route has it (web imports this module, not the reverse)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def access(self) -> str: ...
    @property
    def operation(self) -> Operation: ...


# What each error status means here (SPEC §3), with the codes it carries.
_ERRORS = {
    HTTPStatus.BAD_REQUEST: "Bad input: invalid_json, validation_error, unknown_policy, "
    "invalid_move, invalid_difficulty or invalid_event.",
    HTTPStatus.UNAUTHORIZED: "unauthorized: the admin bearer token is missing.",
    HTTPStatus.FORBIDDEN: "forbidden or bad_token: the token is wrong (or, with no admin token "
    "set, the client is not on loopback).",
    HTTPStatus.NOT_FOUND: "game_not_found or not_found.",
    HTTPStatus.CONFLICT: "game_finished or round_conflict.",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large: public bodies over 16 KiB, event "
    "and admin bodies over 1 MiB.",
    HTTPStatus.TOO_MANY_REQUESTS: "busy: the same work is in progress; retry later.",
    HTTPStatus.SERVICE_UNAVAILABLE: "unavailable: the store, the model store, MLflow or the "
    "Broker is down or busy; retry later.",
}


def operation_id(method: str, path: str) -> str:
    """`post_play`, `get_leaderboard`, `post_root` for POST /: unique within a function."""
    name = path.strip("/").replace("/", "_").replace("-", "_").replace(".", "_")
    return f"{method.lower()}_{name or 'root'}"


def _statuses(route: Documented) -> list[int]:
    """The error statuses of a route: its own, plus those the plumbing answers for it."""
    statuses = set(route.operation.errors)
    if route.operation.body:
        statuses |= {HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE}
    if route.operation.query or route.operation.headers:
        statuses.add(HTTPStatus.BAD_REQUEST)
    if route.access == "admin":
        statuses |= {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}
    return sorted(statuses)


def _parameters(schema: Schema | None, where: Location) -> list[dict[str, Any]]:
    if schema is None:
        return []
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": where, "required": name in required, "schema": dict(prop)}
        for name, prop in schema["properties"].items()
    ]


def _content(reply: Reply) -> dict[str, Any]:
    if reply.schema is None:
        return {}
    content = {"content": {reply.media_type: {"schema": dict(reply.schema)}}}
    return {**content, "x-empty-body": True} if reply.or_empty else content


def _links(links: Mapping[str, Link]) -> dict[str, Any]:
    built = {}
    for name, link in links.items():
        entry: dict[str, Any] = {"operationId": link.operation_id}
        if link.request_body is not None:
            entry["requestBody"] = dict(link.request_body)
        if link.parameters is not None:
            entry["parameters"] = dict(link.parameters)
        built[name] = entry
    return {"links": built} if built else {}


def _operation(route: Documented) -> dict[str, Any]:
    operation = route.operation
    responses: dict[str, Any] = {
        str(status): {
            "description": reply.description,
            **_content(reply),
            **_links(operation.links.get(status, {})),
        }
        for status, reply in operation.replies.items()
    }
    for status in _statuses(route):
        responses.setdefault(
            str(status),
            {"description": _ERRORS[HTTPStatus(status)], **_content(Reply("", ERROR))},
        )
    built: dict[str, Any] = {
        "operationId": operation_id(route.method, route.path),
        "summary": operation.summary,
        "tags": [route.access],
        "responses": responses,
    }
    parameters = [*_parameters(operation.query, "query"), *_parameters(operation.headers, "header")]
    if parameters:
        built["parameters"] = parameters
    if operation.body:
        built["requestBody"] = {
            "required": False,  # an empty body reads as {}
            "content": {kind: {"schema": dict(schema)} for kind, schema in operation.body.items()},
        }
    if route.access == "admin":
        built["security"] = [{BEARER: []}]
    return built


def document(function: str, routes: Sequence[Documented]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one function's routes."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"RPS Quest {function}",
            "version": __version__,
            "description": "Errors are {error: {code, message}} (SPEC §3). Any path answers "
            "OPTIONS (a CORS preflight) with 204, an unknown path 404 not_found and a known path "
            "asked with another method 405 method_not_allowed. Tags name each route's access: "
            "public, admin (the bearer token) or network (CloudEvents from the Broker).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "RPS_ADMIN_TOKEN; with it unset, admin routes answer "
                    "loopback clients only.",
                }
            }
        },
    }
