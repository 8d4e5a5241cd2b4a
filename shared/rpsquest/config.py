"""Settings read once from the environment; everyone else receives a `Settings` (SPEC §3.4)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"Config {name}={raw!r} is not an integer.") from None


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ValueError(f"Config {name}={value} must be at least 1.")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"Config {name}={raw!r} is not a number.") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "true" if default else "false")
    if raw not in ("true", "false"):
        raise ValueError(f"Config {name}={raw!r} is not true or false.")
    return raw == "true"


@dataclass(frozen=True, slots=True)
class Settings:
    project_dir: Path
    database_url: str
    model_store: str
    mlflow_tracking_uri: str
    sink_url: str
    play_url: str
    play_internal_url: str
    start_game_url: str
    admin_token: str | None
    game_secret: str
    adaptive_policy: bool
    adaptive_sessions: int
    cors_origins: tuple[str, ...]
    promotion_min_games: int
    promotion_threshold: float
    promotion_min_predictions: int
    train_max_rounds: int
    train_min_rounds: int
    train_min_new_rounds: int
    train_budget_seconds: int
    train_legacy_stride: int
    train_bootstrap_rounds: int
    train_arena_sessions: int  # per zoo type in each new model's strength check; 0: none
    human_data_dir: Path | None  # None: the corpus packaged in rpsquest.training
    manifest_check_seconds: float
    read_cache_seconds: float
    telemetry_games: int
    retention_versions: int  # newest versions of each lineage retention keeps, referenced or not
    model_configs: Path

    @property
    def var_dir(self) -> Path:
        return self.project_dir / "var"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Self:
        project = Path(env.get("RPS_PROJECT_DIR", os.getcwd())).resolve()
        var = project / "var"
        origins = env.get("RPS_CORS_ORIGINS", "")
        return cls(
            project_dir=project,
            database_url=env.get("RPS_DATABASE_URL", f"sqlite:///{var / 'rps.db'}"),
            model_store=env.get("RPS_MODEL_STORE", str(var / "models")),
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI", f"sqlite:///{var / 'mlflow.db'}"),
            sink_url=env.get("K_SINK", "http://127.0.0.1:8080/"),
            play_url=env.get("RPS_PLAY_URL", "http://127.0.0.1:8082/"),
            # internal callers (telemetry, with the admin bearer) stay on the cluster network
            play_internal_url=env.get(
                "RPS_PLAY_INTERNAL_URL", env.get("RPS_PLAY_URL", "http://127.0.0.1:8082/")
            ),
            start_game_url=env.get("RPS_START_GAME_URL", "http://127.0.0.1:8081/"),
            admin_token=env.get("RPS_ADMIN_TOKEN") or None,
            game_secret=env.get("RPS_GAME_SECRET", "rps-quest-dev-secret"),
            # the kill switch of the adaptive ML policy: false plays SPEC §5.1's EV alone
            adaptive_policy=_bool(env, "RPS_ADAPTIVE_POLICY", True),
            # sessions whose adaptive state play keeps; a 10-game one holds about 350 KiB
            adaptive_sessions=_positive_int(env, "RPS_ADAPTIVE_SESSIONS", 1024),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            promotion_min_games=_int(env, "RPS_PROMOTION_MIN_GAMES", 30),
            promotion_threshold=_float(env, "RPS_PROMOTION_THRESHOLD", 0.95),
            promotion_min_predictions=_int(env, "RPS_PROMOTION_MIN_PREDICTIONS", 300),
            train_max_rounds=_int(env, "RPS_TRAIN_MAX_ROUNDS", 20000),
            train_min_rounds=_int(env, "RPS_TRAIN_MIN_ROUNDS", 500),
            train_min_new_rounds=_int(env, "RPS_TRAIN_MIN_NEW_ROUNDS", 200),
            train_budget_seconds=_int(env, "RPS_TRAIN_BUDGET_SECONDS", 480),
            train_legacy_stride=_int(env, "RPS_TRAIN_LEGACY_STRIDE", 5),
            train_bootstrap_rounds=_int(env, "RPS_TRAIN_BOOTSTRAP_ROUNDS", 10000),
            train_arena_sessions=_int(env, "RPS_TRAIN_ARENA_SESSIONS", 2),
            # An override folder holds brockbank_vul_2024_rounds.csv (or .csv.gz); unset, or
            # empty, reads the copy inside the package, which every image has.
            human_data_dir=(
                project / env["RPS_HUMAN_DATA_DIR"] if env.get("RPS_HUMAN_DATA_DIR") else None
            ),
            manifest_check_seconds=_float(env, "RPS_MANIFEST_CHECK_SECONDS", 5),
            read_cache_seconds=_float(env, "RPS_READ_CACHE_SECONDS", 5),
            telemetry_games=_int(env, "RPS_TELEMETRY_GAMES", 8),
            # a lineage's newest version is what promote's refresh moves an alias to: keep it
            retention_versions=_positive_int(env, "RPS_RETENTION_VERSIONS", 3),
            model_configs=project / env.get("RPS_MODEL_CONFIGS", "configs/model_configs.json"),
        )
