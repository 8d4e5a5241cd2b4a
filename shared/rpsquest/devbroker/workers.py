"""A bounded pool of daemon threads: at most `size` calls run at once, the rest wait their turn
in the order they came.

Not concurrent.futures.ThreadPoolExecutor: the interpreter joins its threads at exit, after they
have drained the queue, so a stopped broker would first finish every queued delivery, backoffs
and a train that answers in minutes included. Daemon workers end with the process, and what they
were delivering is dropped, as when the Knative dispatcher's pod goes away.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Workers:
    """Runs submitted calls on at most `size` threads, started as calls need them; a thread
    left with nothing to do for `idle` seconds ends, so an idle broker holds none."""

    def __init__(self, size: int, name: str = "worker", idle: float = 30.0) -> None:
        if size < 1:
            raise ValueError("A pool needs at least one worker.")
        self.size = size
        self._name = name
        self._idle_seconds = idle
        self._calls: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._pending = 0  # queued or running
        self._threads = 0
        self._started = 0  # for thread names only

    def submit(self, call: Callable[[], object]) -> None:
        """Run `call` on a free worker now, else once the calls submitted before it have begun."""
        with self._lock:
            self._pending += 1
            if self._threads < min(self.size, self._pending):  # else a worker is or will be free
                self._threads += 1
                self._started += 1
                name = f"{self._name}-{self._started}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
            self._calls.put(call)

    def _work(self) -> None:
        while True:
            try:
                call = self._calls.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:  # submit puts under this lock, so nothing slips in meanwhile
                    if self._calls.empty():
                        self._threads -= 1
                        return
                continue
            try:
                call()
            except Exception:
                log.exception("%s: a queued call failed", threading.current_thread().name)
            finally:
                with self._lock:
                    self._pending -= 1
                    if not self._pending:
                        self._drained.notify_all()

    def pending(self) -> int:
        """Calls submitted and not yet finished, running or queued."""
        with self._lock:
            return self._pending

    def threads(self) -> int:
        """Worker threads alive or starting; never more than `size`."""
        with self._lock:
            return self._threads

    def wait_idle(self, timeout: float) -> bool:
        """Block until every submitted call has finished, including those submitted meanwhile;
        False on timeout."""
        with self._drained:
            return self._drained.wait_for(lambda: not self._pending, timeout)
