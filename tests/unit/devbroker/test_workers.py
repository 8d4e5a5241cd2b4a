"""The bounded pool: never more than `size` calls at once, the rest queued in order, all run."""

import logging
import threading

import pytest

from rpsquest.devbroker.workers import Workers
from tests.helpers import wait_for


class Gate:
    """Calls that hold their worker until released, counting how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.finished: list[int] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def call(self, number: int):
        def run() -> None:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            self.started.release()
            self.release.wait(5)
            with self.lock:
                self.running -= 1
                self.finished.append(number)

        return run


def test_no_more_than_size_calls_run_at_once_and_every_call_runs():
    workers, gate = Workers(3), Gate()

    for number in range(10):
        workers.submit(gate.call(number))

    assert all(gate.started.acquire(timeout=5) for _ in range(3))
    assert not gate.started.acquire(timeout=0.2)  # the fourth waits for a free worker
    assert (workers.pending(), workers.threads()) == (10, 3)
    gate.release.set()
    assert workers.wait_idle(5)
    assert gate.most == 3
    assert sorted(gate.finished) == list(range(10))
    assert (workers.pending(), workers.threads()) == (0, 3)


def test_queued_calls_start_in_the_order_they_came():
    workers, started = Workers(1), []

    for number in range(5):
        workers.submit(lambda number=number: started.append(number))

    assert workers.wait_idle(5)
    assert started == [0, 1, 2, 3, 4]


def test_wait_idle_waits_for_calls_submitted_by_running_calls():
    workers, done = Workers(2), []

    def reply() -> None:
        threading.Event().wait(0.05)
        done.append("reply")

    workers.submit(lambda: workers.submit(reply))

    assert workers.wait_idle(5)
    assert done == ["reply"]


def test_wait_idle_gives_up_at_its_timeout():
    workers, release = Workers(1), threading.Event()
    workers.submit(lambda: release.wait(5))

    try:
        assert not workers.wait_idle(0.05)
    finally:
        release.set()
    assert workers.wait_idle(5)


def test_a_failing_call_is_logged_and_its_worker_goes_on(caplog):
    workers, done = Workers(1), []

    def fail() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="rpsquest.devbroker.workers"):
        workers.submit(fail)
        workers.submit(lambda: done.append(1))
        assert workers.wait_idle(5)

    assert done == [1] and workers.pending() == 0
    assert "a queued call failed" in caplog.text and "boom" in caplog.text


def test_idle_workers_end_and_come_back_when_needed():
    workers, done = Workers(2, idle=0.05), []
    workers.submit(lambda: done.append(1))
    assert workers.wait_idle(5)

    wait_for(lambda: workers.threads() == 0, 5, "the idle worker to end", every=0.02)
    workers.submit(lambda: done.append(2))

    assert workers.wait_idle(5)
    assert done == [1, 2]


def test_a_pool_needs_a_worker():
    with pytest.raises(ValueError, match="at least one worker"):
        Workers(0)
