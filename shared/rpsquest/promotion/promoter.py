"""One promotion trigger (SPEC §9.3): lease, roll forward anything half-applied, refresh and
judge each family, then apply the changes as ledger → MLflow aliases → manifest → assignments.
Serving reads only the manifest, and the next trigger completes a crashed one."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cloudevents.http import CloudEvent
from sqlalchemy import Connection, insert, select, update

from rpsquest import events, metrics
from rpsquest.api import PromoteRequest
from rpsquest.errors import Busy, NotFound, Unavailable
from rpsquest.game.policies import ALIASES, FAMILY_NAMES
from rpsquest.pipeline import PipelineFunction
from rpsquest.promotion.evidence import Lineage, game_evidence, shared_accuracy
from rpsquest.promotion.rule import SWAP, judge, ranked_challengers, reorder
from rpsquest.store.coordination import acquire_lease, release_lease
from rpsquest.store.database import read_connection, write_transaction
from rpsquest.store.dead_letters import (
    find_dead_letter,
    mark_replayed,
    recent_dead_letters,
    record_dead_letter,
)
from rpsquest.store.games import utc_now
from rpsquest.store.schema import alias_assignments, model_versions, promotion_ledger
from rpsquest.training.cycle import newest_versions

FUNCTION = "promote"
LEASE = "promote"
LEASE_SECONDS = 120
log = logging.getLogger(__name__)

# Dead letters carry whatever type reached the sink: unknown ones share one label value.
OTHER_EVENT_TYPE = "other"
for _type in (*events.EVENT_TYPES, OTHER_EVENT_TYPE):
    metrics.DEAD_LETTERS.labels(_type)


@dataclass(frozen=True)
class Target:
    """Where an alias should point after this evaluation; no assignment id yet = a new one."""

    config_id: str
    version: int
    assignment_id: int | None
    reason: str


@dataclass
class FamilyOutcome:
    family: str
    decision: str
    reorder_applied: bool
    inputs: dict[str, Any]
    before: dict[str, int]
    targets: dict[str, Target]
    reason: str
    changed: bool


def current_lineages(connection: Connection) -> dict[str, dict[str, Lineage]]:
    """The applied assignment of every family and alias."""
    rows = connection.execute(
        select(alias_assignments).where(alias_assignments.c.state == "applied")
    ).mappings()
    current: dict[str, dict[str, Lineage]] = {}
    for row in rows:
        current.setdefault(row["family"], {})[row["alias"]] = Lineage(
            row["alias"], row["id"], row["config_id"], row["version"], row["started_at"]
        )
    return current


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
            lambda: self._judge(refresh, families or FAMILY_NAMES), trigger_type, trigger_event_id
        )

    def swap(self, family: str) -> dict[str, Any] | None:
        """A manual promotion, or the rollback of one: Production and B trade lineages now."""
        return self._change(lambda: [self._swap_outcome(family)], "admin", None)

    def _change(
        self,
        judge: Callable[[], list[FamilyOutcome]],
        trigger_type: str,
        trigger_event_id: str | None,
    ) -> dict[str, Any] | None:
        holder = str(uuid.uuid4())
        if not acquire_lease(self.database, LEASE, holder, LEASE_SECONDS):
            raise Busy("Another promotion evaluation is running; retry later.")
        try:
            previous = self.store.read_manifest()
            repaired = self._roll_forward()
            outcomes = judge()
            ledger_ids = self._record(outcomes, trigger_type, trigger_event_id)
            changed = [o for o in outcomes if o.changed]
            if changed:
                self._apply(ledger_ids)
        finally:
            release_lease(self.database, LEASE, holder)
        manifest = self.store.read_manifest()
        if manifest is None or manifest == previous:
            return None
        return {
            "manifest_version": manifest["manifest_version"],
            "previous_manifest_version": previous["manifest_version"] if previous else None,
            "reason": _reason(changed, repaired),
            "changes": _changes(previous, manifest),
            "ledger_ids": manifest.get("ledger_ids", []),
        }

    # -- judging --------------------------------------------------------------------------

    def _judge(self, refresh: bool, families: Iterable[str]) -> list[FamilyOutcome]:
        newest = newest_versions(self.database)
        outcomes = []
        with read_connection(self.database) as connection:
            current = current_lineages(connection)
            for family in families:
                lineages = current.get(family)
                if lineages is None or set(lineages) != set(ALIASES):
                    outcome = self._bootstrap(family, newest)
                else:
                    outcome = self._evaluate_family(connection, family, lineages, newest, refresh)
                if outcome:
                    outcomes.append(outcome)
                    metrics.PROMOTION_EVALUATIONS.labels(family, outcome.decision).inc()
        return outcomes

    def _swap_outcome(self, family: str) -> FamilyOutcome:
        with read_connection(self.database) as connection:
            lineages = current_lineages(connection).get(family)
        if not lineages:
            raise NotFound(f"{family} has no aliases yet: nothing to swap.")
        targets = {}
        for alias in ALIASES:
            source = lineages[SWAP.get(alias, alias)]
            moved = alias in SWAP
            targets[alias] = Target(
                source.config_id,
                source.version,
                None if moved else source.assignment_id,
                "promotion" if moved else "refresh",
            )
        before = {alias: lineages[alias].version for alias in ALIASES}
        metrics.PROMOTION_EVALUATIONS.labels(family, "promote_b").inc()
        return FamilyOutcome(
            family,
            "promote_b",
            False,
            {"manual": True},
            before,
            targets,
            "manual swap of Production and B by an admin",
            True,
        )

    def _bootstrap(
        self, family: str, newest: Mapping[tuple[str, str], Any]
    ) -> FamilyOutcome | None:
        """First evaluation ever: the §7.2 starting table, once every lineage has a model."""
        targets = {}
        for alias in ALIASES:
            config_id = self.configs.bootstrap_config(family, alias).config_id
            row = newest.get((family, config_id))
            if row is None:
                return None
            targets[alias] = Target(config_id, row["version"], None, "bootstrap")
        return FamilyOutcome(
            family,
            "insufficient_data",
            False,
            {"bootstrap": True},
            {},
            targets,
            "bootstrap: the starting assignment of §7.2",
            True,
        )

    def _evaluate_family(
        self,
        connection: Connection,
        family: str,
        lineages: Mapping[str, Lineage],
        newest: Mapping[tuple[str, str], Any],
        refresh: bool,
    ) -> FamilyOutcome:
        s = self.settings
        evidence = {a: game_evidence(connection, family, lineages[a]) for a in ("Production", "B")}
        decision, posterior = judge(
            evidence["Production"], evidence["B"], s.promotion_min_games, s.promotion_threshold
        )
        challengers = ranked_challengers(decision)
        common, accuracy = shared_accuracy(connection, family, [lineages[a] for a in challengers])
        moves = reorder(challengers, accuracy, common, s.promotion_min_predictions)
        if decision == "promote_b":
            moves |= SWAP
        targets = {}
        for alias in ALIASES:
            source = lineages[moves.get(alias, alias)]
            latest = newest.get((family, source.config_id))
            version = latest["version"] if refresh and latest else source.version
            if alias in moves:
                reason = "promotion" if alias in SWAP and decision == "promote_b" else "reorder"
                targets[alias] = Target(source.config_id, version, None, reason)
            else:
                targets[alias] = Target(source.config_id, version, source.assignment_id, "refresh")
        inputs = {
            alias: {
                "assignment_id": lineages[alias].assignment_id,
                "version": lineages[alias].version,
                "config_id": lineages[alias].config_id,
                "games": evidence[alias].games,
                "wins": evidence[alias].wins,
                "win_rate": evidence[alias].win_rate,
            }
            for alias in ("Production", "B")
        } | {
            "posterior_b_better": posterior,
            "threshold": s.promotion_threshold,
            "min_games": s.promotion_min_games,
            "challengers": [
                {
                    "alias": alias,
                    "version": lineages[alias].version,
                    "common_rounds": common,
                    "accuracy": accuracy[alias],
                }
                for alias in challengers
            ],
        }
        before = {alias: lineages[alias].version for alias in ALIASES}
        changed = any(
            t.assignment_id is None or t.version != before[alias] for alias, t in targets.items()
        )
        reason = (
            f"decision {decision}"
            + (f", P(B better)={posterior:.4f}" if posterior is not None else "")
            + (f", moves {moves}" if moves else "")
        )
        reordered = any(t not in SWAP or decision != "promote_b" for t in moves)
        return FamilyOutcome(family, decision, reordered, inputs, before, targets, reason, changed)

    # -- applying -------------------------------------------------------------------------

    def _record(
        self, outcomes: Iterable[FamilyOutcome], trigger_type: str, trigger_event_id: str | None
    ) -> list[int]:
        """(a) One transaction: every evaluation's ledger row, plus the pending assignments and
        intended table of those that change something. Returns the pending rows' ids."""
        now = utc_now()
        pending = []
        with write_transaction(self.database) as connection:
            for outcome in outcomes:
                intended = {}
                for alias, target in outcome.targets.items():
                    assignment_id = target.assignment_id
                    if assignment_id is None:
                        assignment_id = connection.execute(
                            insert(alias_assignments)
                            .values(
                                family=outcome.family,
                                alias=alias,
                                config_id=target.config_id,
                                version=target.version,
                                reason=target.reason,
                                state="pending",
                                started_at=now,
                            )
                            .returning(alias_assignments.c.id)
                        ).scalar_one()
                    intended[alias] = {
                        "config_id": target.config_id,
                        "version": target.version,
                        "assignment_id": assignment_id,
                    }
                ledger_id = connection.execute(
                    insert(promotion_ledger)
                    .values(
                        created_at=now,
                        family=outcome.family,
                        decision=outcome.decision,
                        reorder_applied=outcome.reorder_applied and outcome.changed,
                        state="pending" if outcome.changed else "applied",
                        inputs=json.dumps(outcome.inputs | {"intended": intended}),
                        before=json.dumps(outcome.before),
                        after=json.dumps({a: t["version"] for a, t in intended.items()}),
                        reason=outcome.reason,
                        trigger_type=trigger_type,
                        trigger_event_id=trigger_event_id,
                    )
                    .returning(promotion_ledger.c.id)
                ).scalar_one()
                if outcome.changed:
                    pending.append(ledger_id)
                    if outcome.decision == "promote_b":
                        metrics.PROMOTIONS.labels(outcome.family).inc()
                    if outcome.reorder_applied:
                        metrics.ALIAS_REORDERS.labels(outcome.family).inc()
        return pending

    def _pending_ledger(self) -> list[dict[str, Any]]:
        with read_connection(self.database) as connection:
            return [
                dict(row)
                for row in connection.execute(
                    select(promotion_ledger)
                    .where(promotion_ledger.c.state == "pending")
                    .order_by(promotion_ledger.c.id)
                ).mappings()
            ]

    def _roll_forward(self) -> bool:
        """Finish evaluations a crash left pending; True when there were any."""
        pending = self._pending_ledger()
        if pending:
            self._apply([row["id"] for row in pending])
        return bool(pending)

    def _apply(self, ledger_ids: list[int]) -> None:
        """(b) MLflow aliases and (c) the manifest, via registry.publish; (d) one transaction
        marks the new assignments applied, ends the replaced ones and closes the ledger rows."""
        from rpsquest import registry  # MLflow is heavy: only where aliases are written

        with read_connection(self.database) as connection:
            ledger = {
                row["family"]: json.loads(row["inputs"])["intended"]
                for row in connection.execute(
                    select(promotion_ledger)
                    .where(promotion_ledger.c.id.in_(ledger_ids))
                    .order_by(promotion_ledger.c.id)
                ).mappings()
            }
            table = {
                family: {
                    alias: {
                        "config_id": lineage.config_id,
                        "version": lineage.version,
                        "assignment_id": lineage.assignment_id,
                    }
                    for alias, lineage in lineages.items()
                }
                for family, lineages in current_lineages(connection).items()
            } | ledger
            versions = {
                (row["family"], row["version"]): row
                for row in connection.execute(select(model_versions)).mappings()
            }
        rows = [
            {**versions[family, entry["version"]], **entry, "family": family, "alias": alias}
            for family, aliases in table.items()
            for alias, entry in aliases.items()
        ]
        registry.publish(
            self.settings, self.store, rows, self.store.read_manifest(), ledger_ids=ledger_ids
        )
        now = utc_now()
        with write_transaction(self.database) as connection:
            for family, aliases in ledger.items():
                for alias, entry in aliases.items():
                    connection.execute(
                        update(alias_assignments)
                        .where(
                            alias_assignments.c.family == family,
                            alias_assignments.c.alias == alias,
                            alias_assignments.c.state == "applied",
                            alias_assignments.c.id != entry["assignment_id"],
                        )
                        .values(state="ended", ended_at=now)
                    )
                    connection.execute(
                        update(alias_assignments)
                        .where(alias_assignments.c.id == entry["assignment_id"])
                        .values(state="applied", version=entry["version"])
                    )
            connection.execute(
                update(promotion_ledger)
                .where(promotion_ledger.c.id.in_(ledger_ids))
                .values(state="applied")
            )

    # -- the function's entry points ---------------------------------------------------------

    def on_event(self, event: events.Event) -> CloudEvent | None:
        """training.completed (refresh + evaluate) or promotion.requested (evaluate)."""
        families = events.event_body(PromoteRequest, event.data).families
        refresh = event.type == events.TRAINING_COMPLETED
        promoted = self.evaluate(event.type, event.id, refresh, families)
        if promoted is None:
            return None
        return events.new_event(
            FUNCTION,
            events.MODEL_PROMOTED,
            promoted,
            str(promoted["manifest_version"]),
            events.reply_id(FUNCTION, event.source, event.id),
        )

    def run_now(self, families: Collection[str] | None) -> dict[str, Any]:
        """An admin's evaluation: the model.promoted event, if any, goes to K_SINK."""
        return self._announce(self.evaluate("admin", None, refresh=False, families=families))

    def swap_now(self, family: str) -> dict[str, Any]:
        """An admin's manual swap (promotion or rollback), announced through K_SINK."""
        return self._announce(self.swap(family))

    def _announce(self, promoted: dict[str, Any] | None) -> dict[str, Any]:
        if promoted is None:
            return {"changed": False}
        event = events.new_event(
            FUNCTION, events.MODEL_PROMOTED, promoted, str(promoted["manifest_version"])
        )
        try:
            events.send(self.settings.sink_url, event)
        except OSError as exc:  # requests' errors are OSErrors: no broker locally is fine
            log.warning("model.promoted not delivered to %s: %s", self.settings.sink_url, exc)
            return {"changed": True, "event_delivered": False, **promoted}
        return {"changed": True, **promoted}

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


def _reason(changed: list[FamilyOutcome], repaired: bool) -> str:
    decisions = {o.decision for o in changed}
    if "promote_b" in decisions:
        return "promotion"
    if any(o.reorder_applied for o in changed):
        return "reorder"
    return "refresh" if changed else "repair" if repaired else "refresh"


def _changes(previous: Mapping[str, Any] | None, manifest: Mapping[str, Any]) -> list[dict]:
    before = (previous or {}).get("models", {})
    return [
        {
            "family": family,
            "alias": alias,
            "from_version": before.get(family, {}).get(alias, {}).get("version"),
            "to_version": entry["version"],
            "config_id": entry["config_id"],
        }
        for family, aliases in manifest["models"].items()
        for alias, entry in aliases.items()
        if before.get(family, {}).get(alias) != entry
    ]
