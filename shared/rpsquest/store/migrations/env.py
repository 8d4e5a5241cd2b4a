"""Alembic environment: always run programmatically on a connection handed in by `migrate`."""

from alembic import context

from rpsquest.store.database import VERSION_TABLE
from rpsquest.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
