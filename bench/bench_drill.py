#!/usr/bin/env python3
"""Failover with fencing on the lab: `halab drill` on examples/web-ap-nodrbd.yml (2 fenced
containers, priority race, corosync token 3000 ms), REPEAT times each for --mode cut and
crash, and once crash with the active node's BMC unplugged (level 2 fences it).

Run as root from the repository: python bench/bench_drill.py [REPEAT]   (default 3)
Reports, per mode, the outage a client sees (first failed to first good HTTP request) and
when Pacemaker confirmed the fence (stonith_admin --history), both in seconds after the
fault, as each drill's JSON report (`--report`) has them. Uses its own state dir; removes its lab at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
SERVICE = "web-server via web-vip"


def halab(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "halab", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"halab {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def drill(mode: str, reports: Path) -> tuple[float, float]:
    """One drill; its outage and fence time from the drill's own JSON report."""
    halab("drill", str(EXAMPLE), "--mode", mode, "--timeout", "300", "--report", str(reports))
    run = json.loads((reports / f"drill-{mode}.json").read_text())["runs"][0]
    time.sleep(5)  # failback settles
    return run["services"][SERVICE]["outage_s"], run["fenced_s"]


def line(label: str, runs: list[tuple[float, float]]) -> str:
    outages, fences = [r[0] for r in runs], [r[1] for r in runs]
    return (f"{label:<28} outage {', '.join(f'{o:.1f}' for o in outages)} s (median {statistics.median(outages):.1f}); "
            f"fence confirmed {', '.join(f'{f:.0f}' for f in fences)} s")  # fmt: skip


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="halab-bench-") as tmp:
        os.environ["HALAB_STATE_DIR"] = str(Path(tmp) / "state")
        os.environ.setdefault("HALAB_LAB_BMC_PASSWORD", "lab-bmc-bench")
        try:
            halab("lab", "up", str(EXAMPLE))
            halab("deploy", str(EXAMPLE))
            reports = Path(tmp) / "reports"
            results = {mode: [drill(mode, reports) for _ in range(repeat)] for mode in ("cut", "crash")}
            halab("lab", "unplug", "web1")
            results["crash, BMC unplugged"] = [drill("crash", reports)]
            halab("lab", "plug", "web1")
        finally:
            subprocess.run([sys.executable, "-m", "halab", "lab", "down", "webnd"], check=False)
    for label, runs in results.items():
        print(line(label, runs))


if __name__ == "__main__":
    main()
