"""Faults to inject into a running platform: a PostgreSQL server of its own to stop and start,
and the gunicorn workers of a function to kill."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from rpsquest.processes import free_port

StopMode = Literal["smart", "fast", "immediate"]
_OWNER = "postgres"  # PostgreSQL refuses to run as root, and tests run as root


def _bindir() -> Path:
    """Where Debian's PostgreSQL keeps initdb and pg_ctl (not on PATH)."""
    return Path(
        subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )


class ThrowawayPostgres:
    """A private PostgreSQL server on a free loopback port, trust auth, which a test may stop
    and start at will; never the machine's own server on 5432."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._bin = _bindir()
        # Outside pytest's tmp_path: the postgres user must reach it, and /root is closed to it.
        self._root = Path(tempfile.mkdtemp(prefix="rps-postgres-"))
        self.data_dir = self._root / "data"
        self.socket_dir = self._root / "sockets"
        self.log = self._root / "server.log"
        self._running = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = ["runuser", "-u", _OWNER, "--", str(self._bin / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr}{log}")

    def _initdb(self) -> None:
        """A fresh cluster owned by the postgres user."""
        self.socket_dir.mkdir()
        shutil.chown(self._root, _OWNER, _OWNER)
        shutil.chown(self.socket_dir, _OWNER, _OWNER)
        self._run("initdb", "--auth=trust", "-U", _OWNER, "-D", str(self.data_dir), "--no-sync")

    def start(self) -> None:
        """Start the server and return once it accepts connections (pg_ctl -w)."""
        # fsync only matters when the machine itself crashes; a stopped or killed server finds
        # its WAL in the page cache and replays it on start, which is the fault modelled here.
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "start", "-w", "-D", str(self.data_dir), "-l", str(self.log), "-o", options
        )
        self._running = True

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: `fast` rolls back open transactions and closes every session,
        `immediate` kills the server processes outright, as a crash would."""
        self._run("pg_ctl", "stop", "-w", "-D", str(self.data_dir), "-m", mode)
        self._running = False

    def __enter__(self) -> Self:
        try:
            self._initdb()
            self.start()
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._discard()

    def _discard(self) -> None:
        """Stop the server if it runs (immediately: nothing in it is worth keeping), then
        delete its files."""
        try:
            if self._running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn master's children, its workers (read from /proc, no psutil needed)."""
    children: list[int] = []
    for task in Path(f"/proc/{master_pid}/task").iterdir():
        children += [int(pid) for pid in (task / "children").read_text().split()]
    return children
