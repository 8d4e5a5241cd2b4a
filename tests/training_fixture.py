"""One real training cycle, shared by the tests that need trained models (registry, serving)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpsquest.config import Settings
from rpsquest.models import ModelConfigs, parse_configs
from tests.conftest import REPO

# The repo's configs and starting assignment with smaller capacities: twelve models in seconds.
SMALLER = {
    "feedforward": {"hidden": [16, 8], "max_epochs": 5, "patience": 2},
    "xgboost": {"n_estimators": 20},
    "logistic": {},
}


@dataclass(frozen=True)
class Cycle:
    """A finished training cycle: its project folder, id, alias-table rows and MLflow runs."""

    project: Path
    cycle_id: str
    rows: list[dict[str, Any]]
    runs: dict[tuple[str, str], str]
    parity: dict[tuple[str, str], float]


def _smaller_document() -> dict[str, Any]:
    document = json.loads((REPO / "configs" / "model_configs.json").read_text())
    for config in document["configs"].values():
        config.update(SMALLER[config["family"]])
    return document


def smaller_configs() -> ModelConfigs:
    return parse_configs(_smaller_document())


def project_env(project: Path) -> dict[str, str]:
    return {
        "RPS_PROJECT_DIR": str(project),
        "RPS_TRAIN_BOOTSTRAP_ROUNDS": "1500",
        "RPS_TRAIN_ARENA_SESSIONS": "1",  # each model's strength check in about a second
    }


def project_settings(project: Path) -> Settings:
    return Settings.from_env(project_env(project))


def train_cycle(project: Path) -> Cycle:
    """One real training cycle on a young store: bootstrap data, twelve models with the §7.2
    starting configs (smaller), each exported, parity-checked, stored and registered."""
    from sqlalchemy import select

    from rpsquest.modelstore import open_store
    from rpsquest.store.database import migrate, open_engine
    from rpsquest.store.schema import model_versions
    from rpsquest.training.cycle import run_cycle

    settings = project_settings(project)
    database = open_engine(settings.database_url)
    migrate(database)
    result = run_cycle(
        settings, database, open_store(settings.model_store), smaller_configs(), force=True
    )
    assert result is not None
    assert result.status == "success"
    with database.connect() as connection:
        stored = {
            (row["family"], row["version"]): row
            for row in connection.execute(select(model_versions)).mappings()
        }
    database.dispose()
    rows, runs, parity = [], {}, {}
    for family, aliases in result.models.items():
        for alias, entry in aliases.items():
            version = stored[family, entry["version"]]
            runs[family, alias] = entry["run_id"]
            parity[family, alias] = json.loads(version["metrics"])["onnx_max_abs_diff"]
            rows.append(
                {
                    "family": family,
                    "alias": alias,
                    "version": entry["version"],
                    "config_id": entry["config_id"],
                    "assignment_id": len(rows) + 1,
                    "artifact": entry["artifact"],
                    "sha256": entry["sha256"],
                    "probe": version["probe"],
                    "feature_contract": version["feature_contract"],
                }
            )
    return Cycle(project, result.cycle_id, rows, runs, parity)


def publish_copy(cycle: Cycle, project: Path) -> dict[str, Any]:
    """Copy the trained project's var/ (MLflow, models) under `project` and publish the §7.2
    starting assignment there; returns the manifest as the store holds it (JSON), for tests to
    alter and write back."""
    import shutil

    from sqlalchemy import create_engine, text

    from rpsquest.modelstore import open_store
    from rpsquest.registry import publish

    shutil.copytree(cycle.project / "var", project / "var", dirs_exist_ok=True)
    # The copied MLflow store names the original's artifact folder: point new runs at the copy's.
    engine = create_engine(f"sqlite:///{project / 'var' / 'mlflow.db'}")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE experiments SET artifact_location = :new WHERE artifact_location = :old"),
            {
                "old": (cycle.project / "var" / "mlartifacts").resolve().as_uri(),
                "new": (project / "var" / "mlartifacts").resolve().as_uri(),
            },
        )
    engine.dispose()
    settings = project_settings(project)
    store = open_store(settings.model_store)
    return publish(settings, store, cycle.rows, previous_manifest=None).to_json()


def swapped(rows: list[dict[str, Any]], family: str) -> list[dict[str, Any]]:
    """The alias table after a promotion in `family`: Production and B trade lineages."""
    trade = {"Production": "B", "B": "Production"}
    by_alias = {(r["family"], r["alias"]): r for r in rows}
    return [
        {**by_alias[r["family"], trade[r["alias"]]], "alias": r["alias"]}
        if r["family"] == family and r["alias"] in trade
        else r
        for r in rows
    ]


def smaller_configs_file(directory: Path) -> str:
    """The smaller configs written out, for functions started as servers."""
    path = directory / "smaller_configs.json"
    path.write_text(json.dumps(_smaller_document()))
    return str(path)
