"""Persistence: every SQL statement (SQLAlchemy Core + Alembic); imports no domain package."""
