"""Which process did something: pid, host and start time, so a reused pid or another host's process is never taken
for it (a pid alone names a different process once the first one has ended)."""
from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from typing import Any

import psutil


@dataclass(frozen=True)
class ProcessId:
    """A process as records name it; ``started`` is its start time in centiseconds since the epoch."""

    pid: int
    host: str
    started: int

    @classmethod
    def current(cls) -> "ProcessId":
        """This process."""
        return cls(os.getpid(), socket.gethostname(), start_time(os.getpid()))

    @property
    def local(self) -> bool:
        """Whether it ran on this host (only then can :meth:`alive` tell)."""
        return self.host == socket.gethostname()

    def alive(self) -> bool | None:
        """Whether this very process still runs; ``None`` for a process of another host (it cannot be checked)."""
        if not self.local:
            return None
        try:
            process = psutil.Process(self.pid)
            return start_time(self.pid) == self.started and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:  # it exists; when in doubt it counts as running
            return True


def start_time(pid: int) -> int:
    """When process ``pid`` started, in centiseconds since the epoch (the kernel's own resolution)."""
    return int(round(psutil.Process(pid).create_time() * 100))


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit``, so that cleanup (``finally``, ``except BaseException``) runs before the
    process ends: a cancelled job removes its unfinished store entry.  Call it from a program's entry point."""

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
