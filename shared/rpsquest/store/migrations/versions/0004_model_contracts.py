"""Each model version records the feature contract it was trained on; the versions trained
before the column existed were all `rps50-v2`.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column(
        "model_versions",
        sa.Column("feature_contract", sa.String(16), nullable=False, server_default="rps50-v2"),
    )
