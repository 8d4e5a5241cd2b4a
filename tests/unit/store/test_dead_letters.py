"""Dead letters on each backend: stored as they came, listed newest first, replays noted."""

from rpsquest.store.database import read_connection, write_transaction
from rpsquest.store.dead_letters import (
    find_dead_letter,
    mark_replayed,
    recent_dead_letters,
    record_dead_letter,
)

T0, T1 = "2026-01-01T00:00:00.000Z", "2026-01-01T00:05:00.000Z"


def test_dead_letters_come_back_as_they_were_stored_newest_first(database):
    with write_transaction(database) as connection:
        first = record_dead_letter(connection, T0, "e-1", "a.type", "/src", {"n": 1})
        second = record_dead_letter(connection, T0, "e-2", "b.type", "/src", {"n": [2]})

    with read_connection(database) as connection:
        letters = recent_dead_letters(connection, 20)
        newest = recent_dead_letters(connection, 1)

    assert [letter.id for letter in letters] == [second, first]
    assert [letter.id for letter in newest] == [second]
    assert (letters[1].event_id, letters[1].type, letters[1].source) == ("e-1", "a.type", "/src")
    assert letters[0].data == {"n": [2]}
    assert letters[0].replayed_at is None


def test_a_replay_is_noted_on_its_row_only(database):
    with write_transaction(database) as connection:
        replayed = record_dead_letter(connection, T0, "e-1", "a.type", "/src", {})
        other = record_dead_letter(connection, T0, "e-2", "a.type", "/src", {})
        mark_replayed(connection, replayed, T1)

    with read_connection(database) as connection:
        assert find_dead_letter(connection, replayed).replayed_at == T1
        assert find_dead_letter(connection, other).replayed_at is None
        assert find_dead_letter(connection, other + 1) is None
