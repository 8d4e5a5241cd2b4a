"""The models play serves (SPEC §8): the manifest, lazily loaded ONNX bundles per family, checks
before a swap, cheap manifest polling and last-good fallback. Imports only the lean runtime."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rpsquest import FEATURE_CONTRACT, metrics
from rpsquest.config import Settings
from rpsquest.features import PROBE_VECTOR
from rpsquest.game.bots import AliasPrediction, Answer, ModelUnavailable
from rpsquest.game.policies import ALIASES, FAMILY_NAMES, Alias
from rpsquest.manifest import Manifest, ModelEntry, read_manifest
from rpsquest.modelstore import ModelStore, StoreError, open_store
from rpsquest.store.games import utc_now

log = logging.getLogger(__name__)

PROBE_TOLERANCE = 1e-4
RETRY_SECONDS = 30.0
HINT_SECONDS = 1.0


class LoadError(Exception):
    """An artifact that must not be served."""


def _check_contract(artifact: str, source: str, contract: str | None) -> None:
    """A model trained on other features would answer nonsense (or fail) on ours: refuse it."""
    if contract != FEATURE_CONTRACT:
        raise LoadError(
            f"{artifact}: {source} names feature contract {contract}, not {FEATURE_CONTRACT}"
        )


@dataclass(frozen=True)
class LoadedModel:
    alias: str
    version: int
    config_id: str
    assignment_id: int | None
    sha256: str
    artifact_bytes: int
    loaded_at: str
    session: Any  # onnxruntime.InferenceSession: thread-safe for concurrent runs


@dataclass(frozen=True)
class Bundle:
    """A family's four aliases, loaded from one manifest version, swapped in as a whole."""

    manifest_version: int
    models: Mapping[Alias, LoadedModel]


