"""Gameplay tables: games, rounds (with their feature vectors) and predictions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_TIMESTAMP = sa.String(24)


def upgrade() -> None:
    op.create_table(
        "games",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("finished_at", _TIMESTAMP),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("player_name", sa.String(40), nullable=False),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("difficulty", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("is_test", sa.Boolean, nullable=False),
        sa.Column("alias", sa.String(16)),
        sa.Column("assignment_id", sa.Integer),
        sa.Column("gambit", sa.String(32), nullable=False),
        sa.Column("gambit_moves", sa.String(32), nullable=False),
        sa.Column("rounds_played", sa.Integer, nullable=False),
        sa.Column("user_score", sa.Float, nullable=False),
        sa.Column("bot_score", sa.Float, nullable=False),
        sa.Column("winner", sa.String(8)),
        sa.Column("fallback_rounds", sa.Integer, nullable=False),
        sa.Column("mixed_assignment", sa.Boolean, nullable=False),
    )
    op.create_index("ix_games_created_at", "games", ["created_at"])
    op.create_index(
        "ix_games_evidence", "games", ["family", "alias", "assignment_id", "finished_at"]
    )
    op.create_table(
        "rounds",
        sa.Column("game_id", sa.String(64), nullable=False),
        sa.Column("round_no", sa.Integer, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("user_move", sa.String(8), nullable=False),
        sa.Column("bot_move", sa.String(8), nullable=False),
        sa.Column("result", sa.String(4), nullable=False),
        sa.Column("user_delta", sa.Float, nullable=False),
        sa.Column("bot_delta", sa.Float, nullable=False),
        sa.Column("user_score", sa.Float, nullable=False),
        sa.Column("bot_score", sa.Float, nullable=False),
        sa.Column("rock_pts", sa.Float, nullable=False),
        sa.Column("paper_pts", sa.Float, nullable=False),
        sa.Column("scissors_pts", sa.Float, nullable=False),
        sa.Column("phase", sa.String(8), nullable=False),
        sa.Column("alias", sa.String(16)),
        sa.Column("model_version", sa.Integer),
        sa.Column("assignment_id", sa.Integer),
        sa.Column("features", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("game_id", "round_no"),
        sa.ForeignKeyConstraint(["game_id"], ["games.id"], ondelete="CASCADE"),
    )
    op.create_table(
        "predictions",
        sa.Column("game_id", sa.String(64), nullable=False),
        sa.Column("round_no", sa.Integer, nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("assignment_id", sa.Integer),
        sa.Column("p_rock", sa.Float, nullable=False),
        sa.Column("p_paper", sa.Float, nullable=False),
        sa.Column("p_scissors", sa.Float, nullable=False),
        sa.Column("predicted", sa.String(8), nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("game_id", "round_no", "alias"),
        sa.ForeignKeyConstraint(
            ["game_id", "round_no"], ["rounds.game_id", "rounds.round_no"], ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_predictions_assignment", "predictions", ["family", "alias", "assignment_id"]
    )
