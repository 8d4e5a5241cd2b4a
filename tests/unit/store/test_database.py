import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from rpsquest.store.database import (
    SCHEMA_HEAD,
    VERSION_TABLE,
    migrate,
    open_engine,
    write_transaction,
)
from rpsquest.store.schema import metadata, rounds
from tests.factories import round_row
from tests.helpers import concurrently


def test_migrations_create_every_table_once(database_url):
    engine = open_engine(database_url)
    migrate(engine)
    migrate(engine)  # a second start finds the schema current and does nothing

    tables = set(inspect(engine).get_table_names())
    assert {"games", "rounds", "predictions", "model_versions", "promotion_ledger", "kv"} <= tables
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM schema_version")).all()
    engine.dispose()
    assert versions == [(SCHEMA_HEAD,)]


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'x.db'}")

    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()

    engine.dispose()
    assert (mode, keys, busy) == ("wal", 1, 5000)


def test_a_round_number_is_stored_once_per_game(database_url, stored_game):
    engine, game_id = stored_game
    row = round_row(game_id, 1)
    with write_transaction(engine) as connection:
        connection.execute(rounds.insert().values(row))

    with pytest.raises(IntegrityError), write_transaction(engine) as connection:
        connection.execute(rounds.insert().values(row))

    with engine.connect() as connection:
        assert len(connection.execute(select(rounds)).all()) == 1


def test_concurrent_migrations_leave_one_schema(database_url):
    engines = [open_engine(database_url) for _ in range(3)]

    _, errors = concurrently(migrate, engines)

    assert errors == []
    tables = inspect(engines[0]).get_table_names()
    for engine in engines:
        engine.dispose()
    assert "games" in tables


def test_upgrading_keeps_every_stored_game(database_url):
    from alembic import command

    from rpsquest.store.database import _alembic_config

    engine = open_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
        connection.execute(
            text(
                "INSERT INTO games (id, token_sha256, created_at, session_id, player_name, policy,"
                " family, difficulty, source, is_test, gambit, gambit_moves, rounds_played,"
                " user_score, bot_score, fallback_rounds, mixed_assignment) VALUES ('old', 'x',"
                " '2026-01-01T00:00:00.000Z', 's', 'Player', 'ace', 'legacy', 'normal', 'human',"
                " false, 'toolbox', 'rock,rock,rock', 0, 0, 0, 0, false)"
            )
        )

    migrate(engine)

    with engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM games")).scalars().all()
        version = connection.execute(text("SELECT version_num FROM schema_version")).scalar()
    engine.dispose()
    assert (ids, version) == (["old"], SCHEMA_HEAD)


def test_the_migrated_database_is_what_schema_py_describes(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    options = {"version_table": VERSION_TABLE, "compare_server_default": True}
    with database.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, metadata)

    assert differences == []  # tables, columns, types, nullability, defaults, keys, indexes


def test_the_schema_head_constant_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "rpsquest.store:migrations")
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
