"""The MLflow side of the model lifecycle (§7.4, §9.3): train logs one run and registers one
version per model; promote moves MLflow's native aliases and publishes the serving manifest.
Serving never imports this module: it reads only the manifest (`rpsquest.manifest`)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy.exc import OperationalError

from rpsquest import FEATURE_CONTRACT
from rpsquest.config import Settings
from rpsquest.errors import Unavailable
from rpsquest.game.policies import ALIASES, FAMILIES
from rpsquest.manifest import Manifest, ModelEntry, read_manifest
from rpsquest.models.configs import ModelConfig
from rpsquest.modelstore import ArtifactMissing, ModelStore, artifact_key
from rpsquest.store.games import utc_now

if TYPE_CHECKING:
    from rpsquest.models.common import TrainedModel

# MLflow reports usage to its vendor unless this is set before it loads.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Importing these parts of MLflow 3.17 warns about MLflow's own internals, which our
# warnings-as-errors test setting would turn into failures; nothing here can act on them.
with warnings.catch_warnings():
    # mlflow.pyfunc infers schemas for its agent types at import time.
    warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType")
    # MLflow's ORM mappers use a loader strategy SQLAlchemy 2.1 deprecates.
    warnings.filterwarnings("ignore", message="The ``noload`` loader strategy is deprecated")
    import mlflow
    import mlflow.pyfunc
    import mlflow.store.model_registry.sqlalchemy_store
    import mlflow.store.tracking.sqlalchemy_store
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import (
        RESOURCE_ALREADY_EXISTS,
        RESOURCE_DOES_NOT_EXIST,
        TEMPORARILY_UNAVAILABLE,
        ErrorCode,
    )

EXPERIMENT = "rps-quest"
REGISTERED_MODELS: dict[str, str] = {family.name: family.registered_model for family in FAMILIES}
CLASS_NAMES = ("rock", "paper", "scissors")
# What an environment needs to load each family's native model, as alternative distributions
# of which the first installed counts; listed because MLflow's inference runs the model in a
# subprocess and takes seconds.
_REQUIREMENTS = {
    "feedforward": (("torch",), ("numpy",)),
    "xgboost": (("xgboost-cpu", "xgboost"), ("scikit-learn",), ("numpy",)),
    "logistic": (("scikit-learn",), ("skops",), ("numpy",)),
}


# MLflow's HTTP client retries a failed request 7 times with exponential backoff (about four
# minutes against a stopped server) and waits up to 120 s for each answer. The Broker already
# retries a failed delivery (§10.3), so our requests need only ride out a blip: 2 retries
# (urllib3 waits 0 s, then 2 s plus up to 1 s of MLflow's jitter) and 10 s for an answer (a
# healthy server answers ours in well under one). A stopped server (connection refused) then
# fails a request in about 3 s, a silent one in about 33 s, both inside promote's 2-minute
# delivery timeout, and the route answers 503. Values set in the environment win.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
# How MLflow shows an outage: connection errors, timeouts and retries exhausted on 5xx answers
# (requests), a tracking database that is down or locked (SQLAlchemy), each usually wrapped in
# a plain MlflowException; or an MlflowException saying TEMPORARILY_UNAVAILABLE.
_OUTAGES = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.RetryError,
    OperationalError,
)


class RegistryUnavailable(Unavailable):
    """MLflow (its tracking server or database) could not be reached: a 503, retried later."""


def _is_outage(error: BaseException) -> bool:
    """Whether MLflow failed for want of its server rather than for what it was asked."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, _OUTAGES) or (
            isinstance(cause, MlflowException)
            and cause.error_code == ErrorCode.Name(TEMPORARILY_UNAVAILABLE)
        ):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn an MLflow outage into RegistryUnavailable; any other MLflow error stays a bug."""
    try:
        yield
    except (MlflowException, *_OUTAGES) as error:
        if not _is_outage(error):
            raise
        raise RegistryUnavailable("MLflow is unreachable; try again.") from error


def registered_model(family: str) -> str:
    """The MLflow registered-model name of a family (§5)."""
    try:
        return REGISTERED_MODELS[family]
    except KeyError:
        raise ValueError(f"unknown family {family!r}") from None


def connect(settings: Settings) -> MlflowClient:
    """A client for the configured tracking and registry store, which MLflow's fluent calls
    then use too."""
    for name, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    uri = settings.mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _artifact_location(settings: Settings) -> str | None:
    """Where a local store keeps artifacts: `var/mlartifacts`, not MLflow's `./mlruns` beside
    whatever the working directory is. A tracking server chooses its own."""
    if settings.mlflow_tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    return (settings.var_dir / "mlartifacts").resolve().as_uri()


@_reachable()
def ensure_experiment(settings: Settings) -> str:
    """The id of the `rps-quest` experiment, created on first use."""
    client = connect(settings)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        try:
            return client.create_experiment(
                EXPERIMENT, artifact_location=_artifact_location(settings)
            )
        except MlflowException as error:
            if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            experiment = client.get_experiment_by_name(EXPERIMENT)  # another process won
            assert experiment is not None
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def _pip_requirements(family: str) -> list[str]:
    """Pinned requirements of a family's native model, as installed here."""
    pins = []
    for alternatives in _REQUIREMENTS[family]:
        for name in alternatives:
            try:
                pins.append(f"{name}=={installed_version(name)}")
                break
            except PackageNotFoundError:
                continue
        else:
            raise RuntimeError(f"{' or '.join(alternatives)} is not installed")
    return pins


