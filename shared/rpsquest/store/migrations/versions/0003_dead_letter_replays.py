"""Dead letters remember when an operator last replayed them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("replayed_at", sa.String(24)))
