"""The train function's work: training cycles answered with training.completed, telemetry games."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Self, TypeVar

import requests
from cloudevents.http import CloudEvent
from sqlalchemy import Engine

from rpsquest import events
from rpsquest.api import TelemetryRequest, TrainRequest
from rpsquest.config import Settings
from rpsquest.errors import InvalidEvent, RpsError
from rpsquest.models import ModelConfigs, load_configs
from rpsquest.modelstore import ModelStore, open_store
from rpsquest.store.database import migrate, open_engine
from rpsquest.training.cycle import CycleResult, run_cycle
from rpsquest.training.telemetry import play_telemetry

FUNCTION = "train"
log = logging.getLogger(__name__)
Body = TypeVar("Body", TrainRequest, TelemetryRequest)


def _event_body(kind: type[Body], data: Mapping[str, Any]) -> Body:
    """An event whose data does not parse is poison: 400, never retried."""
    try:
        return kind.from_json(data)
    except RpsError as exc:
        raise InvalidEvent(exc.message) from None


class Trainer:
    def __init__(
        self, settings: Settings, database: Engine, store: ModelStore, configs: ModelConfigs
    ) -> None:
        self.settings = settings
        self.database = database
        self.store = store
        self.configs = configs

    @classmethod
    def open(cls, settings: Settings) -> Self:
        database = open_engine(settings.database_url)
        migrate(database)
        return cls(
            settings,
            database,
            open_store(settings.model_store),
            load_configs(settings.model_configs),
        )

    def train(self, request: TrainRequest, trigger_event_id: str | None) -> CycleResult | None:
        return run_cycle(
            self.settings,
            self.database,
            self.store,
            self.configs,
            force=request.force,
            families=request.families,
            trigger_event_id=trigger_event_id,
        )

    def telemetry(self, request: TelemetryRequest) -> dict[str, Any]:
        """Telemetry games against the next ML policy in the rotation; a summary of them."""
        return play_telemetry(self.settings, self.database, request.games)

    def on_event(self, event: events.Event) -> CloudEvent | None:
        """A cycle replied with training.completed (none when skipped), or telemetry with none."""
        if event.type == events.TELEMETRY_REQUESTED:
            self.telemetry(_event_body(TelemetryRequest, event.data))
            return None
        result = self.train(_event_body(TrainRequest, event.data), event.id)
        if result is None or result.status == "skipped":
            return None
        return events.new_event(
            FUNCTION,
            events.TRAINING_COMPLETED,
            result.event_data(),
            result.cycle_id,
            events.reply_id(FUNCTION, event.source, event.id),
        )

    def run_now(self, request: TrainRequest) -> dict[str, Any]:
        """An admin's manual cycle: the follow-up event goes to K_SINK."""
        result = self.train(request, None)
        if result is None:
            return {"status": "busy", "reason": "another training cycle is running"}
        reply = result.event_data() | {"reason": result.reason}
        if result.status != "skipped":
            completed = events.new_event(
                FUNCTION, events.TRAINING_COMPLETED, result.event_data(), result.cycle_id
            )
            try:
                events.send(self.settings.sink_url, completed)
            except requests.RequestException as exc:
                log.warning(
                    "training.completed not delivered to %s: %s", self.settings.sink_url, exc
                )
                reply["event_delivered"] = False
        return reply
