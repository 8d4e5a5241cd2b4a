"""One training cycle (SPEC §7.4): gate, build the data once, then train, export, verify,
store and register every family's four alias lineages. Train never moves aliases."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort
from sqlalchemy import Engine

from rpsquest import FEATURE_CONTRACT, metrics
from rpsquest.config import Settings
from rpsquest.errors import Unavailable
from rpsquest.features import PROBE_VECTOR
from rpsquest.game.policies import ALIASES, FAMILIES
from rpsquest.models import ModelConfig, ModelConfigs, train
from rpsquest.models.export import create_session, parity_check, predict_onnx, probe
from rpsquest.modelstore import ModelStore
from rpsquest.store.coordination import TRAIN_LEASE as LEASE
from rpsquest.store.coordination import acquire_lease, release_lease
from rpsquest.store.cycles import fail_running_cycle, finish_cycle, start_cycle
from rpsquest.store.database import read_connection, write_transaction
from rpsquest.store.games import utc_now
from rpsquest.store.lineages import current_lineages, newest_versions, record_version
from rpsquest.training.dataset import Dataset, build_dataset, check_gate
from rpsquest.training.evaluation import accuracy_by_group, confusion_matrix, evaluate
from rpsquest.training.strength import measure_strength

log = logging.getLogger(__name__)

LEASE_SECONDS = 15 * 60
_ANNOUNCED = ("config_id", "run_id", "version", "sha256", "artifact")
_HEADLINE_METRICS = ("val_accuracy", "test_accuracy", "test_log_loss")


@dataclass
class CycleResult:
    """What training.completed announces (SPEC §10.1)."""

    cycle_id: str
    trigger_event_id: str | None
    status: str
    duration_seconds: float = 0.0
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def event_data(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "trigger_event_id": self.trigger_event_id,
            "status": self.status,
            "reason": self.reason,
            "duration_seconds": round(self.duration_seconds, 3),
            "data": self.data,
            "models": self.models,
        }


def lineage_configs(database: Engine, configs: ModelConfigs) -> dict[str, dict[str, ModelConfig]]:
    """Each alias retrains with its current assignment's config (the bootstrap table at first)."""
    with read_connection(database) as connection:
        current = current_lineages(connection)
    return {
        f.name: {
            alias: (
                configs.get(current[f.name][alias].config_id)
                if alias in current.get(f.name, {})
                else configs.bootstrap_config(f.name, alias)
            )
            for alias in ALIASES
        }
        for f in FAMILIES
    }


def has_current_versions(database: Engine, lineages: dict[str, dict[str, ModelConfig]]) -> bool:
    """Whether every lineage's newest version takes this build's features: one trained on
    another contract cannot be served, so the first cycle after an upgrade retrains it."""
    with read_connection(database) as connection:
        stored = newest_versions(connection)
    return all(
        stored.get((family, config.config_id), {}).get("feature_contract") == FEATURE_CONTRACT
        for family, aliases in lineages.items()
        for config in aliases.values()
    )


def _seed(cycle_id: str) -> int:
    return uuid.UUID(cycle_id).int % 2**31


def _train_one(
    settings: Settings,
    store: ModelStore,
    family: str,
    alias: str,
    config: ModelConfig,
    dataset: Dataset,
    cycle_id: str,
) -> dict[str, Any]:
    """Train, verify and publish one model; returns its training.completed entry."""
    from rpsquest import registry  # MLflow is heavy: imported only where a model is registered

    started = time.perf_counter()
    trained = train(
        config, dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, _seed(cycle_id)
    )
    onnx_bytes = trained.to_onnx()
    parity_rows = np.vstack([dataset.X_test, dataset.X_val])[:2000]
    max_diff = parity_check(trained, onnx_bytes, parity_rows, seed=_seed(cycle_id))
    session = create_session(onnx_bytes)
    p_val = predict_onnx(session, dataset.X_val)
    p_test = predict_onnx(session, dataset.X_test)
    scores = evaluate((p_val, dataset.y_val), (p_test, dataset.y_test))
    scores |= accuracy_by_group(p_test, dataset.y_test, dataset.held_out_human())
    scores["onnx_max_abs_diff"] = max_diff
    scores["train_seconds"] = time.perf_counter() - started
    scores |= _strength_metrics(settings, family, alias, session)
    key, sha256 = store.put_artifact(family, config.config_id, onnx_bytes)
    probe_output = probe(onnx_bytes, PROBE_VECTOR)
    summary = dataset.summary
    run_id, version = registry.log_model_run(
        settings,
        family=family,
        alias=alias,
        cycle_id=cycle_id,
        config=config,
        trained=trained,
        params={
            "train_rounds": summary.train_rounds,
            "val_rounds": summary.val_rounds,
            "test_rounds": summary.test_rounds,
            "live_rounds": summary.live_rounds,
            "bootstrap_rounds": summary.bootstrap_rounds,
            "data_cutoff": summary.cutoff or "",
            "data_fingerprint": summary.data_fingerprint,
        },
        metrics=scores,
        onnx_bytes=onnx_bytes,
        dataset_summary=summary.as_dict(),
        confusion_matrix=confusion_matrix(p_test, dataset.y_test).tolist(),
    )
    return {
        "config_id": config.config_id,
        "run_id": run_id,
        "version": version,
        "sha256": sha256,
        "artifact": key,
        "probe": probe_output,
        "metrics": scores,
        "feature_contract": summary.feature_contract,
    }


