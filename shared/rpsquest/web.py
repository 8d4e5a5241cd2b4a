"""HTTP plumbing shared by every function: routing, auth, body limits, errors, metrics, CORS."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

from flask import Request, Response

from rpsquest import FEATURE_CONTRACT, __version__, metrics, openapi, replies
from rpsquest.api import SESSION_HEADER
from rpsquest.config import Settings
from rpsquest.errors import (
    Forbidden,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RpsError,
    Unauthorized,
)
from rpsquest.loopback import is_loopback

log = logging.getLogger(__name__)

PUBLIC_BODY_LIMIT = 16 * 1024
INTERNAL_BODY_LIMIT = 1024 * 1024
_CORS_FUNCTIONS = ("start_game", "play")
# The framework routes every method here; any other method is counted under one label value.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Access = Literal["public", "admin", "network"]
Payload = Mapping[str, Any]
Handler = Callable[[Request], "Response | tuple[Payload, int]"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access = "public"
    operation: openapi.Operation = field(kw_only=True)


def json_response(payload: Payload, status: int = HTTPStatus.OK) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status=status, mimetype="application/json")


def error_reply(error: RpsError) -> Response:
    body = {"error": {"code": error.code, "message": error.message}}
    response = json_response(body, error.status)
    response.headers.update(error.headers)
    return response


def read_body(request: Request, limit: int = PUBLIC_BODY_LIMIT) -> bytes:
    """The raw body, refusing more than `limit` bytes before or while reading."""
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"The body is over {limit} bytes.")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is over {limit} bytes.")
    return raw


def read_json(request: Request, limit: int = PUBLIC_BODY_LIMIT) -> dict[str, Any]:
    """The body as a JSON object."""
    raw = read_body(request, limit)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidJson("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidJson("The body must be a JSON object.")
    # Only a \u escape can carry a lone surrogate (UTF-8 bytes cannot): the other bodies, every
    # move among them, skip the second encoding.
    if b"\\u" in raw and not is_unicode(body):
        raise InvalidJson("The body holds an unpaired surrogate escape (\\ud800-\\udfff).")
    return body


def is_unicode(value: Any) -> bool:
    """Whether JSON-decoded `value` is text UTF-8 can carry: json.loads takes an unpaired
    surrogate escape as a lone code point, which neither a reply nor the store can encode."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def require_admin(request: Request, settings: Settings) -> None:
    """Bearer $RPS_ADMIN_TOKEN; with no token configured (local mode), loopback clients only."""
    if settings.admin_token is None:
        if not is_loopback(request.remote_addr):
            raise Forbidden("Admin routes answer loopback clients only when no token is set.")
        return
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthorized("This route needs the admin bearer token.")
    if not hmac.compare_digest(
        header.removeprefix("Bearer ").encode(), settings.admin_token.encode()
    ):
        raise Forbidden("The admin token is wrong.")


def health(function: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "ok",
        "function": function,
        "version": __version__,
        "feature_contract": FEATURE_CONTRACT,
        **extra,
    }


def _metrics_reply(_request: Request) -> Response:
    return Response(metrics.exposition(), mimetype="text/plain; version=0.0.4")


def _cors(request: Request, response: Response, function: str, settings: Settings) -> Response:
    origin = request.headers.get("Origin")
    if function in _CORS_FUNCTIONS and origin and origin in settings.cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = (
            f"Content-Type, Authorization, {SESSION_HEADER}"
        )
        response.headers["Access-Control-Max-Age"] = "600"  # one preflight per 10 min, not per move
        response.headers["Vary"] = "Origin"
    return response


_HEALTHZ = openapi.Operation(
    "Liveness: no store, model store or MLflow is touched.",
    {200: openapi.Reply("Up.", replies.HEALTH)},
)
_METRICS = openapi.Operation(
    "Prometheus metrics.",
    {200: openapi.Reply("The exposition format.", {"type": "string"}, "text/plain")},
)
_OPENAPI = openapi.Operation(
    "This document.", {200: openapi.Reply("OpenAPI 3.1.", {"type": "object"})}
)


def _log_outage(function: str, method: str, route: str, error: RpsError) -> None:
    """A dependency is down (Unavailable): the reply says so, the log says why. The cause's
    first line names it; SQLAlchemy's next lines hold the statement and its parameters."""
    cause = str(error.__cause__ or "").partition("\n")[0]
    log.warning("%s %s %s: %s %s", function, method, route, error.message, cause)


class Service:
    """One function's routes plus /healthz, /metrics and /openapi.json (the document of them
    all), each answer timed and counted."""

    def __init__(
        self,
        function: str,
        settings: Settings,
        routes: Sequence[Route],
        health_extra: Callable[[], Mapping[str, Any]] = dict,
    ) -> None:
        self.function = function
        self.settings = settings
        self.routes = [
            Route(
                "GET",
                "/healthz",
                lambda _r: (health(function, **health_extra()), 200),
                operation=_HEALTHZ,
            ),
            Route("GET", "/metrics", _metrics_reply, "admin", operation=_METRICS),
            Route("GET", "/openapi.json", lambda _r: (self.document, 200), operation=_OPENAPI),
            *routes,
        ]
        self.document = openapi.document(function, self.routes)
        for route in self.routes:
            metrics.HTTP_DURATION.labels(function, route.path)
            for code in ("200", "400", "404"):
                metrics.HTTP_REQUESTS.labels(function, route.path, route.method, code)

    def _match(self, request: Request) -> Route:
        path = request.path.rstrip("/") or "/"
        candidates = [r for r in self.routes if r.path == path]
        if not candidates:
            raise NotFound(f"No route {path}.")
        for route in candidates:
            if route.method == request.method:
                return route
        allowed = [*sorted({r.method for r in candidates}), "OPTIONS"]
        raise MethodNotAllowed(f"{path} does not answer {request.method}.", allowed)

    def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        route_label = "unmatched"
        if request.method == "OPTIONS":
            response = Response(status=HTTPStatus.NO_CONTENT)
        else:
            try:
                route = self._match(request)
                route_label = route.path
                if route.access == "admin":
                    require_admin(request, self.settings)
                reply = route.handler(request)
                response = reply if isinstance(reply, Response) else json_response(*reply)
            except RpsError as error:
                if error.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                    _log_outage(self.function, request.method, route_label, error)
                response = error_reply(error)
        method = request.method if request.method in _METHODS else "other"
        metrics.HTTP_REQUESTS.labels(
            self.function, route_label, method, str(response.status_code)
        ).inc()
        metrics.HTTP_DURATION.labels(self.function, route_label).observe(
            time.perf_counter() - started
        )
        return _cors(request, response, self.function, self.settings)
