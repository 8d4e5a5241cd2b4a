"""The dev broker's HTTP surface: events in, PingSources fired by hand, health."""

from __future__ import annotations

from cloudevents.exceptions import GenericException
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from rpsquest import web
from rpsquest.devbroker.dispatch import DevBroker
from rpsquest.devbroker.wire import parse_event
from rpsquest.errors import Forbidden, InvalidEvent, NotFound, RpsError
from rpsquest.loopback import is_loopback


def create_app(broker: DevBroker, pings: bool = False) -> Flask:
    """POST / (events in, 202), POST /admin/ping/<name> (loopback), GET /healthz."""
    app = Flask("rpsquest.devbroker")
    app.register_error_handler(RpsError, web.error_reply)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.code or 0, "bad_request")
        return web.json_response(
            {"error": {"code": code, "message": error.description}}, error.code or 400
        )

    @app.post("/")
    def ingest() -> Response:
        body = web.read_body(request, web.INTERNAL_BODY_LIMIT)
        try:
            event = parse_event(request.headers, body)
        except (GenericException, ValueError) as error:
            raise InvalidEvent(f"Not a valid CloudEvent: {error}") from None
        broker.publish(event)
        return Response(status=202)

    @app.post("/admin/ping/<name>")
    def ping(name: str) -> Response:
        if not is_loopback(request.remote_addr):
            raise Forbidden("The dev broker answers admin calls from loopback clients only.")
        if name not in broker.ping_sources:
            raise NotFound(f"No PingSource named {name}.")
        event = broker.ping(name)
        return web.json_response(
            {"id": event["id"], "type": event["type"], "source": event["source"]}, 202
        )

    @app.get("/healthz")
    def healthz() -> Response:
        payload = web.health(
            "devbroker",
            broker=broker.topology.broker,
            triggers=len(broker.topology.triggers),
            ping_sources=sorted(broker.ping_sources),
            pings=pings,
            in_flight=broker.in_flight(),
            max_workers=broker.max_workers,
        )
        return web.json_response(payload)

    return app
