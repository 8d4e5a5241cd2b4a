"""One promotion trigger (SPEC §9.3): lease, roll forward anything half-applied, judge each
family, then roll the changes out as ledger → MLflow aliases → manifest → assignments. Serving
reads only the manifest, and the next trigger completes a crashed one. Promote also keeps the
Broker's dead letters and runs retention, since it owns what retention must keep: the manifest,
the aliases and the ledger."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from cloudevents.http import CloudEvent
from sqlalchemy import Connection

from rpsquest import events, metrics
from rpsquest.api import PromoteRequest, RetentionRequest
from rpsquest.errors import Busy, NotFound, Unavailable
from rpsquest.game.policies import FAMILY_NAMES
from rpsquest.manifest import read_manifest
from rpsquest.pipeline import PipelineFunction
from rpsquest.promotion import retention, rollout
from rpsquest.promotion.announcement import promoted_data, promoted_event
from rpsquest.promotion.outcomes import FamilyOutcome, judge_families, swap_outcome
from rpsquest.store.coordination import PROMOTE_LEASE, TRAIN_LEASE, acquire_lease, release_lease
from rpsquest.store.database import read_connection, write_transaction
from rpsquest.store.dead_letters import (
    find_dead_letter,
    mark_replayed,
    recent_dead_letters,
    record_dead_letter,
)
from rpsquest.store.games import utc_now

LEASE_SECONDS = 120
_HELD = {
    PROMOTE_LEASE: "Another promotion evaluation is running; retry later.",
    TRAIN_LEASE: "A training cycle is running; retry later.",
}
log = logging.getLogger(__name__)

# Dead letters carry whatever type reached the sink: unknown ones share one label value.
OTHER_EVENT_TYPE = "other"
for _type in (*events.EVENT_TYPES, OTHER_EVENT_TYPE):
    metrics.DEAD_LETTERS.labels(_type)

Judge = Callable[[Connection], list[FamilyOutcome]]


class Promoter(PipelineFunction):
    # -- one trigger ----------------------------------------------------------------------

    def evaluate(
        self,
        trigger_type: str,
        trigger_event_id: str | None,
        refresh: bool,
        families: Collection[str] | None = None,
    ) -> dict[str, Any] | None:
        """Run §9.3 under the lease; the model.promoted data when the manifest changed."""
        return self._change(
            lambda connection: judge_families(
                connection, self.settings, self.configs, families or FAMILY_NAMES, refresh
            ),
            trigger_type,
            trigger_event_id,
        )

    def swap(self, family: str) -> dict[str, Any] | None:
        """A manual promotion, or the rollback of one: Production and B trade lineages now."""
        return self._change(lambda connection: [swap_outcome(connection, family)], "admin", None)

    def _change(
        self, judge: Judge, trigger_type: str, trigger_event_id: str | None
    ) -> dict[str, Any] | None:
        with self._leases(PROMOTE_LEASE):
            previous = read_manifest(self.store)
            repaired = self._roll_forward()
            with read_connection(self.database) as connection:
                outcomes = judge(connection)
            ledger_ids = rollout.record(self.database, outcomes, trigger_type, trigger_event_id)
            changed = [o for o in outcomes if o.changed]
            if changed:
                rollout.apply(self.settings, self.database, self.store, ledger_ids)
        return promoted_data(previous, read_manifest(self.store), changed, repaired)

    @contextmanager
    def _leases(self, *names: str) -> Iterator[Callable[[], None]]:
        """Hold the named leases (Busy if someone else does), yielding a renewal for long work."""
        holder = str(uuid.uuid4())
        held: list[str] = []

        def renew() -> None:
            for name in names:
                if not acquire_lease(self.database, name, holder, LEASE_SECONDS):
                    raise Busy(_HELD[name])
                if name not in held:
                    held.append(name)

        try:
            renew()
            yield renew
        finally:
            for name in reversed(held):
                release_lease(self.database, name, holder)

    # -- retention ---------------------------------------------------------------------------

    def collect_garbage(self, dry_run: bool) -> dict[str, Any]:
        """Delete the artifacts and MLflow versions nothing needs (promotion/retention.py), or
        with `dry_run` only report the plan. A run holds promote's lease, so no evaluation is
        about to publish a manifest naming an artifact, and train's, so no cycle has stored an
        artifact or registered a version it has not recorded yet. A dry run takes neither."""
        if dry_run:
            return self._retention_plan().to_json() | {"dry_run": True}
        with self._leases(PROMOTE_LEASE, TRAIN_LEASE) as renew:
            plan = self._retention_plan()
            retention.carry_out(self.settings, self.store, plan, renew)
        return plan.to_json() | {"dry_run": False}

    def _retention_plan(self) -> retention.Plan:
        inventory = retention.take_inventory(self.settings, self.database, self.store)
        return retention.make_plan(inventory, self.settings.retention_versions)

    def _roll_forward(self) -> bool:
        """Finish evaluations a crash left pending; True when there were any."""
        pending = rollout.pending(self.database)
        if pending:
            rollout.apply(self.settings, self.database, self.store, pending)
        return bool(pending)

    # -- the function's entry points ---------------------------------------------------------

    def on_event(self, event: events.Event) -> CloudEvent | None:
        """training.completed (refresh + evaluate), promotion.requested (evaluate) or
        retention.requested (which has no follow-up)."""
        if event.type == events.RETENTION_REQUESTED:
            self.collect_garbage(events.event_body(RetentionRequest, event.data).dry_run)
            return None
        families = events.event_body(PromoteRequest, event.data).families
        refresh = event.type == events.TRAINING_COMPLETED
        promoted = self.evaluate(event.type, event.id, refresh, families)
        return None if promoted is None else promoted_event(promoted, event)

    def run_now(self, families: Collection[str] | None) -> dict[str, Any]:
        """An admin's evaluation: the model.promoted event, if any, goes to K_SINK."""
        return self._announce(self.evaluate("admin", None, refresh=False, families=families))

    def swap_now(self, family: str) -> dict[str, Any]:
        """An admin's manual swap (promotion or rollback), announced through K_SINK."""
        return self._announce(self.swap(family))

    def _announce(self, promoted: dict[str, Any] | None) -> dict[str, Any]:
        if promoted is None:
            return {"changed": False}
        try:
            events.send(self.settings.sink_url, promoted_event(promoted))
        except OSError as exc:  # requests' errors are OSErrors: no broker locally is fine
            log.warning("model.promoted not delivered to %s: %s", self.settings.sink_url, exc)
            return {"changed": True, "event_delivered": False, **promoted}
        return {"changed": True, **promoted}

    # -- dead letters ----------------------------------------------------------------------

    def record_dead_letter(self, event: events.Event) -> None:
        """Keep what the Broker could not deliver, for operators to inspect and replay."""
        with write_transaction(self.database) as connection:
            record_dead_letter(
                connection, utc_now(), event.id, event.type, event.source, event.data
            )
        label = event.type if event.type in events.EVENT_TYPES else OTHER_EVENT_TYPE
        metrics.DEAD_LETTERS.labels(label).inc()

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        """The newest dead letters, as promote's GET /dead-letters lists them."""
        with read_connection(self.database) as connection:
            return [asdict(letter) for letter in recent_dead_letters(connection, limit)]

    def replay_dead_letter(self, letter_id: int) -> dict[str, Any]:
        """Send a dead letter to K_SINK again as it came (same id, source, type and data), so
        the consumers' idempotency still applies; then note the replay on its row."""
        with read_connection(self.database) as connection:
            letter = find_dead_letter(connection, letter_id)
        if letter is None:
            raise NotFound(f"There is no dead letter {letter_id}.")
        attributes = {"id": letter.event_id, "source": letter.source, "type": letter.type}
        event = CloudEvent(attributes | {"datacontenttype": "application/json"}, letter.data)
        try:
            events.send(self.settings.sink_url, event)
        except OSError as exc:  # requests' errors are OSErrors: the Broker is down or refuses
            raise Unavailable(f"The Broker did not take the replay: {exc}") from exc
        replayed_at = utc_now()
        with write_transaction(self.database) as connection:
            mark_replayed(connection, letter_id, replayed_at)
        return asdict(letter) | {"replayed_at": replayed_at, "sink": self.settings.sink_url}
