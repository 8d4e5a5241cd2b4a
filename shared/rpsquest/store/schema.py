"""Table definitions for SQLAlchemy Core; the migrations create them (SPEC §3.5)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

_TIMESTAMP = String(24)  # UTC ISO-8601 with milliseconds and Z: sorts as text on every backend

games = Table(
    "games",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("token_sha256", String(64), nullable=False),
    Column("created_at", _TIMESTAMP, nullable=False),
    Column("finished_at", _TIMESTAMP),
    Column("session_id", String(64), nullable=False),
    Column("player_name", String(40), nullable=False),
    Column("policy", String(16), nullable=False),
    Column("family", String(16), nullable=False),
    Column("difficulty", String(8), nullable=False),
    Column("source", String(16), nullable=False),
    Column("is_test", Boolean, nullable=False),
    Column("alias", String(16)),
    Column("assignment_id", Integer),
    Column("gambit", String(32), nullable=False),
    Column("gambit_moves", String(32), nullable=False),
    Column("rounds_played", Integer, nullable=False),
    Column("user_score", Float, nullable=False),
    Column("bot_score", Float, nullable=False),
    Column("winner", String(8)),
    Column("fallback_rounds", Integer, nullable=False),
    Column("mixed_assignment", Boolean, nullable=False),
    Index("ix_games_created_at", "created_at"),
    Index("ix_games_evidence", "family", "alias", "assignment_id", "finished_at"),
    Index("ix_games_session", "session_id", "created_at"),
    Index("ix_games_finished", "finished_at"),
)

rounds = Table(
    "rounds",
    metadata,
    Column("game_id", String(64), nullable=False),
    Column("round_no", Integer, nullable=False),
    Column("created_at", _TIMESTAMP, nullable=False),
    Column("user_move", String(8), nullable=False),
    Column("bot_move", String(8), nullable=False),
    Column("result", String(4), nullable=False),
    Column("user_delta", Float, nullable=False),
    Column("bot_delta", Float, nullable=False),
    Column("user_score", Float, nullable=False),
    Column("bot_score", Float, nullable=False),
    Column("rock_pts", Float, nullable=False),
    Column("paper_pts", Float, nullable=False),
    Column("scissors_pts", Float, nullable=False),
    Column("phase", String(8), nullable=False),
    Column("alias", String(16)),
    Column("model_version", Integer),
    Column("assignment_id", Integer),
    Column("features", Text, nullable=False),
    PrimaryKeyConstraint("game_id", "round_no"),
    ForeignKeyConstraint(["game_id"], ["games.id"], ondelete="CASCADE"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("game_id", String(64), nullable=False),
    Column("round_no", Integer, nullable=False),
    Column("family", String(16), nullable=False),
    Column("alias", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("assignment_id", Integer),
    Column("p_rock", Float, nullable=False),
    Column("p_paper", Float, nullable=False),
    Column("p_scissors", Float, nullable=False),
    Column("predicted", String(8), nullable=False),
    Column("correct", Boolean, nullable=False),
    PrimaryKeyConstraint("game_id", "round_no", "alias"),
    ForeignKeyConstraint(
        ["game_id", "round_no"], ["rounds.game_id", "rounds.round_no"], ondelete="CASCADE"
    ),
    Index("ix_predictions_assignment", "family", "alias", "assignment_id"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("family", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("config_id", String(32), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("cycle_id", String(64), nullable=False),
    Column("artifact", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("probe", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("created_at", _TIMESTAMP, nullable=False),
    # Train names its contract; the default is what every version from before 0004 was.
    Column("feature_contract", String(16), nullable=False, server_default="rps50-v2"),
    PrimaryKeyConstraint("family", "version"),
    Index("ix_model_versions_config", "family", "config_id", "version"),
)

alias_assignments = Table(
    "alias_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("family", String(16), nullable=False),
    Column("alias", String(16), nullable=False),
    Column("config_id", String(32), nullable=False),
    Column("version", Integer),
    Column("reason", String(16), nullable=False),
    Column("state", String(8), nullable=False),
    Column("started_at", _TIMESTAMP, nullable=False),
    Column("ended_at", _TIMESTAMP),
    Index("ix_alias_assignments_state", "family", "alias", "state"),
)

promotion_ledger = Table(
    "promotion_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", _TIMESTAMP, nullable=False),
    Column("family", String(16), nullable=False),
    Column("decision", String(24), nullable=False),
    Column("reorder_applied", Boolean, nullable=False),
    Column("state", String(8), nullable=False),
    Column("inputs", Text, nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("trigger_type", String(64), nullable=False),
    Column("trigger_event_id", String(255)),
    Index("ix_promotion_ledger_family", "family", "created_at"),
    Index("ix_promotion_ledger_created_at", "created_at"),
)

training_cycles = Table(
    "training_cycles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("trigger_event_id", String(255)),
    Column("started_at", _TIMESTAMP, nullable=False),
    Column("finished_at", _TIMESTAMP),
    Column("status", String(16), nullable=False),
    Column("cutoff", _TIMESTAMP),
    Column("live_rounds", Integer),
    Column("summary", Text),
    Index("ix_training_cycles_status", "status", "started_at"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("function", String(16), nullable=False),
    Column("source", String(255), nullable=False),
    Column("id", String(255), nullable=False),
    Column("type", String(128), nullable=False),
    Column("state", String(12), nullable=False),
    Column("lease_until", _TIMESTAMP),
    Column("reply", Text),
    Column("received_at", _TIMESTAMP, nullable=False),
    Column("finished_at", _TIMESTAMP),
    PrimaryKeyConstraint("function", "source", "id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", _TIMESTAMP, nullable=False),
    Column("event_id", String(255)),
    Column("type", String(128)),
    Column("source", String(255)),
    Column("payload", Text, nullable=False),
    Column("replayed_at", _TIMESTAMP),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", _TIMESTAMP, nullable=False),
)

kv = Table(
    "kv",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
