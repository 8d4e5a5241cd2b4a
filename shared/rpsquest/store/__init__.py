"""Persistence: the gameplay database (SQLAlchemy Core + Alembic)."""
