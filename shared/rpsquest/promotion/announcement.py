"""The model.promoted announcement (SPEC §10.1): which aliases the new serving manifest moved,
and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudevents.http import CloudEvent

from rpsquest import events
from rpsquest.manifest import Manifest
from rpsquest.promotion.outcomes import FamilyOutcome

FUNCTION = "promote"


def promoted_data(
    previous: Manifest | None,
    manifest: Manifest | None,
    changed: list[FamilyOutcome],
    repaired: bool,
) -> dict[str, Any] | None:
    """The model.promoted data when the manifest changed, else None."""
    if manifest is None or manifest == previous:
        return None
    return {
        "manifest_version": manifest.manifest_version,
        "previous_manifest_version": previous.manifest_version if previous else None,
        "reason": _reason(changed, repaired),
        "changes": _changes(previous, manifest),
        "ledger_ids": list(manifest.ledger_ids),
    }


def promoted_event(
    promoted: Mapping[str, Any], answering: events.Event | None = None
) -> CloudEvent:
    """model.promoted as a CloudEvent; as a reply, its id derives from the event it answers."""
    reply_id = events.reply_id(FUNCTION, answering.source, answering.id) if answering else None
    return events.new_event(
        FUNCTION, events.MODEL_PROMOTED, promoted, str(promoted["manifest_version"]), reply_id
    )


def _reason(changed: list[FamilyOutcome], repaired: bool) -> str:
    decisions = {o.decision for o in changed}
    if "promote_b" in decisions:
        return "promotion"
    if any(o.reorder_applied for o in changed):
        return "reorder"
    return "refresh" if changed else "repair" if repaired else "refresh"


def _changes(previous: Manifest | None, manifest: Manifest) -> list[dict[str, Any]]:
    changes = []
    for family, aliases in manifest.models.items():
        for alias, entry in aliases.items():
            before = previous.entry(family, alias) if previous else None
            if before != entry:
                changes.append(
                    {
                        "family": family,
                        "alias": alias,
                        "from_version": before.version if before else None,
                        "to_version": entry.version,
                        "config_id": entry.config_id,
                    }
                )
    return changes
