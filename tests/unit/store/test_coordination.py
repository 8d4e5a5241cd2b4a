import time

import pytest

from rpsquest.errors import Unavailable
from rpsquest.store.coordination import (
    acquire_lease,
    claim_event,
    finish_event,
    forget_event,
    release_lease,
)
from rpsquest.store.database import migrate, open_engine
from tests.faults import ThrowawayPostgres


def _database(url):
    engine = open_engine(url)
    migrate(engine)
    return engine


def test_a_lease_has_one_holder_until_it_expires_or_is_released(database_url):
    engine = _database(database_url)

    first = acquire_lease(engine, "train", "a", 60)
    second = acquire_lease(engine, "train", "b", 60)
    release_lease(engine, "train", "a")
    third = acquire_lease(engine, "train", "b", 0.05)
    time.sleep(0.1)
    expired = acquire_lease(engine, "train", "c", 60)
    engine.dispose()

    assert (first, second, third, expired) == (True, False, True, True)


def test_an_event_is_processed_once_and_duplicates_get_the_stored_reply(database_url):
    engine = _database(database_url)

    first = claim_event(engine, "train", "/src", "e1", "t", 60)
    meanwhile = claim_event(engine, "train", "/src", "e1", "t", 60)
    finish_event(engine, "train", "/src", "e1", '{"reply": 1}')
    later = claim_event(engine, "train", "/src", "e1", "t", 60)
    other_function = claim_event(engine, "promote", "/src", "e1", "t", 60)
    engine.dispose()

    assert [c.state for c in (first, meanwhile, later, other_function)] == [
        "new",
        "busy",
        "done",
        "new",
    ]
    assert later.reply == '{"reply": 1}'


def test_a_failed_or_abandoned_delivery_can_be_retried(database_url):
    engine = _database(database_url)

    claim_event(engine, "train", "/src", "e1", "t", 60)
    forget_event(engine, "train", "/src", "e1")
    retried = claim_event(engine, "train", "/src", "e1", "t", 0.05)
    time.sleep(0.1)
    after_crash = claim_event(engine, "train", "/src", "e1", "t", 60)
    engine.dispose()

    assert (retried.state, after_crash.state) == ("new", "new")


@pytest.mark.postgres
@pytest.mark.slow
def test_releases_that_meet_an_outage_are_settled_before_the_next_claim():
    """A delivery that failed while the database was down leaves no lease or record behind
    once it is back: the retry is processed at once, not after the lease runs out."""
    with ThrowawayPostgres() as server:
        engine = _database(server.url)
        acquire_lease(engine, "train", "cycle-1", 900)
        claim_event(engine, "train", "/src", "e1", "t", 900)
        server.stop("immediate")
        with pytest.raises(Unavailable):
            release_lease(engine, "train", "cycle-1")
        with pytest.raises(Unavailable):
            forget_event(engine, "train", "/src", "e1")
        server.start()

        retried = claim_event(engine, "train", "/src", "e1", "t", 900)
        taken = acquire_lease(engine, "train", "cycle-2", 900)
        engine.dispose()

    assert (retried.state, taken) == ("new", True)
