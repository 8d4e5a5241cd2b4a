"""Every Prometheus object of the project, created once per process (SPEC §11).

Labels come from closed sets, and the known combinations start at zero so that rate() and
increase() see a series from the first scrape. The registry also carries prometheus_client's
process, platform and garbage-collector collectors: CPU, memory, file descriptors and GC of
every function, which the default registry would have had and a custom one must add.
"""

from __future__ import annotations

import itertools

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from rpsquest.game.legacy import LEGACY_BOTS
from rpsquest.game.policies import ACTING_ALIASES, ALIASES, FAMILIES, LEGACY_FAMILY, NO_ALIAS

disable_created_metrics()  # *_created series double the output and no panel reads them
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

SOURCES = ("human", "telemetry", "test")
RESULTS = ("win", "lose", "draw")
WINNERS = ("user", "bot", "tie")
FALLBACK_REASONS = ("not_loaded", "load_failed", "predict_error", "invalid_output")

HTTP_REQUESTS = Counter(
    "rps_http_requests_total",
    "HTTP requests answered, by route and status code.",
    ["function", "route", "method", "code"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "rps_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["function", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
GAMES_STARTED = Counter(
    "rps_games_started_total",
    "Games started.",
    ["policy", "family", "alias", "difficulty", "source"],
    registry=REGISTRY,
)
GAMES_FINISHED = Counter(
    "rps_games_finished_total",
    "Games finished, by winner.",
    ["policy", "family", "alias", "difficulty", "source", "winner"],
    registry=REGISTRY,
)
ROUNDS_PLAYED = Counter(
    "rps_rounds_played_total",
    "Rounds played, by the phase that chose the bot's move and the player's result.",
    ["policy", "family", "alias", "phase", "result"],
    registry=REGISTRY,
)
MODEL_FALLBACKS = Counter(
    "rps_model_fallbacks_total",
    "ML rounds played by the legacy fallback bot instead of a model.",
    ["family", "alias", "reason"],
    registry=REGISTRY,
)
PREDICTIONS = Counter(
    "rps_predictions_total",
    "Alias predictions of the user's move, by whether they came true.",
    ["family", "alias", "correct"],
    registry=REGISTRY,
)
PREDICTION_LATENCY = Histogram(
    "rps_prediction_latency_seconds",
    "Time of one ONNX run.",
    ["family"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
    registry=REGISTRY,
)
MODEL_RELOADS = Counter(
    "rps_model_reloads_total",
    "Model (re)loads, by what triggered them and how they ended.",
    ["trigger", "outcome"],
    registry=REGISTRY,
)
MODEL_LOADED = Gauge(
    "rps_model_loaded_info",
    "1 for each model this instance serves.",
    ["family", "alias", "version", "config_id"],
    registry=REGISTRY,
)
MANIFEST_VERSION = Gauge(
    "rps_manifest_version",
    "The serving manifest version this instance follows.",
    registry=REGISTRY,
)
MANIFEST_CHECKED = Gauge(
    "rps_manifest_checked_timestamp_seconds",
    "When this instance last read the model store and found the manifest it follows to be the "
    "newest (Unix time; 0: it holds none).",
    registry=REGISTRY,
)
MODEL_LOAD_DURATION = Histogram(
    "rps_model_load_duration_seconds",
    "Time to fetch, verify and open a family's four aliases and swap them in.",
    ["family"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
MODEL_ARTIFACT_BYTES = Gauge(
    "rps_model_artifact_bytes",
    "Size of the ONNX artifact each served alias was loaded from.",
    ["family", "alias"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "rps_events_total",
    "CloudEvents handled, by outcome (processed, duplicate, busy, rejected, failed, sent).",
    ["function", "type", "outcome"],
    registry=REGISTRY,
)
TRAINING_RUNS = Counter(
    "rps_training_runs_total",
    "Models trained, by outcome.",
    ["family", "alias", "status"],
    registry=REGISTRY,
)
TRAINING_DURATION = Histogram(
    "rps_training_duration_seconds",
    "Time to train, export, strength-check and register one model.",
    ["family"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
TRAINING_CYCLES = Counter(
    "rps_training_cycles_total",
    "Training cycles, by status (success, partial, failure, skipped).",
    ["status"],
    registry=REGISTRY,
)
PROMOTION_EVALUATIONS = Counter(
    "rps_promotion_evaluations_total",
    "Promotion evaluations, by decision.",
    ["family", "decision"],
    registry=REGISTRY,
)
PROMOTIONS = Counter(
    "rps_promotions_total", "B promoted to Production.", ["family"], registry=REGISTRY
)
ALIAS_REORDERS = Counter(
    "rps_alias_reorders_total", "Challenger aliases reordered.", ["family"], registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "rps_dead_letters_total",
    "Events that reached the dead-letter sink.",
    ["type"],
    registry=REGISTRY,
)
TELEMETRY_GAMES = Counter(
    "rps_telemetry_games_total",
    "Telemetry games played by legacy bots against the ML bots, by winner.",
    ["player", "policy", "winner"],
    registry=REGISTRY,
)


def game_labels() -> list[tuple[str, str, str, str]]:
    """Every (policy, family, alias, difficulty) a game can carry."""
    ml = [
        (f.policy, f.name, alias, difficulty)
        for f in FAMILIES
        for alias in ACTING_ALIASES
        for difficulty in ("normal", "easy")
    ]
    return ml + [(bot, LEGACY_FAMILY, NO_ALIAS, "normal") for bot in LEGACY_BOTS]


def _initialise() -> None:
    for (policy, family, alias, difficulty), source in itertools.product(game_labels(), SOURCES):
        GAMES_STARTED.labels(policy, family, alias, difficulty, source)
        for winner in WINNERS:
            GAMES_FINISHED.labels(policy, family, alias, difficulty, source, winner)
    for f, alias, result in itertools.product(FAMILIES, ACTING_ALIASES, RESULTS):
        for phase in ("gambit", "ml", "fallback"):
            ROUNDS_PLAYED.labels(f.policy, f.name, alias, phase, result)
    for bot, phase, result in itertools.product(LEGACY_BOTS, ("gambit", "legacy"), RESULTS):
        ROUNDS_PLAYED.labels(bot, LEGACY_FAMILY, NO_ALIAS, phase, result)
    for f, alias, reason in itertools.product(FAMILIES, ACTING_ALIASES, FALLBACK_REASONS):
        MODEL_FALLBACKS.labels(f.name, alias, reason)
    for f, alias, correct in itertools.product(FAMILIES, ALIASES, ("true", "false")):
        PREDICTIONS.labels(f.name, alias, correct)
    for f in FAMILIES:
        PREDICTION_LATENCY.labels(f.name)
        MODEL_LOAD_DURATION.labels(f.name)
        TRAINING_DURATION.labels(f.name)
    for trigger, outcome in itertools.product(
        ("startup", "event", "poll", "admin"), ("loaded", "unchanged", "failed")
    ):
        MODEL_RELOADS.labels(trigger, outcome)
    for f, alias, status in itertools.product(FAMILIES, ALIASES, ("success", "failure")):
        TRAINING_RUNS.labels(f.name, alias, status)
    for status in ("success", "partial", "failure", "skipped"):
        TRAINING_CYCLES.labels(status)
    for f in FAMILIES:
        PROMOTIONS.labels(f.name)
        ALIAS_REORDERS.labels(f.name)
        for decision in ("promote_b", "retain", "insufficient_data"):
            PROMOTION_EVALUATIONS.labels(f.name, decision)
    for bot, f, winner in itertools.product(LEGACY_BOTS, FAMILIES, WINNERS):
        TELEMETRY_GAMES.labels(bot.capitalize(), f.policy, winner)


_initialise()


def exposition() -> bytes:
    return generate_latest(REGISTRY)
