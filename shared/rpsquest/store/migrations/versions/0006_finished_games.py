"""Games are found by when they finished: the leaderboard and the bots' recent records read
only the games finished in their period.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index("ix_games_finished", "games", ["finished_at"])
