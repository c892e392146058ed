"""Processes the lab started, identified by PID *and* start time so a recycled PID is never hit."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


def start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> Proc | None:
        start = start_time(pid)
        return None if start is None else cls(pid, start)

    def alive(self) -> bool:
        if start_time(self.pid) != self.start:
            return False
        try:  # a zombie still has /proc/PID/stat: treat it as gone
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def to_json(self) -> list[int]:
        return [self.pid, self.start]

    @classmethod
    def from_json(cls, data: list[int] | None) -> Proc | None:
        return None if data is None else cls(data[0], data[1])


def wait_gone(procs: list[Proc], timeout: float) -> bool:
    """Wait until none of `procs` is alive; reap them if they are our children."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
        if not any(p.alive() for p in procs):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