def _strength_metrics(
    settings: Settings, family: str, alias: str, session: ort.InferenceSession
) -> dict[str, float]:
    """The model's arena figures (training/strength.py), or none when the check is off or
    fails: a model is never failed for its strength check."""
    sessions = settings.train_arena_sessions
    if sessions <= 0:
        return {}
    started = time.perf_counter()
    try:
        strength = measure_strength(settings, family, session, sessions)
    except Exception:
        log.exception("the strength check of %s/%s failed; no arena metrics", family, alias)
        return {}
    log.info(
        "%s/%s arena headline %.3f (%d sessions per type, %.1f s)",
        family,
        alias,
        strength.headline,
        sessions,
        time.perf_counter() - started,
    )
    return strength.as_metrics()


def run_cycle(
    settings: Settings,
    database: Engine,
    store: ModelStore,
    configs: ModelConfigs,
    *,
    force: bool = False,
    families: Collection[str] | None = None,
    trigger_event_id: str | None = None,
) -> CycleResult | None:
    """Run one cycle; None when another cycle holds the lease."""
    cycle_id = str(uuid.uuid4())
    if not acquire_lease(database, LEASE, cycle_id, LEASE_SECONDS):
        return None
    started = time.perf_counter()
    try:
        return _run(
            settings, database, store, configs, cycle_id, force, families, trigger_event_id, started
        )
    except Unavailable:
        # The store, MLflow or the database is down: that is no model's own failure, so the
        # whole cycle ends here (503) and the Broker's retry, once the lease is free, starts anew.
        _abandon(database, cycle_id)
        raise
    finally:
        release_lease(database, LEASE, cycle_id)


def _abandon(database: Engine, cycle_id: str) -> None:
    """Record a cycle an outage cut short as failed, if the database still answers."""
    metrics.TRAINING_CYCLES.labels("failure").inc()
    # The database may be what is down: then the row stays `running`, like a crashed cycle's.
    with contextlib.suppress(Unavailable), write_transaction(database) as connection:
        fail_running_cycle(connection, cycle_id, utc_now())


def _run(
    settings: Settings,
    database: Engine,
    store: ModelStore,
    configs: ModelConfigs,
    cycle_id: str,
    force: bool,
    families: Collection[str] | None,
    trigger_event_id: str | None,
    started: float,
) -> CycleResult:
    lineages = lineage_configs(database, configs)
    gate = check_gate(
        database,
        settings,
        force=force,
        alias_without_version=not has_current_versions(database, lineages),
    )
    result = CycleResult(cycle_id, trigger_event_id, "skipped", reason=gate.reason)
    # Without the human corpus, a cycle too small to train is a recorded failure, not a skip.
    unavailable = gate.selection.corpus_problem
    failed = bool(unavailable) and gate.reason == "too_little_data"
    if not (gate.train or failed):
        metrics.TRAINING_CYCLES.labels("skipped").inc()
        return result
    result.reason = unavailable or gate.reason
    with write_transaction(database) as connection:
        start_cycle(connection, cycle_id, trigger_event_id, utc_now())
    dataset = build_dataset(database, settings, gate.selection)
    result.data = {
        "n_rounds": dataset.summary.n_rounds,
        "n_games": dataset.summary.n_games,
        "live_rounds": dataset.summary.live_rounds,
        "bootstrap_rounds": dataset.summary.bootstrap_rounds,
        "cutoff": dataset.summary.cutoff,
    }
    failures = 0
    for family, aliases in lineages.items():
        if failed or (families and family not in families):
            continue
        for alias, config in aliases.items():
            if time.perf_counter() - started > settings.train_budget_seconds:
                log.warning("training budget spent; %s/%s not trained", family, alias)
                failures += 1
                continue
            began = time.perf_counter()
            try:
                entry = _train_one(settings, store, family, alias, config, dataset, cycle_id)
            except Unavailable:
                raise  # a dependency is down, not this model: see run_cycle
            except Exception:  # one failing model fails only itself (cycle becomes partial)
                log.exception("training %s/%s (%s) failed", family, alias, config.config_id)
                metrics.TRAINING_RUNS.labels(family, alias, "failure").inc()
                failures += 1
                continue
            log.info(
                "trained %s/%s (%s) as version %s",
                family,
                alias,
                config.config_id,
                entry["version"],
            )
            metrics.TRAINING_RUNS.labels(family, alias, "success").inc()
            metrics.TRAINING_DURATION.labels(family).observe(time.perf_counter() - began)
            _record_version(database, family, cycle_id, entry)
            result.models.setdefault(family, {})[alias] = _announcement(entry)
    partial = failures or unavailable
    result.status = "failure" if not result.models else "partial" if partial else "success"
    result.duration_seconds = time.perf_counter() - started
    with write_transaction(database) as connection:
        finish_cycle(
            connection,
            cycle_id,
            finished_at=utc_now(),
            status=result.status,
            cutoff=dataset.summary.cutoff,
            live_rounds=dataset.summary.live_rounds,
            summary=result.event_data(),
        )
    metrics.TRAINING_CYCLES.labels(result.status).inc()
    return result


def _announcement(entry: dict[str, Any]) -> dict[str, Any]:
    """A model's entry in training.completed: its identity and three headline metrics."""
    headline = {key: entry["metrics"][key] for key in _HEADLINE_METRICS}
    return {key: entry[key] for key in _ANNOUNCED} | {"metrics": headline}


def _record_version(database: Engine, family: str, cycle_id: str, entry: dict[str, Any]) -> None:
    with write_transaction(database) as connection:
        record_version(
            connection,
            family=family,
            version=entry["version"],
            config_id=entry["config_id"],
            run_id=entry["run_id"],
            cycle_id=cycle_id,
            artifact=entry["artifact"],
            sha256=entry["sha256"],
            probe=entry["probe"],
            metrics=entry["metrics"],
            created_at=utc_now(),
            feature_contract=entry["feature_contract"],
        )
