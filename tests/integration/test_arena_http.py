"""rps-arena over HTTP: zoo players play real start_game and play servers, as test games."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from rpsquest.arena.seeds import evaluation_seed
from rpsquest.arena.tournament import run_tournament, session_id
from rpsquest.arena.venues import OverHttp
from rpsquest.store.schema import games


@pytest.mark.slow
def test_arena_sessions_are_played_over_http_as_test_games(platform):
    venue = OverHttp(platform.start_game.url)

    tournament = run_tournament(venue, ["brian"], ["beat-last"], 2)

    engine = create_engine(platform.database_url)
    with engine.connect() as connection:
        stored = connection.execute(
            select(games.c.session_id, games.c.is_test, games.c.winner).where(
                games.c.session_id.like("arena.%")
            )
        ).all()
    engine.dispose()
    cell = tournament.cells["brian", "beat-last"]
    assert cell.games.games == len(stored) == 20
    assert {row.session_id for row in stored} == {
        f"{session_id('beat-last', evaluation_seed(s))}.brian.{venue.run}" for s in (0, 1)
    }
    assert all(row.is_test for row in stored)
    assert cell.games.wins == sum(row.winner == "bot" for row in stored)
