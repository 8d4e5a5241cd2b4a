"""The serving manifest (SPEC §8.2): which artifact each family's aliases serve. Promote builds
it, play and promote read it, and both go through `Manifest`. Only the standard library, the
family catalogue and the model store's interface: no MLflow, onnxruntime or numpy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from rpsquest.game.policies import ALIASES, FAMILY_NAMES
from rpsquest.modelstore import MANIFEST_KEY, ModelStore, StoreError

SCHEMA = 1
PROBE_SIZE = 3  # P(rock), P(paper), P(scissors)


class ManifestError(ValueError):
    """A manifest that breaks §8.2's schema: it must not be served."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field(data: Mapping[str, Any], key: str, where: str, kind: type, expected: str) -> Any:
    """`data[key]` if it is a `kind` (never a bool for int), else a ManifestError naming it."""
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and not _is_int(value)):
        raise ManifestError(f"{where}{key} must be {expected}, got {value!r}")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where} must be an object, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One alias's model: its version, config and assignment, and the artifact play loads with
    the hash, feature contract and probe output it checks before serving it."""

    version: int
    config_id: str
    assignment_id: int
    artifact: str
    sha256: str
    probe: tuple[float, ...]
    feature_contract: str

    @classmethod
    def from_json(cls, data: Any, where: str, inherited_contract: str | None = None) -> Self:
        """The entry at `where` (e.g. `models.xgboost.B`), checked field by field. Entries
        written before they named their own contract take `inherited_contract`, the one of
        the manifest holding them."""
        entry = _object(data, where)
        prefix = f"{where}."
        contract = entry.get("feature_contract", inherited_contract)
        if not isinstance(contract, str):
            raise ManifestError(f"{prefix}feature_contract must be a string, got {contract!r}")
        probe = entry.get("probe")
        if not isinstance(probe, list) or not all(_is_number(p) for p in probe):
            raise ManifestError(f"{prefix}probe must be a list of numbers, got {probe!r}")
        if len(probe) != PROBE_SIZE:
            raise ManifestError(f"{prefix}probe must have {PROBE_SIZE} values, got {probe}")
        return cls(
            version=_field(entry, "version", prefix, int, "an integer"),
            config_id=_field(entry, "config_id", prefix, str, "a string"),
            assignment_id=_field(entry, "assignment_id", prefix, int, "an integer"),
            artifact=_field(entry, "artifact", prefix, str, "a string"),
            sha256=_field(entry, "sha256", prefix, str, "a string"),
            probe=tuple(float(p) for p in probe),
            feature_contract=contract,
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as §8.2 spells it, keys in the order promote has always written them."""
        return {
            "version": self.version,
            "config_id": self.config_id,
            "assignment_id": self.assignment_id,
            "artifact": self.artifact,
            "sha256": self.sha256,
            "probe": list(self.probe),
            "feature_contract": self.feature_contract,
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    """One published manifest. The schema is this build's constant: a manifest with another
    fails to load, so it is not a field. The feature contract is the one its writer served;
    another build's manifest still loads, and serving decides model by model."""

    manifest_version: int
    feature_contract: str
    # Promote always writes both; hand-made manifests (tests, repairs) may leave them out, and
    # play never needed them, so they stay optional as they always were.
    created_at: str | None
    ledger_ids: tuple[int, ...]
    # {family: {alias: entry}}, families and aliases in canonical order, names from the family
    # catalogue; read-only by convention.
    models: Mapping[str, Mapping[str, ModelEntry]]

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """The manifest a JSON document describes; a ManifestError names the first bad field."""
        document = _object(data, "the manifest")
        if document.get("schema") != SCHEMA or not _is_int(document.get("schema")):
            raise ManifestError(f"schema must be {SCHEMA}, got {document.get('schema')!r}")
        version = _field(document, "manifest_version", "", int, "an integer")
        contract = _field(document, "feature_contract", "", str, "a string")
        created_at = document.get("created_at")
        if created_at is not None and not isinstance(created_at, str):
            raise ManifestError(f"created_at must be a string, got {created_at!r}")
        ledger_ids = document.get("ledger_ids", [])
        if not isinstance(ledger_ids, list) or not all(_is_int(i) for i in ledger_ids):
            raise ManifestError(f"ledger_ids must be a list of integers, got {ledger_ids!r}")
        models = _models(document.get("models"), contract)
        return cls(version, contract, created_at, tuple(ledger_ids), models)

    def to_json(self) -> dict[str, Any]:
        """The JSON document §8.2 shows, key for key as promote has always written it."""
        return {
            "schema": SCHEMA,
            "manifest_version": self.manifest_version,
            "feature_contract": self.feature_contract,
            "created_at": self.created_at,
            "ledger_ids": list(self.ledger_ids),
            "models": {
                family: {alias: entry.to_json() for alias, entry in aliases.items()}
                for family, aliases in self.models.items()
            },
        }

    def entry(self, family: str, alias: str) -> ModelEntry | None:
        """The model an alias serves, if the manifest names one."""
        return self.models.get(family, {}).get(alias)


def _models(data: Any, contract: str) -> dict[str, dict[str, ModelEntry]]:
    """The `models` section, checked against the family catalogue and put in canonical order
    (promote writes it so; a reordered file still loads); `contract` is the manifest's."""
    models = _object(data, "models")
    unknown = sorted(set(models) - set(FAMILY_NAMES))
    if unknown:
        raise ManifestError(f"models: unknown family {unknown[0]!r}; expected {FAMILY_NAMES}")
    checked: dict[str, dict[str, ModelEntry]] = {}
    for family in (f for f in FAMILY_NAMES if f in models):
        aliases = _object(models[family], f"models.{family}")
        unknown = sorted(set(aliases) - set(ALIASES))
        if unknown:
            raise ManifestError(f"models.{family}: unknown alias {unknown[0]!r}")
        checked[family] = {
            alias: ModelEntry.from_json(aliases[alias], f"models.{family}.{alias}", contract)
            for alias in ALIASES
            if alias in aliases
        }
    return checked


def read_manifest(store: ModelStore) -> Manifest | None:
    """The store's manifest, checked; None before promote first writes one. A manifest that
    breaks the schema is a StoreError, as one that is not JSON already is: something in the
    store that cannot be read, so play keeps its last good one and promote answers 503."""
    data = store.read_manifest()
    if data is None:
        return None
    try:
        return Manifest.from_json(data)
    except ManifestError as error:
        raise StoreError(f"{store.url}/{MANIFEST_KEY} is not a valid manifest: {error}") from error
