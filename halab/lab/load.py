"""Full CPU load on this machine, for the timing tests and benchmarks: every lab node
shares these cores, so busy loops here starve the nodes as a busy host would."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def full_cpu_load(seconds: float) -> None:
    """Two busy loops per core for `seconds`, each ended by its PID (even on Ctrl-C)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        time.sleep(seconds)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