def _quiet_pickle_warning(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Saving pytorch model by Pickle")


def _log_native_model(family: str, trained: TrainedModel, name: str) -> int:
    """Log the framework object with its MLflow flavour and register it; the new version."""
    options: dict[str, Any] = {
        "name": "model",
        "registered_model_name": name,
        "pip_requirements": _pip_requirements(family),
    }
    match family:
        case "feedforward":
            import mlflow.pytorch

            # pt2 would need an input example and torch.export (~0.6 s a model); we load only
            # models we logged ourselves, so pickle is safe here and its warning is noise.
            logging.getLogger("mlflow.pytorch").addFilter(_quiet_pickle_warning)
            info = mlflow.pytorch.log_model(
                trained.native, serialization_format="pickle", **options
            )
        case "xgboost":
            import mlflow.xgboost

            info = mlflow.xgboost.log_model(trained.native, **options)
        case "logistic":
            import mlflow.sklearn

            info = mlflow.sklearn.log_model(trained.native, serialization_format="skops", **options)
        case _:
            raise ValueError(f"unknown family {family!r}")
    if info.registered_model_version is None:
        raise RuntimeError(f"MLflow did not register a version of {name}")
    return int(info.registered_model_version)


def _confusion_csv(confusion_matrix: Sequence[Sequence[int]]) -> str:
    """Rows are the user's actual move, columns the predicted one."""
    rows = [[int(count) for count in row] for row in confusion_matrix]
    if len(rows) != len(CLASS_NAMES) or any(len(row) != len(CLASS_NAMES) for row in rows):
        raise ValueError("the confusion matrix must be 3 x 3 (rock, paper, scissors)")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["actual\\predicted", *CLASS_NAMES])
    writer.writerows([name, *row] for name, row in zip(CLASS_NAMES, rows, strict=True))
    return text.getvalue()


@_reachable()
def log_model_run(
    settings: Settings,
    family: str,
    alias: str,
    cycle_id: str,
    config: ModelConfig,
    trained: TrainedModel,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    onnx_bytes: bytes,
    dataset_summary: Mapping[str, Any],
    confusion_matrix: Sequence[Sequence[int]],
) -> tuple[str, int]:
    """Log one training run `{family}-{alias}-{cycle_id}` (§7.4) and register its native model
    as a new version; returns (run_id, version). Aliases stay where they are."""
    name = registered_model(family)
    if config.family != family:
        raise ValueError(f"config {config.config_id} is a {config.family} config, not {family}")
    experiment_id = ensure_experiment(settings)
    client = connect(settings)
    all_params = {
        **config.params,
        **params,
        "config_id": config.config_id,
        "alias": alias,
        "family": family,
        "feature_contract": FEATURE_CONTRACT,
    }
    all_metrics = {**trained.training_metrics(), **metrics}
    tags = {"family": family, "alias": alias, "config_id": config.config_id, "cycle_id": cycle_id}
    run_name = f"{family}-{alias}-{cycle_id}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), 0, 0) for key, value in all_metrics.items()],
            params=[Param(key, _param_text(value)) for key, value in all_params.items()],
            tags=[RunTag(key, value) for key, value in tags.items()],
        )
        with tempfile.TemporaryDirectory(prefix="rps-run-") as folder:
            directory = Path(folder)
            (directory / "model.onnx").write_bytes(onnx_bytes)
            (directory / "confusion_matrix.csv").write_text(_confusion_csv(confusion_matrix))
            (directory / "dataset_summary.json").write_text(
                json.dumps(dataset_summary, indent=1, sort_keys=True, default=str)
            )
            client.log_artifacts(run_id, folder)
        version = _log_native_model(family, trained, name)
    for key in ("config_id", "cycle_id"):
        client.set_model_version_tag(name, str(version), key, tags[key])
    return run_id, version


def _param_text(value: Any) -> str:
    """Params are strings in MLflow; lists and dicts keep their JSON spelling."""
    return value if isinstance(value, str) else json.dumps(value)


def _aliases_of(client: MlflowClient, name: str) -> dict[str, int]:
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return {}
        raise
    return {alias: int(version) for alias, version in model.aliases.items() if alias in ALIASES}


@_reachable()
def current_aliases(settings: Settings) -> dict[str, dict[str, int]]:
    """Which version each of our aliases points to, per family; a family never registered
    has none."""
    client = connect(settings)
    return {family: _aliases_of(client, registered_model(family)) for family in REGISTERED_MODELS}


