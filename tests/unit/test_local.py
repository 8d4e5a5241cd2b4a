"""Local-mode processes: stopping a server leaves none of its children behind."""

from __future__ import annotations

import os
import sys

from rpsquest.local import spawn
from tests.helpers import wait_for

# A parent that ignores SIGINT (like a gunicorn master waiting on a stuck worker) and a child.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(child.pid, flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"  # a zombie waits for its (gone) parent's reaper


def test_stop_kills_the_whole_process_group(tmp_path):
    log = tmp_path / "stubborn.log"
    server = spawn(
        "stubborn", "http://127.0.0.1:1/", [sys.executable, "-c", STUBBORN], tmp_path, {}, log
    )
    child = int(wait_for(lambda: log.read_text().strip(), 10, "the child to start", every=0.05))

    server.stop(grace=0.2)

    assert server.process.returncode is not None
    wait_for(lambda: not alive(child), 5, "the child to go with its server", every=0.05)