class ServingModels:
    """The play function's model bank. Thread-safe: gunicorn threads share one instance."""

    def __init__(
        self,
        settings: Settings,
        store: ModelStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._store = store
        self._clock = clock
        self._cache = settings.var_dir / "cache"
        self._lock = threading.Lock()  # manifest state
        self._family_locks: dict[str, threading.Lock] = {f: threading.Lock() for f in FAMILY_NAMES}
        self._manifest: Manifest | None = None
        self._tag: str | None = None
        self._next_check = 0.0
        self._next_hint = 0.0
        self._checked_at: str | None = None
        self._bundles: dict[str, Bundle] = {}
        self._retry_at: dict[str, float] = {}
        self.last_error: str | None = None

    @property
    def store(self) -> ModelStore:
        if self._store is None:
            self._store = open_store(self.settings.model_store)
        return self._store

    @property
    def manifest_version(self) -> int | None:
        return self._manifest.manifest_version if self._manifest else None

    # -- the manifest ---------------------------------------------------------------------

    def _failed(self, message: str, trigger: str) -> None:
        log.warning("model reload (%s) failed: %s", trigger, message)
        self.last_error = message
        metrics.MODEL_RELOADS.labels(trigger, "failed").inc()

    def check_manifest(self, trigger: str = "poll", force: bool = False) -> bool:
        """Read the manifest if its tag moved (or `force`); True when a newer one was taken.

        One thread reads the store at a time. A poll that finds another under way serves the
        manifest in hand instead of queueing behind it: a store that is slow to refuse (connect
        timeouts, retries) then delays one request per check, not every request in flight.
        """
        if not self._lock.acquire(blocking=force or self._manifest is None):
            return False
        try:
            taken = self._take_manifest(trigger, force)
        finally:
            self._lock.release()
        if taken:
            for family in list(self._bundles):  # refresh what this instance already serves
                self._load(family, trigger)
        return taken

    def _take_manifest(self, trigger: str, force: bool) -> bool:
        """check_manifest's store read, under the manifest lock."""
        now = self._clock()
        if not force and now < self._next_check:
            return False
        self._next_check = now + self.settings.manifest_check_seconds
        self._checked_at = utc_now()
        try:
            tag = self.store.manifest_tag()
            if tag is not None and tag == self._tag and not force:
                metrics.MANIFEST_CHECKED.set_to_current_time()
                return False
            manifest = read_manifest(self.store)  # a manifest breaking §8.2 is a StoreError
            if manifest is None:
                return False
        except (StoreError, OSError, ValueError) as exc:  # the last good one stays
            self._next_check = now + RETRY_SECONDS
            self._failed(str(exc), trigger)
            return False
        self._tag = tag
        metrics.MANIFEST_CHECKED.set_to_current_time()  # the one in hand, or the newer one read
        current = self.manifest_version
        if current is not None and manifest.manifest_version <= current:
            metrics.MODEL_RELOADS.labels(trigger, "unchanged").inc()
            return False
        self._manifest = manifest
        self._retry_at.clear()
        metrics.MANIFEST_VERSION.set(manifest.manifest_version)
        return True

    def on_promoted(self) -> None:
        """model.promoted is only a hint to re-read the manifest, taken at most once a second."""
        with self._lock:
            now = self._clock()
            if now < self._next_hint:
                return
            self._next_hint = now + HINT_SECONDS
        self.check_manifest("event", force=True)

    def assignment_id(self, family: str, alias: str) -> int | None:
        self.check_manifest()
        entry = self._manifest.entry(family, alias) if self._manifest else None
        return entry.assignment_id if entry else None

    # -- loading --------------------------------------------------------------------------

    def _artifact(self, key: str, sha256: str) -> bytes:
        """The artifact's bytes via the local cache; its SHA-256 must match the manifest."""
        cached = self._cache / f"{sha256}.onnx"
        data = cached.read_bytes() if cached.is_file() else self.store.read(key)
        if hashlib.sha256(data).hexdigest() != sha256:
            cached.unlink(missing_ok=True)
            raise LoadError(f"{key} does not match its SHA-256 {sha256}")
        if not cached.is_file():
            self._cache.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_suffix(f".{threading.get_ident()}.tmp")
            temporary.write_bytes(data)
            temporary.replace(cached)
        return data

    def _load_model(self, alias: str, entry: ModelEntry) -> LoadedModel:
        from rpsquest.models.export import create_session, predict_onnx

        _check_contract(entry.artifact, "the manifest", entry.feature_contract)
        artifact = self._artifact(entry.artifact, entry.sha256)
        session = create_session(artifact)
        metadata = session.get_modelmeta().custom_metadata_map
        _check_contract(entry.artifact, "its ONNX metadata", metadata.get("feature_contract"))
        output = predict_onnx(session, [PROBE_VECTOR])[0]
        if max(abs(float(a) - b) for a, b in zip(output, entry.probe, strict=True)) > (
            PROBE_TOLERANCE
        ):
            raise LoadError(f"{entry.artifact} answers the probe differently from training")
        return LoadedModel(
            alias,
            entry.version,
            entry.config_id,
            entry.assignment_id,
            entry.sha256,
            len(artifact),
            utc_now(),
            session,
        )

    def _load(self, family: str, trigger: str) -> Bundle | None:
        """Load all four aliases of the manifest or none; the last good bundle stays otherwise."""
        with self._family_locks[family]:
            manifest = self._manifest
            current = self._bundles.get(family)
            if manifest is None:
                return current
            if current and current.manifest_version == manifest.manifest_version:
                return current
            if self._clock() < self._retry_at.get(family, 0.0):
                return current
            entries = manifest.models.get(family, {})
            started = time.perf_counter()
            try:
                models = {
                    alias: self._load_model(alias, entries[alias])
                    for alias in ALIASES
                    if alias in entries
                }
            except Exception as exc:  # any bad artifact (onnxruntime has its own error types)
                self._retry_at[family] = self._clock() + RETRY_SECONDS
                self._failed(f"{family}: {type(exc).__name__}: {exc}", trigger)
                return current
            metrics.MODEL_LOAD_DURATION.labels(family).observe(time.perf_counter() - started)
            bundle = Bundle(manifest.manifest_version, models)
            self._bundles[family] = bundle
            self._publish_loaded(family, current, bundle)
            metrics.MODEL_RELOADS.labels(trigger, "loaded").inc()
            return bundle

    @staticmethod
    def _publish_loaded(family: str, old: Bundle | None, new: Bundle) -> None:
        for model in old.models.values() if old else ():
            metrics.MODEL_LOADED.remove(family, model.alias, str(model.version), model.config_id)
            metrics.MODEL_ARTIFACT_BYTES.remove(family, model.alias)
        for model in new.models.values():
            metrics.MODEL_LOADED.labels(
                family, model.alias, str(model.version), model.config_id
            ).set(1)
            metrics.MODEL_ARTIFACT_BYTES.labels(family, model.alias).set(model.artifact_bytes)

    # -- serving --------------------------------------------------------------------------

    def predict(self, family: str, features: Sequence[float]) -> Mapping[str, Answer]:
        """Every loaded alias's prediction; a failing alias answers with its failure instead."""
        from rpsquest.models.common import as_features
        from rpsquest.models.export import predict_onnx

        self.check_manifest()
        bundle = self._bundles.get(family)
        if bundle is None or (self._manifest and bundle.manifest_version != self.manifest_version):
            bundle = self._load(family, "startup" if bundle is None else "poll")
        if bundle is None:
            reason = "load_failed" if family in self._retry_at else "not_loaded"
            raise ModelUnavailable(reason)
        answers: dict[str, Answer] = {}
        row = as_features([features])  # once for the four models
        latency = metrics.PREDICTION_LATENCY.labels(family)
        for alias, model in bundle.models.items():
            started = time.perf_counter()
            try:
                p_rock, p_paper, p_scissors = predict_onnx(model.session, row)[0]
            except Exception as exc:  # a broken graph fails only its own alias
                log.warning("%s/%s prediction failed: %s", family, alias, exc)
                answers[alias] = ModelUnavailable("predict_error")
                continue
            finally:
                latency.observe(time.perf_counter() - started)
            probabilities = (float(p_rock), float(p_paper), float(p_scissors))
            answers[alias] = AliasPrediction(
                alias, model.version, model.assignment_id, probabilities
            )
        return answers

    def status(self) -> dict[str, Any]:
        """What GET /models shows: this instance's manifest and loaded models."""
        return {
            "manifest_version": self.manifest_version,
            "checked_at": self._checked_at,
            "loaded": [
                {
                    "family": family,
                    "alias": model.alias,
                    "version": model.version,
                    "config_id": model.config_id,
                    "sha256": model.sha256,
                    "loaded_at": model.loaded_at,
                }
                for family, bundle in sorted(self._bundles.items())
                for model in bundle.models.values()
            ],
            "last_error": self.last_error,
        }
