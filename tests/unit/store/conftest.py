import pytest

from rpsquest.store.database import migrate, open_engine, write_transaction
from rpsquest.store.games import GameRecord, insert_game
from tests.factories import game_row


@pytest.fixture
def stored_game(database_url):
    """A migrated database holding one fresh game."""
    engine = open_engine(database_url)
    migrate(engine)
    game = GameRecord(**game_row("g-1"))
    with write_transaction(engine) as connection:
        insert_game(connection, game)
    yield engine, game.id
    engine.dispose()
