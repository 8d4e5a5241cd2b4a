"""Games are found by session: the bot remembers a returning player's earlier games.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_index("ix_games_session", "games", ["session_id", "created_at"])
