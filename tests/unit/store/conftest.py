import pytest

from rpsquest.store.database import migrate, open_engine, write_transaction
from rpsquest.store.games import GameRecord, insert_game


@pytest.fixture
def stored_game(database_url):
    """A migrated database holding one fresh game."""
    engine = open_engine(database_url)
    migrate(engine)
    game = GameRecord(
        id="g-1",
        token_sha256="0" * 64,
        created_at="2026-01-01T00:00:00.000Z",
        session_id="s",
        player_name="Player",
        policy="ace",
        family="legacy",
        difficulty="normal",
        source="human",
        is_test=False,
        alias=None,
        assignment_id=None,
        gambit="toolbox",
        gambit_moves="rock,rock,rock",
    )
    with write_transaction(engine) as connection:
        insert_game(connection, game)
    yield engine, game.id
    engine.dispose()
