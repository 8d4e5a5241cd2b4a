"""HTTP target for promotion: training.completed and promotion.requested in, model.promoted out;
the ledger, the alias table, the Broker's dead letters and retention (retention.requested)."""

import functools

import functions_framework
from flask import Request, Response

from rpsquest import events, metrics, web
from rpsquest import operations as op
from rpsquest.api import (
    DeadLetterQuery,
    LedgerQuery,
    PromoteRequest,
    ReplayRequest,
    RetentionRequest,
    SwapRequest,
)
from rpsquest.config import Settings
from rpsquest.manifest import read_manifest
from rpsquest.promotion.gauges import BusinessGauges
from rpsquest.promotion.promoter import LEASE_SECONDS, Promoter
from rpsquest.promotion.views import alias_table
from rpsquest.store.database import read_connection
from rpsquest.store.ledger import recent_entries

SETTINGS = Settings.from_env()
TRIGGERS = [events.TRAINING_COMPLETED, events.PROMOTION_REQUESTED, events.RETENTION_REQUESTED]


@functools.cache
def promoter() -> Promoter:
    """Built on first use, once per instance."""
    return Promoter.open(SETTINGS)


metrics.REGISTRY.register(BusinessGauges(lambda: promoter().database))


def _on_event(request: Request) -> Response:
    return events.deliver(
        request, "promote", TRIGGERS, promoter().database, promoter().on_event, LEASE_SECONDS
    )


def _run(request: Request) -> tuple[dict, int]:
    body = PromoteRequest.from_json(web.read_json(request, web.INTERNAL_BODY_LIMIT))
    return promoter().run_now(body.families), 200


def _swap(request: Request) -> tuple[dict, int]:
    body = SwapRequest.from_json(web.read_json(request, web.INTERNAL_BODY_LIMIT))
    return promoter().swap_now(body.family), 200


def _gc(request: Request) -> tuple[dict, int]:
    body = RetentionRequest.from_json(web.read_json(request, web.INTERNAL_BODY_LIMIT))
    return promoter().collect_garbage(body.dry_run), 200


def _promotions(request: Request) -> tuple[dict, int]:
    query = LedgerQuery.from_args(request.args)
    with read_connection(promoter().database) as connection:
        rows = recent_entries(connection, query.limit, query.family)
    return {"promotions": rows, "count": len(rows)}, 200


def _aliases(_request: Request) -> tuple[dict, int]:
    manifest = read_manifest(promoter().store)
    version = manifest.manifest_version if manifest else None
    with read_connection(promoter().database) as connection:
        return alias_table(connection, version), 200


def _dead_letter(request: Request) -> Response:
    promoter().record_dead_letter(events.parse_event(request, None))
    return events.acknowledged()


def _dead_letters(request: Request) -> tuple[dict, int]:
    letters = promoter().dead_letters(DeadLetterQuery.from_args(request.args).limit)
    return {"dead_letters": letters, "count": len(letters)}, 200


def _replay(request: Request) -> tuple[dict, int]:
    body = ReplayRequest.from_json(web.read_json(request, web.INTERNAL_BODY_LIMIT))
    return promoter().replay_dead_letter(body.id), 200


SERVICE = web.Service(
    "promote",
    SETTINGS,
    [
        web.Route("POST", "/", _on_event, "network", operation=op.PROMOTE_EVENT),
        web.Route("POST", "/dead-letter", _dead_letter, "network", operation=op.DEAD_LETTER),
        web.Route("POST", "/run", _run, "admin", operation=op.PROMOTE_RUN),
        web.Route("POST", "/promote", _swap, "admin", operation=op.SWAP),
        web.Route("POST", "/gc", _gc, "admin", operation=op.GC),
        web.Route("GET", "/promotions", _promotions, "admin", operation=op.PROMOTIONS),
        web.Route("GET", "/aliases", _aliases, "admin", operation=op.ALIASES),
        web.Route("GET", "/dead-letters", _dead_letters, "admin", operation=op.DEAD_LETTERS),
        web.Route("POST", "/dead-letters/replay", _replay, "admin", operation=op.REPLAY),
    ],
)


@functions_framework.http
def promote(request: Request) -> Response:
    return SERVICE(request)
