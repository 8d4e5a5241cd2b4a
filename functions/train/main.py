"""HTTP target for training: training.requested in, training.completed out; telemetry games."""

import functools

import functions_framework
from flask import Request, Response

from rpsquest import events, web
from rpsquest import operations as op
from rpsquest.api import TelemetryRequest, TrainRequest
from rpsquest.config import Settings
from rpsquest.training.cycle import LEASE_SECONDS
from rpsquest.training.trainer import Trainer

SETTINGS = Settings.from_env()


@functools.cache
def trainer() -> Trainer:
    """Built on first use, once per instance."""
    return Trainer.open(SETTINGS)


def _on_event(request: Request) -> Response:
    return events.deliver(
        request,
        "train",
        [events.TRAINING_REQUESTED, events.TELEMETRY_REQUESTED],
        trainer().database,
        trainer().on_event,
        LEASE_SECONDS,
    )


def _run(request: Request) -> tuple[dict, int]:
    body = TrainRequest.from_json(web.read_json(request, web.INTERNAL_BODY_LIMIT))
    return trainer().run_now(body), 200


def _telemetry(request: Request) -> tuple[dict, int]:
    body = TelemetryRequest.from_json(web.read_json(request, web.INTERNAL_BODY_LIMIT))
    return trainer().telemetry(body), 200


SERVICE = web.Service(
    "train",
    SETTINGS,
    [
        web.Route("POST", "/", _on_event, "network", operation=op.TRAIN_EVENT),
        web.Route("POST", "/run", _run, "admin", operation=op.TRAIN_RUN),
        web.Route("POST", "/telemetry", _telemetry, "admin", operation=op.TELEMETRY),
    ],
)


@functions_framework.http
def train(request: Request) -> Response:
    return SERVICE(request)