@_reachable()
def set_aliases(settings: Settings, table: Mapping[str, Mapping[str, int]]) -> None:
    """Point MLflow's native aliases at the given versions, {family: {alias: version}}; aliases
    already right are left alone, so a rerun is harmless."""
    client = connect(settings)
    for family, aliases in table.items():
        name = registered_model(family)
        current = _aliases_of(client, name)
        for alias, version in aliases.items():
            if alias not in ALIASES:
                raise ValueError(f"unknown alias {alias!r}; expected one of {ALIASES}")
            if current.get(alias) != int(version):
                client.set_registered_model_alias(name, alias, str(int(version)))


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """One version in MLflow's registry, with the run and logged model that hold its files."""

    family: str
    version: int
    run_id: str | None
    model_id: str | None  # MLflow 3's logged model: the native model's artifacts


@_reachable()
def registered_versions(settings: Settings) -> list[RegisteredVersion]:
    """Every version of our three registered models, as retention's inventory."""
    client = connect(settings)
    found = []
    for family, name in REGISTERED_MODELS.items():
        token = None
        while True:
            page = client.search_model_versions(f"name = '{name}'", page_token=token)
            found += [
                RegisteredVersion(family, int(v.version), v.run_id or None, v.model_id or None)
                for v in page
            ]
            token = page.token
            if not token:
                break
    return found


@_reachable()
def delete_version(settings: Settings, version: RegisteredVersion) -> None:
    """Delete a version from the registry with its logged model and run, which hold its files
    (train logs one run per version). MLflow only marks those two deleted; `mlflow gc` on the
    tracking server removes their artifacts. The version goes last, so a rerun after a crash
    still finds it and finishes; marking a run or logged model deleted twice is no error."""
    client = connect(settings)
    if version.model_id:
        client.delete_logged_model(version.model_id)
    if version.run_id:
        client.delete_run(version.run_id)
    try:
        client.delete_model_version(registered_model(version.family), str(version.version))
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise


def _serving_entry(row: Mapping[str, Any]) -> ModelEntry:
    """One model's manifest entry, checked: its artifact must be where its hash says."""
    probe = row["probe"]
    if isinstance(probe, str):  # model_versions stores the probe as JSON text
        probe = json.loads(probe)
    family, alias = str(row["family"]), str(row["alias"])
    entry = ModelEntry.from_json(
        {
            "version": int(row["version"]),
            "config_id": str(row["config_id"]),
            "assignment_id": int(row["assignment_id"]),
            "artifact": str(row["artifact"]),
            "sha256": str(row["sha256"]),
            "probe": [float(p) for p in probe],
            "feature_contract": str(row["feature_contract"]),
        },
        f"models.{family}.{alias}",
    )
    expected = artifact_key(family, entry.config_id, entry.sha256)
    if entry.artifact != expected:
        raise ValueError(f"artifact {entry.artifact} should be {expected}")
    return entry


def serving_models(alias_table: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, ModelEntry]]:
    """The manifest's `models` section from alias rows, families and aliases in canonical order."""
    entries: dict[tuple[str, str], ModelEntry] = {}
    for row in alias_table:
        family, alias = str(row["family"]), str(row["alias"])
        registered_model(family)
        if alias not in ALIASES:
            raise ValueError(f"unknown alias {alias!r}; expected one of {ALIASES}")
        if (family, alias) in entries:
            raise ValueError(f"{family} {alias} appears twice in the alias table")
        entries[family, alias] = _serving_entry(row)
    return {
        family: {alias: entries[family, alias] for alias in ALIASES if (family, alias) in entries}
        for family in REGISTERED_MODELS
    }


def publish(
    settings: Settings,
    store: ModelStore,
    alias_table: Iterable[Mapping[str, Any]],
    previous_manifest: Manifest | None,
    ledger_ids: Sequence[int] = (),
) -> Manifest:
    """Roll the alias table forward (§9.3 4b-4c): set MLflow's aliases, then write the manifest
    if its models changed. Rows carry family, alias, version, config_id, assignment_id,
    artifact, sha256, probe and feature_contract (the version's, as train recorded it). Safe to
    rerun after a crash: the same table gives the manifest already in the store, not a new
    one."""
    models = serving_models(alias_table)
    for family_models in models.values():
        for entry in family_models.values():
            if not store.exists(entry.artifact):
                raise ArtifactMissing(store.url, entry.artifact)
    set_aliases(
        settings,
        {
            family: {alias: entry.version for alias, entry in family_models.items()}
            for family, family_models in models.items()
        },
    )
    current = read_manifest(store)
    if current is not None and current.models == models:
        return current
    versions = [m.manifest_version for m in (previous_manifest, current) if m is not None]
    manifest = Manifest(
        manifest_version=max(versions, default=0) + 1,
        feature_contract=FEATURE_CONTRACT,
        created_at=utc_now(),
        ledger_ids=tuple(int(ledger_id) for ledger_id in ledger_ids),
        models=models,
    )
    store.write_manifest(manifest.to_json())
    return manifest
