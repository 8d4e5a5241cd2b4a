"""Games are found by session: the bot remembers a returning player's earlier games.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_index("ix_games_session", "games", ["session_id", "created_at"])
