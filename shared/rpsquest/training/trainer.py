"""The train function's work: training cycles answered with training.completed, telemetry games."""

from __future__ import annotations

import logging
from typing import Any

import requests
from cloudevents.http import CloudEvent

from rpsquest import events
from rpsquest.api import TelemetryRequest, TrainRequest
from rpsquest.pipeline import PipelineFunction
from rpsquest.training.cycle import CycleResult, run_cycle
from rpsquest.training.telemetry import play_telemetry

FUNCTION = "train"
log = logging.getLogger(__name__)


class Trainer(PipelineFunction):
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
            self.telemetry(events.event_body(TelemetryRequest, event.data))
            return None
        result = self.train(events.event_body(TrainRequest, event.data), event.id)
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
        reply = result.event_data()
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
