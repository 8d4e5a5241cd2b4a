"""Pipeline tables: model versions, alias assignments, promotion ledger, training cycles,
processed events, dead letters, leases and small key-value state.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_TIMESTAMP = sa.String(24)


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("config_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("cycle_id", sa.String(64), nullable=False),
        sa.Column("artifact", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("probe", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("family", "version"),
    )
    op.create_index(
        "ix_model_versions_config", "model_versions", ["family", "config_id", "version"]
    )
    op.create_table(
        "alias_assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(16), nullable=False),
        sa.Column("config_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("ended_at", _TIMESTAMP),
    )
    op.create_index("ix_alias_assignments_state", "alias_assignments", ["family", "alias", "state"])
    op.create_table(
        "promotion_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(24), nullable=False),
        sa.Column("reorder_applied", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("before", sa.Text, nullable=False),
        sa.Column("after", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("trigger_type", sa.String(64), nullable=False),
        sa.Column("trigger_event_id", sa.String(255)),
    )
    op.create_index("ix_promotion_ledger_family", "promotion_ledger", ["family", "created_at"])
    op.create_index("ix_promotion_ledger_created_at", "promotion_ledger", ["created_at"])
    op.create_table(
        "training_cycles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("trigger_event_id", sa.String(255)),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("finished_at", _TIMESTAMP),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cutoff", _TIMESTAMP),
        sa.Column("live_rounds", sa.Integer),
        sa.Column("summary", sa.Text),
    )
    op.create_index("ix_training_cycles_status", "training_cycles", ["status", "started_at"])
    op.create_table(
        "processed_events",
        sa.Column("function", sa.String(16), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("lease_until", _TIMESTAMP),
        sa.Column("reply", sa.Text),
        sa.Column("received_at", _TIMESTAMP, nullable=False),
        sa.Column("finished_at", _TIMESTAMP),
        sa.PrimaryKeyConstraint("function", "source", "id"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", _TIMESTAMP, nullable=False),
        sa.Column("event_id", sa.String(255)),
        sa.Column("type", sa.String(128)),
        sa.Column("source", sa.String(255)),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
    )
    op.create_table(
        "kv",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
